# LoGoNet on a coarse voxel grid (0.1 x 0.1 x 0.2 m): SECOND-style spconv backbone (strides 1/2/4/8),
# BEV neck, centre-heatmap proposals, RoI-grid 6^3 second stage with GoF (stride-4 voxels), LoF and FDA.
# Coarse enough to train on a CPU; the KITTI-resolution grid is set in the kitti variants.

model = dict(
    type='LoGoNetDetector',
    class_names=['Car', 'Pedestrian', 'Cyclist'],
    data_preprocessor=dict(type='DetDataPreprocessor'),
    lidar_encoder=dict(type='SecondLidarEncoder', voxel_size=[0.1, 0.1, 0.2], point_range=[0, -40, -3, 70.4, 40, 1], in_channels=4,
                       channels=[16, 32, 64, 64], out_channels=128, mode='hard', max_points=5,
                       max_voxels=[40000, 60000]),
    bev_neck=dict(type='BevNeck', layer_nums=[2, 2], layer_strides=[1, 2], num_filters=[64, 128],
                  upsample_strides=[1, 2], out_channels=[64, 64]),
    dense_head=dict(type='CentreHead', head_channels=64, min_radius=2, pre_max=500, score_thr=0.05, nms_iou=0.1,
                    post_max=[128, 100]),
    image_encoder=dict(type='ImageEncoder', in_channels=3, stem_channels=24, channels=[32, 64, 128],
                       blocks=[1, 1, 1], out_channels=64, out_stride=4),
    roi_head=dict(type='LoGoRoIHead', level_channels={'x_conv3': 64, 'x_conv4': 64}, bev_channels=128, grid_size=6,
                  grid_channels=32, use_gof=True, use_lof=True, use_fda=True, gof_levels=['x_conv3'],
                  fc_channels=[256, 256], dropout=0.3, num_rois=64, fg_ratio=0.5, fg_iou=0.55,
                  score_iou=[0.25, 0.75], gt_jitter=True, score_mode='sqrt', nms_iou=0.1, score_thr=0.05),
)
# The thermal branch of the logonet_thermal variants (set as model.thermal_encoder there): a second,
# 1-channel image encoder whose features GoF and LoF sample beside the camera's.
thermal_encoder_cfg = dict(type='ImageEncoder', in_channels=1, stem_channels=16, channels=[16, 32, 64],
                           blocks=[1, 1, 1], out_channels=32, out_stride=4)
