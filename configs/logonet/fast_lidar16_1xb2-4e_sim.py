# The LiDAR-only baseline on the 16-beam LiDAR (see fast_lidar16-cam_1xb2-4e_sim.py): no image encoders
# (GoF and LoF switch off), FDA kept. Same data, schedule and seed, so the three 16-beam variants compare.
_base_ = ['./fast_lidar16-cam_1xb2-4e_sim.py']
model = dict(image_encoder=None, roi_head=dict(use_gof=False, use_lof=False, gof_levels=[]))
train_dataloader = dict(dataset=dict(use_camera=False, use_thermal=False))
val_dataloader = dict(dataset=dict(use_camera=False, use_thermal=False))
test_dataloader = val_dataloader
