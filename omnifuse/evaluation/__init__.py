"""Metrics and evaluators: KITTI, Waymo, tracking, occupancy, segmentation.

The names below load on first use (PEP 562), so that the numpy-only parts (e.g. `kitti_convert`, which the
exported detector's `omnifuse detect` writes with) import without mmengine or torch. The mmengine metrics
register themselves when their module loads; `omnifuse.registry.METRICS` lists those modules.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    'WaymoObjects': 'waymo', 'compute_mean_average_precision': 'waymo', 'evaluate_waymo': 'waymo',
    'WaymoMetric': 'waymo_metric',
    'evaluate_kitti': 'kitti', 'get_thresholds': 'kitti', 'lidar_detections_to_kitti': 'kitti_convert',
    'KittiMetric': 'kitti_metric', 'KittiResult': 'kitti_result',
    'OccupancyScores': 'occupancy_iou', 'OccupancyMetric': 'occupancy_metric',
    'SegMetric': 'seg_metric', 'PointSegMetric': 'point_seg_metric',
}
METRIC_MODULES = ('omnifuse.evaluation.kitti_metric', 'omnifuse.evaluation.waymo_metric',
                  'omnifuse.evaluation.occupancy_metric', 'omnifuse.evaluation.seg_metric',
                  'omnifuse.evaluation.point_seg_metric')

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    return getattr(importlib.import_module(f'{__name__}.{_WHERE[name]}'), name)
