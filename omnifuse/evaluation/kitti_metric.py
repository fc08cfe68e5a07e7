"""mmengine Metric: the official KITTI 3D detection AP (omnifuse.evaluation.kitti) inside a runner.

Each data sample handed to `process` is one of:

- a `DetSample` (omnifuse.structures.det_sample) after the detector: its `gt_kitti` is the ground truth, its
  `pred` (`DetPredictions`: (N, 7) LiDAR boxes, (N,) scores, (N,) class indices) is converted to KITTI labels
  with its `main_camera` (T_cam_lidar, P, image size) by `lidar_detections_to_kitti` (2D box from the
  projected corners, as mmdet3d does);
- a mapping {'gt_kitti': ..., 'pred_kitti': ...} of detections already in KITTI camera-label form (each a
  `KittiLabels` or a mapping with the fields name, truncated, occluded, alpha, bbox, dimensions (h, w, l),
  location, rotation_y, score).

`process` keeps only small numpy records on the CPU; `compute_metrics` evaluates them all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from omnifuse.errors import FormatError
from omnifuse.evaluation.kitti import CLASS_MIN_OVERLAPS, evaluate_kitti
from omnifuse.evaluation.kitti_convert import DEFAULT_LIDAR_RANGE, lidar_detections_to_kitti
from omnifuse.evaluation.kitti_result import KittiResult
from omnifuse.registry import METRICS
from omnifuse.structures.det_sample import DetSample
from omnifuse.structures.kitti_labels import KittiLabels

__all__ = ['KittiMetric']


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _labels(value: Any, where: str) -> KittiLabels:
    if isinstance(value, KittiLabels):
        return value
    if hasattr(value, 'to_dict'):
        value = value.to_dict()
    if not isinstance(value, Mapping):
        raise FormatError(f'{where}: expected KITTI label fields (a mapping or KittiLabels), '
                          f'got {type(value).__name__}')
    return KittiLabels.from_mapping({k: _numpy(v) for k, v in value.items()}, source=where)


@METRICS.register_module()
class KittiMetric(BaseMetric):  # type: ignore[misc]
    """KITTI AP|R11 / AP|R40 for bbox, bev, 3d and aos, strict and loose overlaps.

    Args:
        classes: classes to score (Car, Pedestrian, Cyclist, Van, Person_sitting). Defaults to
            ('Car', 'Pedestrian', 'Cyclist').
        label_names: names of the predicted class indices (`DetPredictions.labels`); defaults to
            `dataset_meta['classes']` when set, else `classes`.
        lidar_range: (xmin, ymin, zmin, xmax, ymax, zmax) LiDAR range of kept LiDAR-frame detections.
        collect_device: as in mmengine's BaseMetric. Defaults to 'cpu'.
        prefix: key prefix; defaults to 'kitti'.

    `compute_metrics` returns flat keys such as 'Car_3d_moderate_AP40' (strict overlaps),
    'Car_3d_moderate_AP40_loose' and 'Overall_3d_moderate_AP40' (mean over classes, strict), in percent;
    the full result (AP tables and curves) stays in `self.last_result`.
    """

    default_prefix = 'kitti'

    def __init__(self, classes: Sequence[str] = ('Car', 'Pedestrian', 'Cyclist'), *,
                 label_names: Sequence[str] | None = None,
                 lidar_range: Sequence[float] | None = DEFAULT_LIDAR_RANGE,
                 collect_device: str = 'cpu', prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        unknown = [c for c in classes if c not in CLASS_MIN_OVERLAPS]
        if unknown:
            raise FormatError(f'KittiMetric.classes: unknown class(es) {unknown}; '
                              f'choose from {list(CLASS_MIN_OVERLAPS)}')
        self.classes = tuple(classes)
        self.label_names = tuple(label_names) if label_names is not None else None
        self.lidar_range = tuple(lidar_range) if lidar_range is not None else None
        self.last_result: KittiResult | None = None

    def _names(self) -> tuple[str, ...]:
        if self.label_names is not None:
            return self.label_names
        meta = self.dataset_meta or {}
        names = meta.get('classes') or meta.get('CLASSES')
        return tuple(names) if names else self.classes

    def _pred_from_lidar(self, sample: DetSample, where: str) -> KittiLabels:
        if sample.pred is None:
            raise FormatError(f'{where}: no predictions (DetSample.pred is None: the detector has not run)')
        boxes, scores, labels = sample.pred.numpy()
        names = self._names()
        if len(labels) and (labels.min() < 0 or labels.max() >= len(names)):
            raise FormatError(f'{where}.pred.labels: class index {int(labels.max())} outside the {len(names)} '
                              f'label names {list(names)}')
        cam = sample.main_camera
        if cam is None:
            raise FormatError(f'{where}: LiDAR-frame predictions need the main camera (T_cam_lidar, P, image '
                              'size) to become KITTI labels; DetSample.main_camera is None')
        return lidar_detections_to_kitti(boxes, scores, [names[i] for i in labels], T_cam_lidar=cam.T_cam_lidar,
                                         P=cam.P, image_size=(cam.width, cam.height), lidar_range=self.lidar_range)

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keep one small CPU record per sample: {'gt': fields, 'pred': fields} as numpy arrays."""
        for i, sample in enumerate(data_samples):
            where = f'KittiMetric sample {len(self.results) + i}'
            if isinstance(sample, DetSample):
                gt, pred = sample.gt_kitti, self._pred_from_lidar(sample, where)
            elif isinstance(sample, Mapping):
                gt = sample.get('gt_kitti')
                if sample.get('pred_kitti') is None:
                    raise FormatError(f'{where}: a mapping sample needs "pred_kitti" (KITTI labels); LiDAR-frame '
                                      'predictions come in a DetSample')
                pred = _labels(sample['pred_kitti'], f'{where}.pred_kitti')
            else:
                raise FormatError(f'{where}: expected a DetSample or a mapping with "gt_kitti" and "pred_kitti", '
                                  f'got {type(sample).__name__}')
            if gt is None:
                raise FormatError(f'{where}: no "gt_kitti" ground truth')
            self.results.append({'gt': _labels(gt, f'{where}.gt_kitti').as_dict(), 'pred': pred.as_dict()})

    def compute_metrics(self, results: list[dict[str, dict[str, np.ndarray]]]) -> dict[str, float]:
        """Evaluate all records; flat AP keys in percent (see the class docstring)."""
        gts = [KittiLabels(**r['gt']) for r in results]
        preds = [KittiLabels(**r['pred']) for r in results]
        result = evaluate_kitti(gts, preds, classes=self.classes)
        self.last_result = result
        print_log('\n' + result.table(), logger='current')
        return result.flat()
