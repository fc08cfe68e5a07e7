# BEV area-to-area fusion (BEV-DG): per 1 m pillar, the max-pooled 3D and 2D point features are handed back
# to every point of the pillar.
_base_ = ['./_base_pointseg_sim.py']
model = dict(fusion='area')
