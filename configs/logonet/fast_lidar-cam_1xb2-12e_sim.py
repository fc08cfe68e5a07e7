# The fast LiDAR + camera model on a 3x longer CPU schedule (12 epochs, ~65 min alone on 2 cores; chunk it
# across sessions with `omnifuse train ... --resume`). Same data and seed as the 4-epoch variants.
_base_ = ['./fast_lidar-cam_1xb2-4e_sim.py']
max_epochs = 12
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=200),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, by_epoch=True, begin=0, end=max_epochs),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=4)
