"""Inference APIs: a SensorFrame in, a model's output out, with the shipped checkpoints by default.

This layer sits on top (like commands/ and ros_nodes/): it joins the readers' preprocessing and the
models. `omnifuse.ros_nodes.core` builds its learned models from here.
"""

import importlib
from typing import Any

__all__ = ['FrameDetector', 'FrameSegmenter', 'NearFieldOccupancyPredictor']

# Imported on first use: the segmentation and occupancy APIs also run exported models without torch
# (omnifuse.deploy), which an eager import of the detector API would pull in.
_MODULES = {'FrameDetector': 'omnifuse.apis.detection', 'FrameSegmenter': 'omnifuse.apis.segmentation',
            'NearFieldOccupancyPredictor': 'omnifuse.apis.occupancy'}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(_MODULES[name]), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
