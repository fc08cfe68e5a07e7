# LoGoNet with camera and thermal: a second (1-channel) image encoder; GoF and LoF sample both.
_base_ = ['./logonet_1xb2-40e_sim.py']
model = dict(thermal_encoder=dict(type='ImageEncoder', in_channels=1, stem_channels=16, channels=[16, 32, 64],
                                  blocks=[1, 1, 1], out_channels=32, out_stride=4))
train_dataloader = dict(dataset=dict(use_thermal=True))
val_dataloader = dict(dataset=dict(use_thermal=True))
test_dataloader = val_dataloader
