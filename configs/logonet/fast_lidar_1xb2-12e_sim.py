# The LiDAR-only baseline on the 12-epoch schedule (as fast_lidar_1xb2-4e_sim.py removes the images).
_base_ = ['./fast_lidar-cam_1xb2-12e_sim.py']
model = dict(image_encoder=None, roi_head=dict(use_gof=False, use_lof=False, gof_levels=[]))
train_dataloader = dict(dataset=dict(use_camera=False, use_thermal=False))
val_dataloader = dict(dataset=dict(use_camera=False, use_thermal=False))
test_dataloader = val_dataloader
