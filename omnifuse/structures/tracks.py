"""`Tracks`: the tracked objects of one instant, the one shape every tracking stage shares.

A tracker (`omnifuse.tracking`) turns each frame's detections (`ObjectLabels`) into `Tracks`; the KITTI
tracking writer, the ROS node (`/perception/tracks`), replay and the pictures read them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from omnifuse.errors import ShapeError
from omnifuse.structures.boxes3d import Boxes3D

__all__ = ['Tracks']


@dataclass(frozen=True)
class Tracks:
    """The tracks reported for one frame (M tracks, LiDAR frame of that frame).

    Attributes:
        ids: (M,) int64 track ids, unique within one tracker and stable over the frames an object is tracked.
        boxes: (M, 7) boxes, LiDAR frame of this frame (see `Boxes3D`).
        names: M class names ('Car', 'Pedestrian', 'Cyclist', ...).
        scores: (M,) float64 track confidence in the detector's score units (e.g. PointRCNN logits), for ranking:
            the last matched detection's score or the mean of those matched so far, raised with the number of
            matched frames and lowered while tentative or coasting (`omnifuse.tracking.ClassParams`, "Scores");
            it can leave the detector's range, and is not a probability.
        velocities: (M, 3) float64 velocity [m/s] in the LiDAR frame of this frame: over ground when the tracker
            was given the ego motion, relative to the sensor otherwise.
        bbox_2d: (M, 4) float64 image box (x1, y1, x2, y2) [px] in the main camera: the matched detection's box,
            NaN where unknown (no camera box given, or coasting).
        time_since_update: (M,) int64 frames since the track last matched a detection (0: matched in this frame;
            > 0: coasting on its motion model).
        hits: (M,) int64 detections the track has matched so far.
    """

    ids: np.ndarray
    boxes: Boxes3D
    names: list[str]
    scores: np.ndarray
    velocities: np.ndarray
    bbox_2d: np.ndarray
    time_since_update: np.ndarray
    hits: np.ndarray

    def __post_init__(self) -> None:
        m = len(self.boxes)
        shapes = {'ids': ((), np.int64), 'scores': ((), np.float64), 'velocities': ((3,), np.float64),
                  'bbox_2d': ((4,), np.float64), 'time_since_update': ((), np.int64), 'hits': ((), np.int64)}
        for key, (tail, dtype) in shapes.items():
            arr = np.asarray(getattr(self, key), dtype=dtype).reshape((-1,) + tail)
            if len(arr) != m:
                raise ShapeError(f'Tracks.{key}: {len(arr)} rows, but {m} boxes')
            object.__setattr__(self, key, arr)
        names = [str(n) for n in self.names]
        if len(names) != m:
            raise ShapeError(f'Tracks.names: {len(names)} names, but {m} boxes')
        object.__setattr__(self, 'names', names)
        if len(np.unique(self.ids)) != m:
            raise ShapeError(f'Tracks.ids: track ids must be unique in one frame, got {self.ids.tolist()}')

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def empty(cls, frame_id: str = 'lidar') -> Tracks:
        """No tracks."""
        return cls(np.zeros(0, np.int64), Boxes3D(np.zeros((0, 7)), frame_id), [], np.zeros(0), np.zeros((0, 3)),
                   np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0, np.int64))

    def select(self, mask: np.ndarray) -> Tracks:
        """The tracks where `mask` (boolean or index array) selects."""
        idx = np.arange(len(self))[mask]
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values['boxes'] = self.boxes[idx]
        values['names'] = [self.names[i] for i in idx]
        for key in ('ids', 'scores', 'velocities', 'bbox_2d', 'time_since_update', 'hits'):
            values[key] = values[key][idx]
        return Tracks(**values)
