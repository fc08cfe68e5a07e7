# Sim-to-real experiment (issue: real-world accuracy): the shipped default fine-tuned for 2 epochs, vans as Car, on
# the simulator's 600 training worlds rendered twice: as shipped (data/sim_train) and with see-through van glass
# (`omnifuse sim --glass see-through`, data/sim_train_vw). Trained from scratch on the glass rendering alone the model
# passed the loose real bar but lost 13 Car 3D AP on the shipped simulator; seeing both renderings, from the shipped
# weights, is meant to keep the one and the other.
#   omnifuse train configs/logonet/fast_lidar-cam_1xb2-2e_sim-mixglass-ft.py \
#       --load-from omnifuse/checkpoints/fast_lidar-cam_sim.pth --work-dir work_dirs/det_fast_lidar-cam_mixglass-ft
_base_ = ['./fast_lidar-cam_1xb2-8e_sim-vans.py']
_one = _base_.train_dataloader.dataset
train_dataloader = dict(dataset=dict(_delete_=True, type='ConcatDataset', datasets=[
    dict(_one, data_root='data/sim_train', image_set='trainval'),
    dict(_one, data_root='data/sim_train_vw', image_set='trainval')]))
val_dataloader = dict(dataset=dict(data_root='data/sim_val', image_set='trainval'))
test_dataloader = val_dataloader
max_epochs = 2
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, by_epoch=True, begin=0, end=max_epochs),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
