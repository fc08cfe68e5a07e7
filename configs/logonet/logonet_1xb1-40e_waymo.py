# LoGoNet (coarse grid) on mmdet3d's KITTI-format Waymo layout: six-float points (x y z intensity used),
# five cameras. Root: --cfg-options data_root=/path/to/waymo/kitti_format (or --data-root DIR).
# Evaluate with `omnifuse detect --waymo-root DIR --config THIS --out preds.jsonl` + `omnifuse eval waymo`.
_base_ = ['../_base_/models/logonet_coarse.py', '../_base_/datasets/waymo_3class.py',
          '../_base_/schedules/adamw_40e.py', '../_base_/default_runtime.py']
model = dict(lidar_encoder=dict(point_range={{_base_.point_range}}, voxel_size=[0.2, 0.2, 0.3]))
train_dataloader = dict(batch_size=1)
train_cfg = dict(val_interval=1000000)
val_cfg = None
test_cfg = None
