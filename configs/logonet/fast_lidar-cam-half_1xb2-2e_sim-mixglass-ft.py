# The half-width default, second step of the default's recipe: 2 epochs on both renderings of the training worlds.
_base_ = ['./fast_lidar-cam_1xb2-2e_sim-mixglass-ft.py', '../_base_/models/logonet_half_width.py']
model = _base_.half_width
