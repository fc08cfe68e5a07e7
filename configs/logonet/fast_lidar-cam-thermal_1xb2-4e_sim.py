# The fast model with camera and thermal: a second (1-channel) image encoder; GoF and LoF sample both.
# Same data, schedule and seed as fast_lidar-cam_1xb2-4e_sim.py, so the two compare directly.
_base_ = ['./fast_lidar-cam_1xb2-4e_sim.py']
model = dict(thermal_encoder=dict(type='ImageEncoder', in_channels=1, stem_channels=16, channels=[16, 32, 64],
                                  blocks=[1, 1, 1], out_channels=32, out_stride=4))
train_dataloader = dict(dataset=dict(use_thermal=True))
val_dataloader = dict(dataset=dict(use_thermal=True))
test_dataloader = val_dataloader
