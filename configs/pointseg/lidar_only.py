# LiDAR-only baseline: the same sparse U-Net and 3D head, no image is read.
_base_ = ['./_base_pointseg_sim.py']
model = dict(fusion='none')
train_dataloader = dict(dataset=dict(load_image=False))
val_dataloader = dict(dataset=dict(load_image=False))
test_dataloader = val_dataloader
