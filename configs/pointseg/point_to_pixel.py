# Point-to-pixel fusion baseline: each point's own bilinear image feature concatenated to its 3D feature.
_base_ = ['./_base_pointseg_sim.py']
model = dict(fusion='point')
