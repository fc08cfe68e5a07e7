# fast_lidar16-cam-thermal_1xb2-4e_sim.py plus the auxiliary image-semantics loss on both image encoders
# (camera: semantic_2/, thermal: semantic_thermal/). Training only: inference is unchanged.
_base_ = ['./fast_lidar16-cam-thermal_1xb2-4e_sim.py']
# 13 = len(omnifuse.datasets.sim.classes.SEMANTIC_CLASSES); labels of 255 are ignored.
model = dict(image_aux=dict(num_classes=13, loss_weight=0.5))
train_dataloader = dict(dataset=dict(load_semantics=True))
