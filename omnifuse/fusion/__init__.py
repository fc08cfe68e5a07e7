"""Cross-modal fusion blocks: LoGoNet (GoF, LoF, FDA), CMX (CM-FRM, FFM), ultrasonic + camera BEV,
image features lifted to the LiDAR BEV (first-stage fusion).
Importing this package registers them in omnifuse's MODELS registry."""

from omnifuse.fusion.bev_area import BEVAreaFusion
from omnifuse.fusion.cmx import CMFRM, FFM, EfficientCrossAttention
from omnifuse.fusion.image_bev import PointImageBEV
from omnifuse.fusion.logonet import FeatureDynamicAggregation, GlobalFusion, LocalFusion
from omnifuse.fusion.ultrasonic_bev import ContentAwareDilatedConv, UltrasonicCameraFusion

__all__ = ['BEVAreaFusion', 'CMFRM', 'FFM', 'ContentAwareDilatedConv', 'EfficientCrossAttention',
           'FeatureDynamicAggregation', 'GlobalFusion', 'LocalFusion', 'PointImageBEV', 'UltrasonicCameraFusion']
