# fast_lidar16-cam-sem_1xb2-4e_sim.py on the 3x longer CPU schedule (12 epochs; chunk it across sessions
# with `omnifuse train ... --resume`): on 16 beams the 4-epoch runs of one config differ by up to 14 AP
# points from seed to seed.
_base_ = ['./fast_lidar16-cam-sem_1xb2-4e_sim.py']
max_epochs = 12
param_scheduler = [_base_.param_scheduler[0], dict(_base_.param_scheduler[1], T_max=max_epochs, end=max_epochs)]
train_cfg = dict(max_epochs=max_epochs, val_interval=4)
