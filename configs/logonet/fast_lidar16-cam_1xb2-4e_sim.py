# The fast LiDAR + camera model on a 16-beam LiDAR: the simulator's HDL-64E scan thinned to every 4th beam
# (BeamSubsample, in training and at test), the density of the 16-beam sensors robots carry. Pedestrians at
# 30-50 m keep ~3 points instead of ~12, so the images have something to add. Same schedule and seed as
# fast_lidar-cam_1xb2-4e_sim.py.
_base_ = ['./fast_lidar-cam_1xb2-4e_sim.py']
lidar_beams = dict(type='BeamSubsample', keep_every=4)
train_dataloader = dict(dataset=dict(pipeline=[
    lidar_beams,
    dict(type='RandomDropModality', camera_prob=0.1, thermal_prob=0.1),
    dict(type='ImageResize', scale={{_base_.image_scale}}),
    dict(type='GlobalRotScaleFlip', rot_range=[-0.78539816, 0.78539816], scale_range=[0.95, 1.05], flip_prob=0.5),
    dict(type='PointRangeFilter', point_range={{_base_.point_range}}),
    dict(type='ObjectRangeFilter', point_range={{_base_.point_range}}),
    dict(type='ObjectNameFilter', classes={{_base_.class_names}}),
    dict(type='PointShuffle'),
    dict(type='PackDetInputs')]))
val_dataloader = dict(dataset=dict(pipeline=[
    lidar_beams,
    dict(type='ImageResize', scale={{_base_.image_scale}}),
    dict(type='PointRangeFilter', point_range={{_base_.point_range}}),
    dict(type='ObjectNameFilter', classes={{_base_.class_names}}),
    dict(type='PackDetInputs')]))
test_dataloader = val_dataloader
