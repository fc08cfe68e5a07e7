"""Inference APIs: a SensorFrame in, a model's output out, with the shipped checkpoints by default.

This layer sits on top (like commands/ and ros_nodes/): it joins the readers' preprocessing and the
models. `omnifuse.ros_nodes.core` builds its learned models from here.
"""

from omnifuse.apis.detection import FrameDetector
from omnifuse.apis.occupancy import NearFieldOccupancyPredictor
from omnifuse.apis.segmentation import FrameSegmenter

__all__ = ['FrameDetector', 'FrameSegmenter', 'NearFieldOccupancyPredictor']
