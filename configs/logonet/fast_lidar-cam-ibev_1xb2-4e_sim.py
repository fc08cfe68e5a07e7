# The fast LiDAR + camera model with camera features in the first stage as well: every LiDAR point samples
# the camera's features, which are max-pooled per BEV cell and concatenated to the LiDAR BEV before the
# neck (PointImageBEV), so proposals use the camera too; GoF/LoF/FDA refine them as before.
# Same data, schedule and seed as fast_lidar-cam_1xb2-4e_sim.py.
_base_ = ['./fast_lidar-cam_1xb2-4e_sim.py']
model = dict(image_bev=dict(type='PointImageBEV', out_channels=32))
