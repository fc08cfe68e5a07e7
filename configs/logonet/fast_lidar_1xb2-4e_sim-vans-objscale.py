# Sim-to-real experiment (issue: real-world accuracy): the shipped LiDAR-only model (fast_lidar_1xb2-8e_sim-vans.py)
# fine-tuned 4 more epochs with RandomObjectScale (each object +-15 % in length/width and, independently, in height),
# because it sized the real KITTI vans as cars (1.0 m short, 0.4 m low) while it sized the simulator's vans right.
# Start it from the shipped weights: --load-from work_dirs/det_fast_lidar_sim-vans8/weights.pth
_base_ = ['./fast_lidar_1xb2-4e_sim-vans.py']
_steps = _base_.train_dataloader.dataset.pipeline
train_dataloader = dict(dataset=dict(pipeline=[
    *_steps[:1], dict(type='RandomObjectScale', xy_range=[0.85, 1.15], z_range=[0.85, 1.15]), *_steps[1:]]))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=4, val_interval=4)
optim_wrapper = dict(optimizer=dict(lr=0.001))  # half the from-scratch rate: a fine-tune
