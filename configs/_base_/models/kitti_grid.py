# The reference KITTI grid (voxel 0.05 x 0.05 x 0.1 m over [0, -40, -3, 70.4, 40, 1]) with the wider BEV neck
# it needs: merged into a variant's model by the *_kitti configs (`model = {{_base_.kitti_grid_model}}`).
# GPU-sized: on a CPU a frame takes about a second.
kitti_grid_model = dict(
    lidar_encoder=dict(voxel_size=[0.05, 0.05, 0.1], max_voxels=[16000, 40000]),
    bev_neck=dict(layer_nums=[5, 5], num_filters=[128, 256], out_channels=[128, 128]),
    roi_head=dict(bev_channels=256))
