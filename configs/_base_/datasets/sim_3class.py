# The omnifuse simulator's KITTI-layout output (LiDAR, camera, thermal; day / night / fog), 3 classes.
# Make it with `omnifuse sim --out data/sim ...`; point elsewhere with --cfg-options data_root=DIR.
_base_ = ['./kitti_3class.py']
data_root = 'data/sim'
use_thermal = True
train_dataloader = dict(dataset=dict(data_root=data_root, use_thermal=use_thermal))
val_dataloader = dict(dataset=dict(data_root=data_root, use_thermal=use_thermal))
test_dataloader = val_dataloader
