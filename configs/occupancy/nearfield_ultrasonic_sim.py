# Ultrasonic only, for comparison.
_base_ = ['./nearfield_base_sim.py']
model = dict(use_camera=False, use_ultrasonic=True)
