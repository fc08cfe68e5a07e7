# KITTI object layout (real KITTI): 3 classes, LiDAR + camera. Point the root with
#   --cfg-options data_root=/path/to/kitti  (the folder holding training/ and ImageSets/)
custom_imports = dict(imports=['omnifuse.datasets.det_dataset', 'omnifuse.datasets.transforms', 'omnifuse.detectors',
                               'omnifuse.evaluation.kitti_metric'], allow_failed_imports=False)
data_root = 'data/kitti'
class_names = ['Car', 'Pedestrian', 'Cyclist']
point_range = [0, -40, -3, 70.4, 40, 1]
use_camera = True
use_thermal = False
image_scale = 1.0

train_pipeline = [
    dict(type='RandomDropModality', camera_prob=0.1, thermal_prob=0.1),
    dict(type='ImageResize', scale=image_scale),
    dict(type='GlobalRotScaleFlip', rot_range=[-0.78539816, 0.78539816], scale_range=[0.95, 1.05], flip_prob=0.5),
    dict(type='PointRangeFilter', point_range=point_range),
    dict(type='ObjectRangeFilter', point_range=point_range),
    dict(type='ObjectNameFilter', classes=class_names),
    dict(type='PointShuffle'),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='ImageResize', scale=image_scale),
    dict(type='PointRangeFilter', point_range=point_range),
    dict(type='ObjectNameFilter', classes=class_names),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(
    batch_size=2, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='KittiDetDataset', data_root=data_root, split='training', image_set='train',
                 class_names=class_names, pipeline=train_pipeline, use_camera=use_camera, use_thermal=use_thermal))
val_dataloader = dict(
    batch_size=1, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='KittiDetDataset', data_root=data_root, split='training', image_set='val',
                 class_names=class_names, pipeline=test_pipeline, use_camera=use_camera, use_thermal=use_thermal,
                 test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='KittiMetric', classes=class_names)
test_evaluator = val_evaluator
