# The 16-beam LiDAR-only baseline on the 12-epoch schedule of fast_lidar16-cam-sem_1xb2-12e_sim.py: no image
# encoders (GoF and LoF switch off), so no auxiliary image loss either.
_base_ = ['./fast_lidar16-cam-sem_1xb2-12e_sim.py']
model = dict(image_encoder=None, image_aux=None, roi_head=dict(use_gof=False, use_lof=False, gof_levels=[]))
train_dataloader = dict(dataset=dict(use_camera=False, use_thermal=False, load_semantics=False))
val_dataloader = dict(dataset=dict(use_camera=False, use_thermal=False))
test_dataloader = val_dataloader
