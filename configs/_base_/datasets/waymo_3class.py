# mmdet3d's KITTI-format Waymo layout (x y z intensity elongation timestamp; five cameras), 3 classes.
# No KITTI metric on Waymo: offline evaluation is `omnifuse detect --waymo-root DIR` + `omnifuse eval waymo`.
_base_ = ['./kitti_3class.py']
data_root = 'data/waymo/kitti_format'
point_range = [-75.2, -75.2, -2, 75.2, 75.2, 4]
train_pipeline = [
    dict(type='RandomDropModality', camera_prob=0.1),
    dict(type='GlobalRotScaleFlip', rot_range=[-0.78539816, 0.78539816], scale_range=[0.95, 1.05], flip_prob=0.5),
    dict(type='PointRangeFilter', point_range=point_range),
    dict(type='ObjectRangeFilter', point_range=point_range),
    dict(type='ObjectNameFilter', classes={{_base_.class_names}}),
    dict(type='PointShuffle'),
    dict(type='PackDetInputs', main_camera='CAM_FRONT'),
]
test_pipeline = [
    dict(type='PointRangeFilter', point_range=point_range),
    dict(type='ObjectNameFilter', classes={{_base_.class_names}}),
    dict(type='PackDetInputs', main_camera='CAM_FRONT'),
]
train_dataloader = dict(dataset=dict(_delete_=True, type='WaymoDetDataset', data_root=data_root,
                                     class_names={{_base_.class_names}}, use_camera=True, use_thermal=False,
                                     main_camera='CAM_FRONT', pipeline=train_pipeline))
val_dataloader = None
test_dataloader = None
val_evaluator = None
test_evaluator = None
