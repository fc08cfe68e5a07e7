"""3D detectors: the centre-heatmap first stage, the LoGoNet RoI-grid second stage and the assembled model.

Importing this package registers the model parts (encoders and fusion blocks included) in omnifuse's
MODELS registry.
"""

from omnifuse.detectors.box_coder import decode_residual, encode_residual
from omnifuse.detectors.centre_head import CentreHead, Proposals
from omnifuse.detectors.checkpoint import load_weights, save_weights
from omnifuse.detectors.data_preprocessor import DetDataPreprocessor
from omnifuse.detectors.logonet import LoGoNetDetector
from omnifuse.detectors.roi_head import LoGoRoIHead
from omnifuse.encoders.image import ImageEncoder
from omnifuse.encoders.lidar import BevNeck, SecondLidarEncoder
from omnifuse.encoders.lidar_pillars import PillarLidarEncoder
from omnifuse.fusion.logonet import FeatureDynamicAggregation, GlobalFusion, LocalFusion

__all__ = ['ImageEncoder', 'BevNeck', 'SecondLidarEncoder', 'PillarLidarEncoder', 'FeatureDynamicAggregation',
           'GlobalFusion', 'LocalFusion', 'decode_residual', 'encode_residual', 'CentreHead', 'Proposals',
           'load_weights', 'save_weights', 'DetDataPreprocessor', 'LoGoNetDetector', 'LoGoRoIHead']
