# The half-width default, last step of the default's recipe: 1 epoch on both renderings at half the learning rate.
_base_ = ['./fast_lidar-cam_1xb2-1e_sim-mixglass-ft.py', '../_base_/models/logonet_half_width.py']
model = _base_.half_width
