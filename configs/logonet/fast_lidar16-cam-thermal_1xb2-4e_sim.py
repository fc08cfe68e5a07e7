# The camera + thermal model on the 16-beam LiDAR (see fast_lidar16-cam_1xb2-4e_sim.py): a second
# (1-channel) image encoder; GoF and LoF sample both. Same data, schedule and seed.
_base_ = ['./fast_lidar16-cam_1xb2-4e_sim.py']
model = dict(thermal_encoder={{_base_.thermal_encoder_cfg}})
train_dataloader = dict(dataset=dict(use_thermal=True))
val_dataloader = dict(dataset=dict(use_thermal=True))
test_dataloader = val_dataloader
