# LoGoNet with camera and thermal: a second (1-channel) image encoder; GoF and LoF sample both.
_base_ = ['./logonet_1xb2-40e_sim.py']
model = dict(thermal_encoder={{_base_.thermal_encoder_cfg}})
train_dataloader = dict(dataset=dict(use_thermal=True))
val_dataloader = dict(dataset=dict(use_thermal=True))
test_dataloader = val_dataloader
