# fast_lidar16-cam_1xb2-4e_sim.py plus the auxiliary image-semantics loss of fast_lidar-cam-sem_1xb2-4e_sim.py:
# a 1x1 conv head on the camera encoder's map learns the simulator's per-pixel classes (semantic_2/), so the
# camera features carry class meaning within the short schedule. Training only: inference is unchanged.
_base_ = ['./fast_lidar16-cam_1xb2-4e_sim.py']
# 13 = len(omnifuse.datasets.sim.classes.SEMANTIC_CLASSES); labels of 255 are ignored.
model = dict(image_aux=dict(num_classes=13, loss_weight=0.5))
train_dataloader = dict(dataset=dict(load_semantics=True))
