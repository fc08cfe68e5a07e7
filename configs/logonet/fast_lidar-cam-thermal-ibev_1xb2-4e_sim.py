# fast_lidar-cam-ibev_1xb2-4e_sim.py with the thermal camera too: the first-stage image BEV and the
# second-stage GoF/LoF sample both the colour and the thermal features.
_base_ = ['./fast_lidar-cam-thermal_1xb2-4e_sim.py']
model = dict(image_bev=dict(type='PointImageBEV', out_channels=32))
