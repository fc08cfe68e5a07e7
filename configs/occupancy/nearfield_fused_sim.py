# Camera + ultrasonic fusion (the shipped near-field model).
_base_ = ['./nearfield_base_sim.py']
model = dict(use_camera=True, use_ultrasonic=True)
