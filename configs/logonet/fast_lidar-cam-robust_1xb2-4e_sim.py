# The fast LiDAR + camera model trained to tolerate a mis-calibrated camera: half the training samples get a
# random camera extrinsic error of up to 1 degree / 0.2 m (ExtrinsicNoise, uniform), besides dropped images.
_base_ = ['./fast_lidar-cam_1xb2-4e_sim.py']
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='ExtrinsicNoise', rot_deg=1.0, trans_m=0.2, prob=0.5, uniform=True, seed=0),
    dict(type='RandomDropModality', camera_prob=0.1, thermal_prob=0.1),
    dict(type='ImageResize', scale={{_base_.image_scale}}),
    dict(type='GlobalRotScaleFlip', rot_range=[-0.78539816, 0.78539816], scale_range=[0.95, 1.05], flip_prob=0.5),
    dict(type='PointRangeFilter', point_range={{_base_.point_range}}),
    dict(type='ObjectRangeFilter', point_range={{_base_.point_range}}),
    dict(type='ObjectNameFilter', classes={{_base_.class_names}}),
    dict(type='PointShuffle'),
    dict(type='PackDetInputs')]))
