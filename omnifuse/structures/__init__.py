"""Sensor data model and geometry: pure numpy/torch, imports nothing else of omnifuse but errors."""

from omnifuse.structures.boxes3d import Boxes3D, kitti_camera_to_lidar, lidar_to_kitti_camera
from omnifuse.structures.calibration import Calibration, CameraModel, UltrasonicSensor
from omnifuse.structures.det_sample import DetPredictions, DetSample, SampleCamera
from omnifuse.structures.frame import ObjectLabels, SensorFrame
from omnifuse.structures.kitti_labels import KittiLabels
from omnifuse.structures.seg_sample import (
    OccupancyPredictions,
    OccupancySample,
    PointSegPredictions,
    PointSegSample,
    SegPredictions,
    SegSample,
)

__all__ = ['Boxes3D', 'Calibration', 'SampleCamera', 'CameraModel', 'DetPredictions', 'DetSample', 'KittiLabels',
           'ObjectLabels', 'OccupancyPredictions', 'OccupancySample', 'PointSegPredictions', 'PointSegSample',
           'SegPredictions', 'SegSample', 'SensorFrame',
           'UltrasonicSensor', 'kitti_camera_to_lidar', 'lidar_to_kitti_camera']
