# Pillar variant of the fast model: dynamic pillars (0.32 m) instead of the sparse 3D backbone; the second
# stage pools (and GoF-fuses) the non-empty pillars.
_base_ = ['./logonet_1xb2-40e_sim.py']
model = dict(
    lidar_encoder=dict(_delete_=True, type='PillarLidarEncoder', pillar_size=[0.32, 0.32],
                       point_range={{_base_.point_range}}, in_channels=4, feat_channels=64),
    bev_neck=dict(layer_nums=[1, 2], layer_strides=[2, 2], num_filters=[64, 128], upsample_strides=[1, 2],
                  out_channels=[64, 64]),
    roi_head=dict(level_channels={'_delete_': True, 'pillars': 64}, gof_levels=['pillars']))
