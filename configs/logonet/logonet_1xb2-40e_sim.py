# LoGoNet, LiDAR + camera, on the simulator's data (coarse voxels: trains on a CPU).
_base_ = ['../_base_/models/logonet_coarse.py', '../_base_/datasets/sim_3class.py',
          '../_base_/schedules/adamw_40e.py', '../_base_/default_runtime.py']
train_dataloader = dict(dataset=dict(use_thermal=False))
val_dataloader = dict(dataset=dict(use_thermal=False))
test_dataloader = val_dataloader
