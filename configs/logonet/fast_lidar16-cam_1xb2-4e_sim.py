# The fast LiDAR + camera model on a 16-beam LiDAR: the simulator's HDL-64E scan thinned to every 4th beam
# (BeamSubsample, in training and at test), the density of the 16-beam sensors robots carry. Pedestrians at
# 30-50 m keep ~3 points instead of ~12, so the images have something to add. Same schedule and seed as
# fast_lidar-cam_1xb2-4e_sim.py; the pipelines are the base's with BeamSubsample first.
_base_ = ['./fast_lidar-cam_1xb2-4e_sim.py']
lidar_beams = dict(type='BeamSubsample', keep_every=4)
train_dataloader = dict(dataset=dict(pipeline=[lidar_beams, *_base_.train_dataloader.dataset.pipeline]))
val_dataloader = dict(dataset=dict(pipeline=[lidar_beams, *_base_.val_dataloader.dataset.pipeline]))
test_dataloader = val_dataloader
