# The LiDAR-only baseline: same model without image encoders (GoF and LoF switch off), FDA kept.
_base_ = ['./logonet_1xb2-40e_sim.py']
model = dict(image_encoder=None, roi_head=dict(use_gof=False, use_lof=False, gof_levels=[]))
train_dataloader = dict(dataset=dict(use_camera=False))
val_dataloader = dict(dataset=dict(use_camera=False))
test_dataloader = val_dataloader
