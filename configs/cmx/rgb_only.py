# RGB-only baseline: the same encoder and decoder, one stream, no X (no CM-FRM / FFM).
_base_ = ['./_base_/cmx_small.py', './_base_/sim_seg.py', './_base_/schedule_sim.py']
model = dict(modality='rgb', x_drop_prob=0.0)
train_dataloader = dict(dataset=dict(modality='rgb'))
val_dataloader = dict(dataset=dict(modality='rgb'))
test_dataloader = val_dataloader
