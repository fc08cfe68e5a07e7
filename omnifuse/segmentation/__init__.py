"""Segmentors: CMX RGB-X image segmentation and near-field BEV occupancy.

Importing this package registers them in omnifuse's MODELS registry.
"""

from omnifuse.segmentation.data_preprocessor import RGBXDataPreprocessor
from omnifuse.segmentation.occupancy import NearFieldOccupancyNet
from omnifuse.segmentation.rgbx import CMXSegmentor

__all__ = ['CMXSegmentor', 'NearFieldOccupancyNet', 'RGBXDataPreprocessor']
