# logonet_thermal on real KITTI at the reference grid (configs/_base_/models/kitti_grid.py).
# Root: --cfg-options data_root=/path/to/kitti (or `omnifuse train CONFIG --data-root DIR`).
# KITTI has no thermal camera: the thermal branch then runs without it; a layout with thermal/ uses it.
_base_ = ['./logonet_thermal_1xb2-40e_sim.py', '../_base_/models/kitti_grid.py']
data_root = 'data/kitti'
model = {{_base_.kitti_grid_model}}
train_dataloader = dict(dataset=dict(data_root=data_root, use_thermal=True))
val_dataloader = dict(dataset=dict(data_root=data_root, use_thermal=True))
test_dataloader = val_dataloader
