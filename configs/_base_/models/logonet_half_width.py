# The fast default model at half its widths (issue: real time on a CPU): sparse levels 16/16/32/32 channels instead
# of 16/32/64/64, BEV neck 32/64 filters and 32+32 outputs instead of 64/128 and 64+64, heads 32 wide; the RoI head's
# inputs follow. Its graphs measured 27 ms shorter in bf16 on KITTI 000000 than the default's, untrained
# (`python bench/bench_slim_variants.py`, docs/deploy.md). A config takes it as `model = _base_.half_width`.
half_width = dict(
    lidar_encoder=dict(channels=[16, 16, 32, 32], out_channels=64),
    bev_neck=dict(num_filters=[32, 64], out_channels=[32, 32]),
    dense_head=dict(head_channels=32),
    roi_head=dict(level_channels={'x_conv3': 32, 'x_conv4': 32}, bev_channels=64),
)
