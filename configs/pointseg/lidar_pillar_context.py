# Ablation: the bev_area model without a camera (no image is read; every 2D feature is zero), so the 3D
# head gets only the 3D half of the pillar vector. It separates the gain of the pillar (BEV) 3D context
# from that of the image.
_base_ = ['./_base_pointseg_sim.py']
model = dict(fusion='area')
train_dataloader = dict(dataset=dict(load_image=False))
val_dataloader = dict(dataset=dict(load_image=False))
test_dataloader = val_dataloader
