"""3D multi-object tracking on any detector's boxes (numpy and scipy only).

    >>> from omnifuse.tracking import MultiObjectTracker, TrackerConfig
    >>> tracker = MultiObjectTracker(TrackerConfig())
    >>> tracks = tracker.update(detections, stamp_ns=stamp, pose=None)   # ObjectLabels -> Tracks
    >>> tracker.reset()

Imports only omnifuse.structures and omnifuse.errors.
"""

from omnifuse.tracking.config import ClassParams, TrackerConfig
from omnifuse.tracking.tracker import MultiObjectTracker

__all__ = ['MultiObjectTracker', 'TrackerConfig', 'ClassParams']
