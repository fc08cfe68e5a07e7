# Sim-to-real experiment (issue: real-world accuracy): the default LiDAR + camera fast model with the simulator's
# vans trained as Car for 8 epochs, the recipe that gave the shipped LiDAR-only model (fast_lidar_1xb2-8e_sim-vans.py).
_base_ = ['./fast_lidar-cam_1xb2-4e_sim.py']
_steps = _base_.train_dataloader.dataset.pipeline
train_dataloader = dict(dataset=dict(pipeline=[
    dict(step, rename=dict(Van='Car')) if step['type'] == 'ObjectNameFilter' else step for step in _steps]))
max_epochs = 8
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=200),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, by_epoch=True, begin=0, end=max_epochs),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=4)
# Inference levels each scan on its fitted ground plane first (omnifuse.datasets.input_adapt): the simulator's
# ground is level 1.73 m below the LiDAR, a real LiDAR is tilted against its road (docs/results.md "Sim-to-real").
input_adapter = dict(align_ground=True, sensor_height=1.73)
# ... and grows each Car box over the points next to it, a tall one to a van's length (omnifuse.datasets.box_fit):
# real vans read as car-sized boxes by a sim-trained model get their size (docs/results.md "Fitting the boxes ...").
box_fit = dict(classes=['Car'])
# Inference keeps 32 proposals after the first stage's NMS (the base config: 50; training unchanged at 96). Measured
# with the shipped weights (docs/deploy.md "Fewer RoIs"): the frame 17 ms faster on two threads, every AP|R40 cell
# of the simulated test set within 0.66 (moderate cells equal or better), the real scans within 0.5.
model = dict(dense_head=dict(post_max=[96, 32]))
