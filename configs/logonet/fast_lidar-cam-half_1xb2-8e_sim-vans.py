# The default LiDAR + camera model at half width (configs/_base_/models/logonet_half_width.py), first step of the
# default's recipe: 8 epochs, vans as Car, on the see-through-glass rendering (docs/results.md "Both renderings
# at once"; the data roots are set on the command line, docs/deploy.md "A half-width default").
_base_ = ['./fast_lidar-cam_1xb2-8e_sim-vans.py', '../_base_/models/logonet_half_width.py']
model = _base_.half_width
