# AdamW with linear warm-up and cosine decay, by epoch; gradient clipping as in OpenPCDet.
max_epochs = 40
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.01, betas=(0.9, 0.99)),
                     clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=200),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, by_epoch=True, begin=0, end=max_epochs),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=2)
# Under DDP a dropped camera leaves the image encoder without gradient in that step.
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
