# CMX RGB + thermal on the simulator: thermal/ warped into image_2 (LiDAR depth where near, 15 m plane elsewhere).
_base_ = ['./_base_/cmx_small.py', './_base_/sim_seg.py', './_base_/schedule_sim.py']
model = dict(modality='thermal')
train_dataloader = dict(dataset=dict(modality='thermal'))
val_dataloader = dict(dataset=dict(modality='thermal'))
test_dataloader = val_dataloader
