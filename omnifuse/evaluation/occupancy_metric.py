"""mmengine Metric for near-field occupancy (validation during training)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from omnifuse.evaluation.occupancy_iou import OccupancyScores
from omnifuse.registry import METRICS
from omnifuse.structures.bev_grid import BEVGrid
from omnifuse.structures.seg_sample import OccupancySample

__all__ = ['OccupancyMetric']


def _uint8(grid: object) -> np.ndarray:
    """A (G, G) label tensor (any device) or array as uint8 numpy."""
    value = grid.detach().cpu().numpy() if hasattr(grid, 'detach') else np.asarray(grid)
    return value.astype(np.uint8)


@METRICS.register_module()
class OccupancyMetric(BaseMetric):
    """Occupied IoU, per-group IoU and mIoU within `max_range` of model-label grids.

    Args:
        group_names: names of the model labels (0 = free).
        max_range: score cells within this distance of the LiDAR origin [m]; None scores all.
        ignore_index: label value of cells not to score.
    """

    default_prefix = 'occupancy'

    def __init__(self, *, group_names: Sequence[str], max_range: float | None = 5.0, resolution: float = 0.1,
                 extent: float = 10.0, ignore_index: int = 255, collect_device: str = 'cpu',
                 prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.group_names = tuple(group_names)
        self.max_range = max_range
        self.grid = BEVGrid(resolution, extent)
        self.group_of_id = np.full(256, -1, dtype=np.int64)
        self.group_of_id[:len(self.group_names)] = np.arange(len(self.group_names))
        self.group_of_id[ignore_index] = -1

    def process(self, data_batch: object, data_samples: Sequence[OccupancySample]) -> None:
        """Keep (gt_labels, pred.labels) grids of the model's samples as small uint8 arrays on the CPU."""
        for sample in data_samples:
            if sample.gt_labels is None or sample.pred is None:
                raise ValueError(f'OccupancyMetric: frame {sample.frame_id!r} has no '
                                 f"{'gt_labels' if sample.gt_labels is None else 'pred'}")
            self.results.append((_uint8(sample.gt_labels), _uint8(sample.pred.labels)))

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Flat scores: occupied_iou, miou and iou_<group>."""
        scores = OccupancyScores(self.group_of_id, self.group_names, self.grid, self.max_range)
        scores.add_all(results)
        res = scores.result()
        flat = {'occupied_iou': res['occupied_iou'], 'miou': res['miou']}
        flat.update({f'iou_{k}': v for k, v in res['per_class_iou'].items()})
        return flat
