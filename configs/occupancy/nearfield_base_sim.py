# Near-field BEV occupancy on simulator data: model, data, schedule. Variants change `model` only.
# Items are {'inputs': {...}, 'data_samples': OccupancySample}: `pseudo_collate` lists them and the model's
# OccupancyDataPreprocessor (its default) stacks the inputs (default_collate cannot batch a dataclass).
_base_ = ['../_base_/default_runtime.py']

data_root = 'data/sim_occupancy'
occupied_groups = ('free', 'vehicle', 'pedestrian', 'cyclist', 'static')
grid = dict(resolution=0.1, extent=10.0)

model = dict(type='NearFieldOccupancyNet', occupied_classes=occupied_groups[1:], use_camera=True,
             use_ultrasonic=True, width=16, class_weights=(1.0, 4.0, 4.0, 2.0), **grid)

train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='NearFieldOccupancyDataset', data_root=data_root, image_set='train', image_scale=0.4, **grid))
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='NearFieldOccupancyDataset', data_root=data_root, image_set='val', image_scale=0.4, **grid))
test_dataloader = val_dataloader
val_evaluator = dict(type='OccupancyMetric', group_names=occupied_groups, max_range=5.0, **grid)
test_evaluator = val_evaluator

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4),
                     clip_grad=dict(max_norm=10.0))
max_epochs = 12
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True, eta_min=1e-5)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=6)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
