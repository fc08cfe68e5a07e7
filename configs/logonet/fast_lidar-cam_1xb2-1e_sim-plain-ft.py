# Sim-to-real experiment (issue: real-world accuracy): the LiDAR + camera twin of fast_lidar_1xb2-1e_sim-plain-ft.py:
# after the default model's 2-epoch fine-tune on both renderings (fast_lidar-cam_1xb2-2e_sim-mixglass-ft.py), one
# epoch on the shipped rendering alone at half the rate (docs/results.md "Both renderings at once").
#   omnifuse train configs/logonet/fast_lidar-cam_1xb2-1e_sim-plain-ft.py \
#       --load-from work_dirs/det_fast_lidar-cam_glass8-mixft/weights.pth \
#       --work-dir work_dirs/det_fast_lidar-cam_glass8-mix2-plain1
_base_ = ['./fast_lidar-cam_1xb2-8e_sim-vans.py']
train_dataloader = dict(dataset=dict(data_root='data/sim_train', image_set='trainval'))
val_dataloader = dict(dataset=dict(data_root='data/sim_val', image_set='trainval'))
test_dataloader = val_dataloader
max_epochs = 1
optim_wrapper = dict(optimizer=dict(lr=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, by_epoch=True, begin=0, end=max_epochs),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
