"""mmengine Metric: the official KITTI 3D detection AP (omnifuse.evaluation.kitti) inside a runner.

Each data sample handed to `process` (a dict or an mmengine data element) carries its ground truth as
'gt_kitti' and its detections in one of two forms:

- 'pred_kitti': detections already in KITTI camera-label form (a `KittiLabels` or a mapping with the
  fields name, truncated, occluded, alpha, bbox, dimensions (h, w, l), location, rotation_y, score);
- 'pred_instances_3d': {'bboxes_3d': (N, 7) LiDAR boxes (x, y, z, dx, dy, dz, yaw), geometric centre,
  'scores_3d': (N,), 'labels_3d': (N,) class indices} together with the calibration 'T_cam_lidar'
  (4, 4), 'P' (3, 4) (KITTI P2) and 'image_size' (width, height); these are converted with
  `lidar_detections_to_kitti` (2D box from the projected corners, as mmdet3d does).

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
from omnifuse.structures.kitti_labels import KittiLabels

__all__ = ['KittiMetric']


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    elif hasattr(value, 'tensor'):  # box structures that wrap a tensor
        return _numpy(value.tensor)
    return np.asarray(value)


def _get(sample: Any, key: str) -> Any:
    if isinstance(sample, Mapping):
        return sample.get(key)
    return getattr(sample, key, None)


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
        label_names: names of the predicted class indices ('labels_3d'); defaults to
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

    def _pred_from_lidar(self, sample: Any, where: str) -> KittiLabels:
        inst = _get(sample, 'pred_instances_3d')
        boxes = _numpy(_get(inst, 'bboxes_3d')).reshape(-1, 7)
        scores = _numpy(_get(inst, 'scores_3d')).reshape(-1)
        labels = _numpy(_get(inst, 'labels_3d')).reshape(-1).astype(np.int64)
        names = self._names()
        if len(labels) and (labels.min() < 0 or labels.max() >= len(names)):
            raise FormatError(f'{where}.labels_3d: class index {int(labels.max())} outside the {len(names)} '
                              f'label names {list(names)}')
        calib = {k: _get(sample, k) for k in ('T_cam_lidar', 'P', 'image_size')}
        missing = [k for k, v in calib.items() if v is None]
        if missing:
            raise FormatError(f'{where}: LiDAR-frame predictions need {", ".join(missing)} '
                              'to become KITTI labels')
        size = tuple(int(v) for v in _numpy(calib['image_size']).reshape(-1)[:2])
        return lidar_detections_to_kitti(boxes, scores, [names[i] for i in labels],
                                         T_cam_lidar=_numpy(calib['T_cam_lidar']), P=_numpy(calib['P']),
                                         image_size=(size[0], size[1]), lidar_range=self.lidar_range)

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keep one small CPU record per sample: {'gt': fields, 'pred': fields} as numpy arrays."""
        for i, sample in enumerate(data_samples):
            where = f'KittiMetric sample {len(self.results) + i}'
            gt = _get(sample, 'gt_kitti')
            if gt is None:
                raise FormatError(f'{where}: no "gt_kitti" ground truth')
            if _get(sample, 'pred_kitti') is not None:
                pred = _labels(_get(sample, 'pred_kitti'), f'{where}.pred_kitti')
            elif _get(sample, 'pred_instances_3d') is not None:
                pred = self._pred_from_lidar(sample, where)
            else:
                raise FormatError(f'{where}: neither "pred_kitti" nor "pred_instances_3d"')
            self.results.append({'gt': _labels(gt, f'{where}.gt_kitti').as_dict(), 'pred': pred.as_dict()})

    def compute_metrics(self, results: list[dict[str, dict[str, np.ndarray]]]) -> dict[str, float]:
        """Evaluate all records; flat AP keys in percent (see the class docstring)."""
        gts = [KittiLabels(**r['gt']) for r in results]
        preds = [KittiLabels(**r['pred']) for r in results]
        result = evaluate_kitti(gts, preds, classes=self.classes)
        self.last_result = result
        print_log('\n' + result.table(), logger='current')
        return result.flat()
