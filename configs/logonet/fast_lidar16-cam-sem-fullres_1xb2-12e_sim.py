# fast_lidar16-cam-sem_1xb2-12e_sim.py with the camera at full resolution (the fast configs halve it): on 16
# beams a pedestrian at 40 m is ~11 px wide in the full image, under one cell of the half-resolution feature
# map that GoF and LoF sample, so the camera can only help at range if it keeps its pixels.
_base_ = ['./fast_lidar16-cam-sem_1xb2-12e_sim.py']
train_dataloader = dict(dataset=dict(
    pipeline=[step for step in _base_.train_dataloader.dataset.pipeline if step['type'] != 'ImageResize']))
val_dataloader = dict(dataset=dict(
    pipeline=[step for step in _base_.val_dataloader.dataset.pipeline if step['type'] != 'ImageResize']))
test_dataloader = val_dataloader
