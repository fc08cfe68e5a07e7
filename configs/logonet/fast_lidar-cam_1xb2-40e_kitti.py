# The fast default model on real KITTI (coarse voxels, half-resolution camera).
# Root: --cfg-options data_root=/path/to/kitti (or `omnifuse train CONFIG --data-root DIR`).
_base_ = ['./fast_lidar-cam_1xb2-40e_sim.py']
data_root = 'data/kitti'
train_dataloader = dict(dataset=dict(data_root=data_root, use_thermal=False))
val_dataloader = dict(dataset=dict(data_root=data_root, use_thermal=False))
test_dataloader = val_dataloader
