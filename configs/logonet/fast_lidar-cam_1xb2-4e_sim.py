# The fast default model on a short CPU schedule (4 epochs): what a 2-core machine trains in about an hour.
_base_ = ['./fast_lidar-cam_1xb2-40e_sim.py']
max_epochs = 4
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=200),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, by_epoch=True, begin=0, end=max_epochs),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=2)
