# The LiDAR-only baseline of the fast model: no image encoders (GoF and LoF switch off), FDA kept.
# Same data, schedule and seed as fast_lidar-cam_1xb2-4e_sim.py, so the two compare directly.
_base_ = ['./fast_lidar-cam_1xb2-4e_sim.py']
model = dict(image_encoder=None, roi_head=dict(use_gof=False, use_lof=False, gof_levels=[]))
train_dataloader = dict(dataset=dict(use_camera=False, use_thermal=False))
val_dataloader = dict(dataset=dict(use_camera=False, use_thermal=False))
test_dataloader = val_dataloader
