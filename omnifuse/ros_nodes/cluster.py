"""`ClusterDetector`: a geometric (non-learned) LiDAR object detector, the ROS-free fallback.

Steps, all vectorised over points:
    1. ground: the lowest z of each `ground_cell` x `ground_cell` column is its ground height;
       points between `ground_margin` and `max_height` above it are obstacle points.
    2. clustering: obstacle points are binned into a BEV grid of `cell` metres; 8-connected
       occupied cells form one object (scipy.ndimage.label).
    3. boxes: per object, the heading is the principal axis of its points' (x, y) covariance; the
       box spans the points along that axis and across it, and from the lowest to the highest z.
    4. classes by size (Car / Pedestrian / Cyclist / Unknown); the score is n / (n + 50) for an
       object of n points: a measure of support, not a calibrated probability.

It is honest inference for tests, demos and robots without a checkpoint; the learned detectors
are far better.
"""

from __future__ import annotations

import numpy as np

from omnifuse.structures import Boxes3D, ObjectLabels, SensorFrame
from omnifuse.structures.geometry import wrap_angle

__all__ = ['ClusterDetector']


class ClusterDetector:
    """Ground removal + BEV grid clustering of LiDAR points into oriented boxes (LiDAR frame).

    Args:
        cell: BEV clustering cell size [m].
        ground_cell: cell size of the ground-height estimate [m].
        ground_margin: minimum height above the local ground of an obstacle point [m].
        max_height: maximum height above the local ground of an obstacle point [m].
        range_m: points farther than this in x or y are ignored [m].
        min_points: clusters with fewer points are dropped.
        max_length: clusters longer than this (walls, hedges) are dropped [m].
        score_threshold: clusters with a lower score are dropped (0 keeps every cluster).
    """

    def __init__(self, *, cell: float = 0.3, ground_cell: float = 2.0, ground_margin: float = 0.25,
                 max_height: float = 3.0, range_m: float = 40.0, min_points: int = 8,
                 max_length: float = 8.0, score_threshold: float = 0.0) -> None:
        self.cell = float(cell)
        self.ground_cell = float(ground_cell)
        self.ground_margin = float(ground_margin)
        self.max_height = float(max_height)
        self.range_m = float(range_m)
        self.min_points = int(min_points)
        self.max_length = float(max_length)
        self.score_threshold = float(score_threshold)

    def __call__(self, frame: SensorFrame) -> ObjectLabels:
        """Detect objects in `frame.points` ((N, >=3), LiDAR frame); empty labels without points."""
        if frame.points is None or len(frame.points) == 0:
            return ObjectLabels.empty()
        return self.detect(np.asarray(frame.points)[:, :3])

    def detect(self, xyz: np.ndarray) -> ObjectLabels:
        """(N, 3) points -> ObjectLabels with scores, boxes (x, y, z, dx, dy, dz, yaw)."""
        from scipy import ndimage

        pts = np.asarray(xyz, dtype=np.float64)
        r = self.range_m
        pts = pts[np.isfinite(pts).all(1) & (np.abs(pts[:, 0]) < r) & (np.abs(pts[:, 1]) < r)]
        if len(pts) == 0:
            return ObjectLabels.empty()
        # 1. ground height per coarse column
        g = np.floor((pts[:, :2] + r) / self.ground_cell).astype(np.int64)
        gw = int(np.ceil(2 * r / self.ground_cell)) + 1
        gidx = g[:, 0] * gw + g[:, 1]
        ground = np.full(gw * gw, np.inf)
        np.minimum.at(ground, gidx, pts[:, 2])
        height = pts[:, 2] - ground[gidx]
        pts = pts[(height > self.ground_margin) & (height < self.max_height)]
        if len(pts) < self.min_points:
            return ObjectLabels.empty()
        # 2. connected occupied cells
        n_cells = int(np.ceil(2 * r / self.cell)) + 1
        c = np.floor((pts[:, :2] + r) / self.cell).astype(np.int64)
        occupied = np.zeros((n_cells, n_cells), dtype=bool)
        occupied[c[:, 0], c[:, 1]] = True
        labels, count = ndimage.label(occupied, structure=np.ones((3, 3), dtype=bool))
        if count == 0:
            return ObjectLabels.empty()
        lab = labels[c[:, 0], c[:, 1]] - 1  # (N,) object of each point
        n = np.bincount(lab, minlength=count).astype(np.float64)
        keep = n >= self.min_points
        # 3. principal axis per object from (x, y) moments
        mx = np.bincount(lab, pts[:, 0], count) / np.maximum(n, 1)
        my = np.bincount(lab, pts[:, 1], count) / np.maximum(n, 1)
        dx, dy = pts[:, 0] - mx[lab], pts[:, 1] - my[lab]
        cxx = np.bincount(lab, dx * dx, count)
        cyy = np.bincount(lab, dy * dy, count)
        cxy = np.bincount(lab, dx * dy, count)
        yaw = 0.5 * np.arctan2(2 * cxy, cxx - cyy)  # (K,)
        cos, sin = np.cos(yaw)[lab], np.sin(yaw)[lab]
        u = dx * cos + dy * sin
        v = -dx * sin + dy * cos
        order = np.argsort(lab, kind='stable')
        starts = np.searchsorted(lab[order], np.arange(count))
        nonempty = n > 0
        starts = starts[nonempty]
        ids = np.nonzero(nonempty)[0]

        def reduce(fn: np.ufunc, values: np.ndarray) -> np.ndarray:
            out = np.zeros(count)
            out[ids] = fn.reduceat(values[order], starts)
            return out

        umin, umax = reduce(np.minimum, u), reduce(np.maximum, u)
        vmin, vmax = reduce(np.minimum, v), reduce(np.maximum, v)
        zmin, zmax = reduce(np.minimum, pts[:, 2]), reduce(np.maximum, pts[:, 2])
        length = np.maximum(umax - umin, self.cell / 2)
        width = np.maximum(vmax - vmin, self.cell / 2)
        uc, vc = (umax + umin) / 2, (vmax + vmin) / 2
        cyaw, syaw = np.cos(yaw), np.sin(yaw)
        cx = mx + uc * cyaw - vc * syaw
        cy = my + uc * syaw + vc * cyaw
        swap = width > length  # dx is the length along the heading
        length, width = np.where(swap, width, length), np.where(swap, length, width)
        yaw = wrap_angle(np.where(swap, yaw + np.pi / 2, yaw))
        h = np.maximum(zmax - zmin, 0.05)
        keep &= length <= self.max_length
        support = n / (n + 50.0)  # the score of each object
        keep &= support >= self.score_threshold
        boxes = np.stack([cx, cy, (zmax + zmin) / 2, length, width, h, yaw], 1)[keep]
        names = [self._classify(*b[3:6]) for b in boxes]
        scores = support[keep]
        order_out = np.lexsort((boxes[:, 1], boxes[:, 0], -scores))  # deterministic order
        boxes, scores = boxes[order_out], scores[order_out]
        names = [names[i] for i in order_out]
        k = len(boxes)
        return ObjectLabels(Boxes3D(boxes, 'lidar'), names, np.zeros(k), np.zeros(k, int), np.zeros(k),
                            np.full((k, 4), np.nan), scores)

    @staticmethod
    def _classify(length: float, width: float, height: float) -> str:
        if 2.5 <= length <= 6.5 and 1.2 <= width <= 2.6 and 0.8 <= height <= 2.6:
            return 'Car'
        if length <= 1.2 and width <= 1.2 and 1.0 <= height <= 2.2:
            return 'Pedestrian'
        if 1.2 < length <= 2.2 and width <= 1.2 and 1.0 <= height <= 2.2:
            return 'Cyclist'
        return 'Unknown'
