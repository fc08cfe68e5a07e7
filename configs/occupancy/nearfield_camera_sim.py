# Camera only (inverse perspective mapping), for comparison.
_base_ = ['./nearfield_base_sim.py']
model = dict(use_camera=True, use_ultrasonic=False)
