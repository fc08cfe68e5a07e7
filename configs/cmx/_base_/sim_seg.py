# Simulated RGB + thermal + LiDAR street frames in the KITTI layout, with the camera masks in semantic_2/:
#   omnifuse sim --out data/sim_train --frames 600 --seed 20000 --scenario street --condition mixed ...
#   omnifuse sim --out data/sim_val   --frames 160 --seed 500000 --scenario street --condition mixed ...
# Training reads every frame of data/sim_train, validation every frame of data/sim_val (separate worlds).
# Class list = omnifuse/datasets/sim/classes.py SEMANTIC_CLASSES (ids 0..12).
data_root = 'data/sim_train'
val_root = 'data/sim_val'
class_names = ('unlabeled', 'road', 'sidewalk', 'terrain', 'building', 'pole', 'vegetation',
               'car', 'van', 'truck', 'pedestrian', 'cyclist', 'sky')
ignore_index = 255
img_scale = 0.5  # images and labels are halved for training and inference (CPU budget)
crop_size = (188, 320)  # training crops of the halved 188x621 image (full height, about half the width)
max_depth = 80.0  # depth X: metres mapped to 1
plane_depth = 15.0  # thermal registration plane where no LiDAR depth is near [m]

_dataset = dict(type='RGBXSegDataset', data_root=data_root, modality='thermal', class_names=class_names,
                split='training', label_dir='semantic_2', scale=img_scale, max_depth=max_depth,
                plane_depth=plane_depth, thermal_registration='lidar')

train_dataloader = dict(
    batch_size=4, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(_dataset, image_set=None, flip_prob=0.5, crop_size=crop_size))
val_dataloader = dict(
    batch_size=2, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(_dataset, data_root=val_root, image_set=None))
test_dataloader = val_dataloader

# mIoU overall, per class and per condition ('miou_day', 'miou_night') when the frames carry one.
val_evaluator = dict(type='SegMetric', class_names=class_names, ignore_index=ignore_index,
                     condition_key='condition')
test_evaluator = val_evaluator
