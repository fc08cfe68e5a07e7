# CMX RGB + LiDAR depth on the simulator: velodyne/ rendered as a sparse depth image into image_2 (depth / 80 m).
_base_ = ['./_base_/cmx_small.py', './_base_/sim_seg.py', './_base_/schedule_sim.py']
model = dict(modality='depth')
train_dataloader = dict(dataset=dict(modality='depth'))
val_dataloader = dict(dataset=dict(modality='depth'))
test_dataloader = val_dataloader
