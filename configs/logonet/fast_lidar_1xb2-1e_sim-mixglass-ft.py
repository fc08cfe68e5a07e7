# Sim-to-real experiment (issue: real-world accuracy): one more epoch on both renderings, at half the learning rate,
# for the see-through-glass LiDAR-only model after its 2-epoch fine-tune on both (docs/results.md "Both renderings at
# once"); the LiDAR-only twin of configs/logonet/fast_lidar-cam_1xb2-1e_sim-mixglass-ft.py.
#   omnifuse train configs/logonet/fast_lidar_1xb2-1e_sim-mixglass-ft.py \
#       --load-from work_dirs/det_fast_lidar_glass8-mixft/weights.pth --work-dir work_dirs/det_fast_lidar_glass8-mixft3
_base_ = ['./fast_lidar_1xb2-2e_sim-mixglass-ft.py']
max_epochs = 1
optim_wrapper = dict(optimizer=dict(lr=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, by_epoch=True, begin=0, end=max_epochs),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
