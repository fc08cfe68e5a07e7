# Sim-to-real experiment (issue: real-world accuracy): the LiDAR-only fast model with the simulator's vans trained as
# Car (they were background), no other change from fast_lidar_1xb2-4e_sim.py. The ablation of
# fast_lidar_1xb2-4e_sim-tilt.py (vans + RandomTilt), whose tilt cost 13 Car 3D AP on the simulated test set.
_base_ = ['./fast_lidar_1xb2-4e_sim.py']
_steps = _base_.train_dataloader.dataset.pipeline
train_dataloader = dict(dataset=dict(pipeline=[
    dict(step, rename=dict(Van='Car')) if step['type'] == 'ObjectNameFilter' else step for step in _steps]))
