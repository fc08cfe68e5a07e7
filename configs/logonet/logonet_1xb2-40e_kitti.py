# logonet on real KITTI at the reference grid (configs/_base_/models/kitti_grid.py).
# Root: --cfg-options data_root=/path/to/kitti (or `omnifuse train CONFIG --data-root DIR`).
_base_ = ['./logonet_1xb2-40e_sim.py', '../_base_/models/kitti_grid.py']
data_root = 'data/kitti'
model = {{_base_.kitti_grid_model}}
train_dataloader = dict(dataset=dict(data_root=data_root, use_thermal=False))
val_dataloader = dict(dataset=dict(data_root=data_root, use_thermal=False))
test_dataloader = val_dataloader
