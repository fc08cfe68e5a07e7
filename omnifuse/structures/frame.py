"""`SensorFrame`: whatever streams exist for one instant, plus optional annotations."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from omnifuse.errors import ShapeError
from omnifuse.structures.boxes3d import Boxes3D
from omnifuse.structures.calibration import Calibration

__all__ = ['ObjectLabels', 'SensorFrame']


@dataclass
class ObjectLabels:
    """Labelled (or predicted) objects of one frame, KITTI fields kept.

    Attributes:
        boxes: (N, 7) boxes, LiDAR frame.
        names: N class names ('Car', 'Pedestrian', ..., 'DontCare').
        truncated: (N,) truncation in [0, 1]; occluded: (N,) int occlusion state 0..3; alpha: (N,) observation
            angle [rad].

    The fields are KITTI's and `KittiLabels`' (omnifuse.structures.kitti_labels) under the same names, except
    that this class holds the boxes as `Boxes3D` in the LiDAR frame where `KittiLabels` holds KITTI's camera-frame
    columns (dimensions, location, rotation_y), and that it names its per-object arrays in the plural as `Tracks`
    and `DetPredictions` do (names, scores; bbox_2d beside the 3D boxes) where `KittiLabels` keeps the keys of
    mmdet3d's KITTI annotation dicts (name, score, bbox) that its `as_dict` hands to the metric.
        bbox_2d: (N, 4) image boxes (x1, y1, x2, y2) [px] in the main camera.
        scores: (N,) detection scores, or None for ground truth.
    """

    boxes: Boxes3D
    names: list[str]
    truncated: np.ndarray
    occluded: np.ndarray
    alpha: np.ndarray
    bbox_2d: np.ndarray
    scores: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.boxes)
        for name in ('truncated', 'occluded', 'alpha'):
            value = np.asarray(getattr(self, name)).reshape(-1)
            if len(value) != n:
                raise ShapeError(f'ObjectLabels.{name}: expected {n} values, got {len(value)}')
            setattr(self, name, value)
        self.bbox_2d = np.asarray(self.bbox_2d, dtype=np.float64).reshape(-1, 4)
        if len(self.bbox_2d) != n or len(self.names) != n:
            raise ShapeError(f'ObjectLabels: {n} boxes but {len(self.names)} names and {len(self.bbox_2d)} 2D boxes')
        if self.scores is not None:
            self.scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
            if len(self.scores) != n:
                raise ShapeError(f'ObjectLabels.scores: expected {n} values, got {len(self.scores)}')

    def __len__(self) -> int:
        return len(self.boxes)

    def select(self, mask: np.ndarray) -> ObjectLabels:
        """The objects where `mask` (bool (N,) or indices) holds."""
        idx = np.arange(len(self))[mask]
        return ObjectLabels(self.boxes[idx], [self.names[i] for i in idx], self.truncated[idx],
                            self.occluded[idx], self.alpha[idx], self.bbox_2d[idx],
                            None if self.scores is None else self.scores[idx])

    def without_dontcare(self) -> ObjectLabels:
        """Every object but the 'DontCare' regions."""
        return self.select(np.array([n != 'DontCare' for n in self.names], dtype=bool))

    @classmethod
    def empty(cls) -> ObjectLabels:
        """No objects."""
        return cls(Boxes3D(np.zeros((0, 7))), [], np.zeros(0), np.zeros(0, int), np.zeros(0), np.zeros((0, 4)))


@dataclass
class SensorFrame:
    """One instant of every sensor that delivered; any stream may be missing.

    Attributes:
        frame_id: the dataset's id of the frame ('000008').
        stamp_ns: time of the LiDAR sweep (or of the frame) [int ns].
        points: (N, C) float32 LiDAR points, LiDAR frame: x y z intensity [+ extra columns].
        images: colour images by camera name, (H, W, 3) uint8 RGB.
        thermal: thermal images by camera name, (H, W) float32 or uint16.
        ultrasonic: range [m] by sensor name, NaN when no echo.
        calib: the calibration of all sensors (None when unknown).
        stamps_ns: stamp of each stream by name ('lidar', camera names, ...).
        labels: ground-truth objects, when known.
        meta: anything else the source provides (paths, condition, ...).
    """

    frame_id: str
    stamp_ns: int = 0
    points: np.ndarray | None = None
    images: dict[str, np.ndarray] = field(default_factory=dict)
    thermal: dict[str, np.ndarray] = field(default_factory=dict)
    ultrasonic: dict[str, float] = field(default_factory=dict)
    calib: Calibration | None = None
    stamps_ns: dict[str, int] = field(default_factory=dict)
    labels: ObjectLabels | None = None
    meta: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.points is not None:
            pts = np.asarray(self.points)
            if pts.ndim != 2 or pts.shape[1] < 3:
                raise ShapeError(f'SensorFrame {self.frame_id}: points must be (N, >=3), got {pts.shape}')
        for name, img in self.images.items():
            if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
                raise ShapeError(f'SensorFrame {self.frame_id}: image {name!r} must be (H, W, 3) uint8 RGB, '
                                 f'got {img.shape} {img.dtype}')
        for name, img in self.thermal.items():
            if img.ndim != 2:
                raise ShapeError(f'SensorFrame {self.frame_id}: thermal {name!r} must be (H, W), got {img.shape}')
