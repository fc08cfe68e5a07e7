"""Modality encoders: LiDAR (voxels/pillars -> sparse backbone -> BEV), image (camera and thermal),
camera-to-BEV, ultrasonic. Importing this package registers them in omnifuse's MODELS registry."""

from omnifuse.encoders.camera_bev import IPMCameraToBEV
from omnifuse.encoders.image import ImageEncoder
from omnifuse.encoders.lidar import BevNeck, SecondLidarEncoder
from omnifuse.encoders.lidar_pillars import PillarLidarEncoder
from omnifuse.encoders.ultrasonic import UltrasonicEncoder

__all__ = ['BevNeck', 'IPMCameraToBEV', 'ImageEncoder', 'PillarLidarEncoder', 'SecondLidarEncoder',
           'UltrasonicEncoder']
