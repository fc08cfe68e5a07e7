"""Near-field BEV occupancy scores: occupied/free IoU and per-class IoU within a range.

Grids are (H, W) uint8 label images on the same `BEVGrid`. Each label id maps to a group index
(e.g. free, vehicle, pedestrian, cyclist, static) through `group_of_id`, a (256,) int array where -1
means "ignore this cell" (unknown). Group 0 must be the free group.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypedDict

import numpy as np

from omnifuse.errors import ShapeError
from omnifuse.structures.bev_grid import BEVGrid

__all__ = ['OccupancyScores', 'occupancy_confusion', 'scores_from_confusion', 'range_mask']


def range_mask(grid: BEVGrid, max_range: float | None) -> np.ndarray:
    """(H, W) bool: cells whose centre lies within `max_range` metres of the LiDAR origin (all if None)."""
    if max_range is None:
        return np.ones(grid.shape, dtype=bool)
    centres = grid.cell_centers()
    return np.hypot(centres[..., 0], centres[..., 1]) <= max_range


def occupancy_confusion(gt: np.ndarray, pred: np.ndarray, group_of_id: np.ndarray, num_groups: int,
                        mask: np.ndarray | None = None) -> np.ndarray:
    """(G, G) confusion counts (rows: truth, cols: prediction) of one grid pair.

    Args:
        gt: (H, W) integer label grid, the truth.
        pred: (H, W) integer label grid, the prediction.
        group_of_id: (256,) group index per label id, -1 to ignore.
        num_groups: G.
        mask: (H, W) bool, cells to score.
    """
    if gt.shape != pred.shape:
        raise ShapeError(f'occupancy grids differ in shape: truth {gt.shape}, prediction {pred.shape}')
    g = group_of_id[gt.astype(np.int64)]
    p = group_of_id[pred.astype(np.int64)]
    keep = (g >= 0) & (p >= 0)
    if mask is not None:
        keep &= mask
    return np.bincount(g[keep] * num_groups + p[keep], minlength=num_groups * num_groups).reshape(num_groups,
                                                                                                   num_groups)


class OccupancyResult(TypedDict):
    """What `scores_from_confusion` returns."""

    occupied_iou: float
    miou: float
    per_class_iou: dict[str, float]


def scores_from_confusion(conf: np.ndarray, group_names: Sequence[str]) -> OccupancyResult:
    """`occupied_iou` (any occupied group vs free), `per_class_iou` and their mean `miou`, all in [0, 1].

    A group that appears neither in the truth nor in the prediction has no IoU (left out of the mean).
    """
    conf = np.asarray(conf, dtype=np.float64)
    tp = np.diag(conf)
    union = conf.sum(0) + conf.sum(1) - tp
    per_class = {name: float(tp[i] / union[i]) for i, name in enumerate(group_names) if union[i] > 0}
    occ_tp = conf[1:, 1:].sum()
    occ_union = conf[1:, :].sum() + conf[:, 1:].sum() - occ_tp
    return {
        'occupied_iou': float(occ_tp / occ_union) if occ_union > 0 else float('nan'),
        'miou': float(np.mean(list(per_class.values()))) if per_class else float('nan'),
        'per_class_iou': per_class,
    }


class OccupancyScores:
    """Accumulates confusion over many grids, then scores them."""

    def __init__(self, group_of_id: np.ndarray, group_names: Sequence[str], grid: BEVGrid,
                 max_range: float | None = None) -> None:
        self.group_of_id = np.asarray(group_of_id, dtype=np.int64)
        if self.group_of_id.shape != (256,):
            raise ShapeError(f'group_of_id must have 256 entries, got {self.group_of_id.shape}')
        self.group_names = tuple(group_names)
        self.mask = range_mask(grid, max_range)
        self.confusion = np.zeros((len(self.group_names),) * 2, dtype=np.int64)

    def add(self, gt: np.ndarray, pred: np.ndarray) -> None:
        """Add one grid pair."""
        if gt.shape != self.mask.shape:
            raise ShapeError(f'occupancy grid has shape {gt.shape}, expected {self.mask.shape}')
        self.confusion += occupancy_confusion(gt, pred, self.group_of_id, len(self.group_names), self.mask)

    def add_all(self, pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> None:
        """Add many grid pairs."""
        for gt, pred in pairs:
            self.add(gt, pred)

    def result(self) -> OccupancyResult:
        """The scores (see scores_from_confusion)."""
        return scores_from_confusion(self.confusion, self.group_names)
