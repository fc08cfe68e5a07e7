# The fast default model (shipped): coarse voxels, LiDAR + camera at half image resolution, fewer RoIs.
_base_ = ['./logonet_1xb2-40e_sim.py']
image_scale = 0.5
model = dict(lidar_encoder=dict(blocks=[0, 1, 1, 1]), dense_head=dict(post_max=[96, 50]), roi_head=dict(num_rois=48))
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='RandomDropModality', camera_prob=0.1, thermal_prob=0.1),
    dict(type='ImageResize', scale=image_scale),
    dict(type='GlobalRotScaleFlip', rot_range=[-0.78539816, 0.78539816], scale_range=[0.95, 1.05], flip_prob=0.5),
    dict(type='PointRangeFilter', point_range={{_base_.point_range}}),
    dict(type='ObjectRangeFilter', point_range={{_base_.point_range}}),
    dict(type='ObjectNameFilter', classes={{_base_.class_names}}),
    dict(type='PointShuffle'),
    dict(type='PackDetInputs')]))
val_dataloader = dict(dataset=dict(pipeline=[
    dict(type='ImageResize', scale=image_scale),
    dict(type='PointRangeFilter', point_range={{_base_.point_range}}),
    dict(type='ObjectNameFilter', classes={{_base_.class_names}}),
    dict(type='PackDetInputs')]))
test_dataloader = val_dataloader
