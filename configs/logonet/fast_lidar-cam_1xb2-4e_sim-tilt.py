# Sim-to-real experiment (issue: real-world accuracy): the default fusion model (LiDAR + camera) with RandomTilt
# in training (pitch and roll within +-2 deg, height +-0.1 m); everything else as fast_lidar-cam_1xb2-4e_sim.py.
_base_ = ['./fast_lidar-cam_1xb2-4e_sim.py']
tilt = dict(type='RandomTilt', max_deg=2.0, z_range=[-0.1, 0.1])
_steps = _base_.train_dataloader.dataset.pipeline
_at = [i for i, step in enumerate(_steps) if step['type'] == 'GlobalRotScaleFlip'][0] + 1
# Vans are trained as Car (the simulator's vans were background): a vehicle detector should find them, and
# KITTI's Car protocol neither rewards nor punishes a Car on a Van.
_steps = [dict(step, rename=dict(Van='Car')) if step['type'] == 'ObjectNameFilter' else step for step in _steps]
train_dataloader = dict(dataset=dict(pipeline=[*_steps[:_at], tilt, *_steps[_at:]]))
