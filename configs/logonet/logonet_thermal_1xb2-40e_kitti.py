# logonet_thermal on real KITTI at the reference grid (voxel 0.05 x 0.05 x 0.1 m, range [0, -40, -3, 70.4, 40, 1]).
# GPU-sized: on a CPU a frame takes about a second. Root: --cfg-options data_root=/path/to/kitti
# (or `omnifuse train CONFIG --data-root DIR`).
# KITTI has no thermal camera: the thermal branch then gets zeros; a layout with thermal/ uses it.
_base_ = ['./logonet_thermal_1xb2-40e_sim.py']
data_root = 'data/kitti'
model = dict(
    lidar_encoder=dict(voxel_size=[0.05, 0.05, 0.1], max_voxels=[16000, 40000]),
    bev_neck=dict(layer_nums=[5, 5], num_filters=[128, 256], out_channels=[128, 128]),
    roi_head=dict(bev_channels=256))
train_dataloader = dict(dataset=dict(data_root=data_root, use_thermal=True))
val_dataloader = dict(dataset=dict(data_root=data_root, use_thermal=True))
test_dataloader = val_dataloader
