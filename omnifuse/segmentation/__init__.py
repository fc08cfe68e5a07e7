"""Segmentors: CMX RGB-X image segmentation, 3D point segmentation (BEV area fusion), near-field BEV occupancy.

Importing this package registers them in omnifuse's MODELS registry.
"""

from omnifuse.segmentation.data_preprocessor import RGBXDataPreprocessor
from omnifuse.segmentation.nearfield_occupancy import NearFieldOccupancyNet
from omnifuse.segmentation.point_seg import PointSegDataPreprocessor, PointSegmentor
from omnifuse.segmentation.rgbx import CMXSegmentor

__all__ = ['CMXSegmentor', 'NearFieldOccupancyNet', 'PointSegDataPreprocessor', 'PointSegmentor',
           'RGBXDataPreprocessor']
