# Sim-to-real experiment (issue: real-world accuracy): the LiDAR + camera twin of fast_lidar_1xb2-1e_sim-plain-ft.py:
# after the default model's 2-epoch fine-tune on both renderings (fast_lidar-cam_1xb2-2e_sim-mixglass-ft.py), one
# epoch on the shipped rendering alone at half the rate (docs/results.md "Both renderings at once").
#   omnifuse train configs/logonet/fast_lidar-cam_1xb2-1e_sim-plain-ft.py \
#       --load-from work_dirs/det_fast_lidar-cam_glass8-mixft/weights.pth \
#       --work-dir work_dirs/det_fast_lidar-cam_glass8-mix2-plain1
_base_ = ['./fast_lidar-cam_1xb2-1e_sim-mixglass-ft.py']  # its schedule: 1 epoch at half the rate
_plain = _base_.train_dataloader.dataset.datasets[0]  # the shipped rendering, data/sim_train
train_dataloader = dict(dataset=dict(_delete_=True, **_plain))
