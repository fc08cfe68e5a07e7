# 3D point segmentation on the simulator (per-point labels in velodyne_labels/), shared by the three variants.
# Data: `omnifuse sim`-style KITTI layout (see docs/results_pointseg.md for the generation command).
# Model: sparse 3D U-Net at 0.2 m voxels + a small image ResNet/FPN (stride 4) on the half-size image;
# `model.fusion` picks 'none' (LiDAR-only), 'point' (point-to-pixel) or 'area' (BEV area-to-area, 1 m
# pillars).
_base_ = ['../_base_/default_runtime.py']
custom_imports = dict(imports=['omnifuse.segmentation.point_seg', 'omnifuse.datasets.point_seg_dataset',
                               'omnifuse.evaluation.point_seg_metric'], allow_failed_imports=False)

data_root = 'data/sim_pointseg'
class_names = ('unlabeled', 'road', 'sidewalk', 'terrain', 'building', 'pole', 'vegetation',
               'car', 'van', 'truck', 'pedestrian', 'cyclist', 'sky')  # omnifuse/datasets/sim/classes.py
ignore_index = 255
point_range = (-20.0, -20.0, -3.0, 40.0, 20.0, 3.0)  # x y z min, x y z max [m], LiDAR frame
voxel_size = (0.2, 0.2, 0.2)
max_points = 20000  # random subset per frame (fixed per frame outside training)
image_scale = 0.5   # 1242 x 375 -> 621 x 188

model = dict(
    type='PointSegmentor',
    num_classes=len(class_names),
    class_names=class_names,
    fusion='area',
    point_range=point_range,
    voxel_size=voxel_size,
    unet_channels=(16, 32, 64),  # strides 1, 2, 4 (0.2 - 0.8 m); a 4th level costs +45 % time per iteration
    point_channels=64,
    image_encoder=dict(type='ImageEncoder', in_channels=3, stem_channels=16, channels=(32, 64, 96),
                       blocks=(1, 1, 1), out_channels=32, out_stride=4),
    pillar_size=(1.0, 1.0),
    area_channels=64,
    head_channels=64,
    loss_2d_weight=1.0,
    predict_head='3d',
    ignore_index=ignore_index,
    data_preprocessor=dict(type='PointSegDataPreprocessor'),
)

_dataset = dict(type='PointSegDataset', data_root=data_root, class_names=class_names, point_range=point_range,
                max_points=max_points, image_scale=image_scale, load_image=True, ignore_labels=(0,),
                ignore_index=ignore_index, calib_error=None)
train_dataloader = dict(
    batch_size=2, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(_dataset, image_set='train', augment=True))
val_dataloader = dict(
    batch_size=2, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(_dataset, image_set='val'))
# Robustness: --cfg-options test_dataloader.dataset.calib_error="[1.0,0.2]" (1 deg / 0.2 m extrinsic error).
test_dataloader = val_dataloader

val_evaluator = dict(type='PointSegMetric', class_names=class_names, ignore_index=ignore_index,
                     condition_key='condition')
test_evaluator = val_evaluator

# Schedule: AdamW, linear warm-up then poly decay; ~20 min per variant on one CPU thread
# (OMP_NUM_THREADS=1, see docs/results_pointseg.md).
max_iters = 1500
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.01),
                     clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', eta_min=1e-5, power=0.9, by_epoch=False, begin=50, end=max_iters),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=200, max_keep_ckpts=2),
)
log_processor = dict(by_epoch=False)
