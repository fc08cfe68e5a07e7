# fast_lidar16-cam-sem_1xb2-12e_sim.py with the thermal camera (as fast_lidar-cam-thermal_1xb2-4e_sim.py adds
# it); the auxiliary semantics loss also trains the thermal encoder (semantic_thermal/).
_base_ = ['./fast_lidar16-cam-sem_1xb2-12e_sim.py']
model = dict(thermal_encoder={{_base_.thermal_encoder_cfg}})
train_dataloader = dict(dataset=dict(use_thermal=True))
val_dataloader = dict(dataset=dict(use_thermal=True))
test_dataloader = val_dataloader
