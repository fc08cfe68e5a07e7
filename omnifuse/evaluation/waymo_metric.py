"""mmengine `WaymoMetric`: Waymo AP / APH (LEVEL_1 / LEVEL_2, by type and range) during validation.

`process` keeps one small CPU record per frame (numpy arrays); `compute_metrics` runs
`omnifuse.evaluation.waymo.evaluate_waymo` on all of them and returns flat keys such as
'VEHICLE_LEVEL_2_APH', 'VEHICLE_RANGE_0_30_LEVEL_1_AP' and 'mAPH_L2' (mmengine prefixes them with
'waymo/'). A breakdown without ground truth at a level has no key (instead of a null value).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from mmengine.evaluator import BaseMetric

from omnifuse.errors import OmnifuseError, ShapeError
from omnifuse.evaluation.waymo import LEVELS, RANGE_NAMES, TYPES, WaymoObjects, evaluate_waymo
from omnifuse.registry import METRICS
from omnifuse.structures.det_sample import DetSample

__all__ = ['WaymoMetric', 'CLASS_TO_WAYMO_TYPE']

# Dataset class names (mmdet3d / KITTI-format Waymo and omnifuse spellings) -> Waymo object type.
CLASS_TO_WAYMO_TYPE: Mapping[str, str] = {
    'Car': 'VEHICLE', 'Vehicle': 'VEHICLE', 'VEHICLE': 'VEHICLE',
    'Pedestrian': 'PEDESTRIAN', 'PEDESTRIAN': 'PEDESTRIAN',
    'Cyclist': 'CYCLIST', 'CYCLIST': 'CYCLIST',
    'Sign': 'SIGN', 'SIGN': 'SIGN',
}
_FRAME_KEYS = ('frame_id', 'sample_idx', 'token', 'frame')
_RANGE_KEYS = {'[0, 30)': '0_30', '[30, 50)': '30_50', '[50, +inf)': '50_INF'}


def _get(sample: Any, key: str) -> Any:
    if isinstance(sample, Mapping):
        return sample.get(key)
    return getattr(sample, key, None)


def _numpy(value: Any, dtype: type) -> np.ndarray:
    if value is None:
        return np.zeros(0, dtype)
    if hasattr(value, 'data') and isinstance(value.data, np.ndarray):  # Boxes3D
        value = value.data
    if hasattr(value, 'detach'):  # torch.Tensor on any device
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)


@METRICS.register_module()
class WaymoMetric(BaseMetric):  # type: ignore[misc]
    """Waymo Open Dataset 3D detection metric (official AP / APH definitions, no TensorFlow).

    Each data sample given to `process` is either a `DetSample` after the detector (omnifuse.structures.det_sample:
    its `frame_id`, its `pred` and, as ground truth, its `gt_boxes` / `gt_labels`, with no point counts and
    difficulty level 1), or an mmdet3d-style Mapping (or an object with the same attributes) holding:

    - a frame id under 'frame_id', 'sample_idx', 'token' or 'frame' (str or int; frames are
      matched per id, so ids must be unique),
    - 'pred_instances_3d': {'bboxes_3d': (N, 7) boxes, 'scores_3d': (N,), 'labels_3d': (N,) indices into
      `classes`},
    - 'gt_instances_3d': {'bboxes_3d': (M, 7), 'labels_3d': (M,), optionally 'num_lidar_points': (M,)
      and 'difficulty': (M,) levels 1 / 2} (mmdet3d's 'eval_ann_info' with 'gt_bboxes_3d',
      'gt_labels_3d', 'num_lidar_pts' is read as well).

    Boxes are (x, y, z, dx, dy, dz, yaw) with the geometric centre, LiDAR/vehicle frame, as torch
    tensors (any device), numpy arrays or `Boxes3D`. Labels outside `classes` (e.g. -1) are ignored.

    Args:
        classes: dataset class names in label order; each must be a key of `CLASS_TO_WAYMO_TYPE`.
            Defaults to ('Car', 'Pedestrian', 'Cyclist').
        iou_thresholds: IoU threshold per Waymo type; defaults to the official ones.
        collect_device: 'cpu' or 'gpu', for collecting results across ranks. Defaults to 'cpu'.
        prefix: key prefix; defaults to `default_prefix` = 'waymo'.
        collect_dir: temporary folder for collecting on CPU across ranks. Defaults to None.
    """

    default_prefix = 'waymo'

    def __init__(self, *, classes: Sequence[str] = ('Car', 'Pedestrian', 'Cyclist'),
                 iou_thresholds: Mapping[str, float] | None = None, collect_device: str = 'cpu',
                 prefix: str | None = None, collect_dir: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        unknown = [c for c in classes if c not in CLASS_TO_WAYMO_TYPE]
        if unknown:
            raise OmnifuseError(f'WaymoMetric: classes {unknown} have no Waymo type; known: '
                                f'{sorted(CLASS_TO_WAYMO_TYPE)}')
        self.classes = tuple(classes)
        self.label_to_type = np.array([TYPES.index(CLASS_TO_WAYMO_TYPE[c]) for c in self.classes], np.int64)
        self.iou_thresholds = None if iou_thresholds is None else dict(iou_thresholds)

    def _objects(self, boxes: np.ndarray, labels: np.ndarray, *, where: str, scores: Any = None,
                 num_points: Any = None, difficulty: Any = None, gt: bool) -> dict[str, np.ndarray]:
        """One frame's record of boxes (N, 7), labels (N,) and scores (predictions) or point counts and
        difficulty levels (ground truth; None: -1 and 0)."""
        boxes = boxes.reshape(0, 7) if boxes.size == 0 else boxes
        labels = labels.reshape(-1)
        if boxes.ndim != 2 or boxes.shape[1] != 7 or len(labels) != len(boxes):
            raise ShapeError(f'WaymoMetric: {where} needs (N, 7) boxes and N labels, got {boxes.shape} '
                             f'and {labels.shape}')
        known = (labels >= 0) & (labels < len(self.classes))
        out = {'boxes': boxes[known], 'types': self.label_to_type[labels[known]]}
        if gt:
            out['num_points'] = (np.full(len(boxes), -1, np.int64) if num_points is None
                                 else _numpy(num_points, np.int64).reshape(-1))[known]
            out['difficulty'] = (np.zeros(len(boxes), np.int64) if difficulty is None
                                 else _numpy(difficulty, np.int64).reshape(-1))[known]
        else:
            out['scores'] = _numpy(scores, np.float32).reshape(-1)[known]
        return out

    def _mapping_objects(self, instances: Any, *, gt: bool, where: str) -> dict[str, np.ndarray]:
        """An mmdet3d-style instances mapping (see the class docstring) -> `_objects`."""
        prefix = 'gt_' if gt and _get(instances, 'gt_bboxes_3d') is not None else ''
        points = _get(instances, 'num_lidar_points')
        return self._objects(_numpy(_get(instances, f'{prefix}bboxes_3d'), np.float64),
                             _numpy(_get(instances, f'{prefix}labels_3d'), np.int64), where=where,
                             scores=None if gt else _get(instances, 'scores_3d'),
                             num_points=_get(instances, 'num_lidar_pts') if points is None else points,
                             difficulty=_get(instances, 'difficulty'), gt=gt)

    def _sample_record(self, sample: DetSample) -> dict[str, Any]:
        frame = sample.frame_id or f'#{len(self.results)}'
        if sample.pred is None:
            raise OmnifuseError(f'WaymoMetric: frame {frame} has no predictions (DetSample.pred is None)')
        boxes, scores, labels = sample.pred.numpy()
        gt_boxes = np.zeros((0, 7)) if sample.gt_boxes is None else _numpy(sample.gt_boxes, np.float64)
        gt_labels = np.zeros(0, np.int64) if sample.gt_labels is None else _numpy(sample.gt_labels, np.int64)
        return {'frame': frame,
                'pred': self._objects(boxes, labels, scores=scores, gt=False, where=f'frame {frame} pred'),
                'gt': self._objects(gt_boxes, gt_labels, gt=True, where=f'frame {frame} gt_boxes')}

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keep one CPU record per sample (see the class docstring for the expected fields)."""
        for sample in data_samples:
            if isinstance(sample, DetSample):
                self.results.append(self._sample_record(sample))
                continue
            frame = next((_get(sample, k) for k in _FRAME_KEYS if _get(sample, k) is not None), None)
            if frame is None:
                frame = f'#{len(self.results)}'
            pred = _get(sample, 'pred_instances_3d')
            gt = _get(sample, 'gt_instances_3d')
            gt = _get(sample, 'eval_ann_info') if gt is None else gt
            self.results.append({
                'frame': str(frame),
                'pred': self._mapping_objects({} if pred is None else pred, gt=False,
                                              where=f'frame {frame} pred_instances_3d'),
                'gt': self._mapping_objects({} if gt is None else gt, gt=True, where=f'frame {frame} ground truth'),
            })

    def compute_metrics(self, results: list[dict[str, Any]]) -> dict[str, float]:
        """Flat metrics from the records of `process` (pure: only reads `results`)."""
        preds, gts = [], []
        for rec in results:
            p, g = rec['pred'], rec['gt']
            n = len(p['boxes'])
            preds.append(WaymoObjects(np.full(n, rec['frame']), p['types'], p['boxes'], p['scores'],
                                      np.full(n, -1), np.zeros(n, np.int64)))
            gts.append(WaymoObjects(np.full(len(g['boxes']), rec['frame']), g['types'], g['boxes'],
                                    np.ones(len(g['boxes']), np.float32), g['num_points'], g['difficulty']))
        result = evaluate_waymo(WaymoObjects.concatenate(gts), WaymoObjects.concatenate(preds),
                                iou_thresholds=self.iou_thresholds)
        flat: dict[str, float] = {}
        for name in TYPES:
            for level in LEVELS:
                for key, value in result[name][level].items():
                    if value is not None:
                        flat[f'{name}_{level}_{key}'] = value
            for rname in RANGE_NAMES:
                for level in LEVELS:
                    for key, value in result['ranges'][name][rname][level].items():
                        if value is not None:
                            flat[f'{name}_RANGE_{_RANGE_KEYS[rname]}_{level}_{key}'] = value
        for key in ('mAP_L1', 'mAPH_L1', 'mAP_L2', 'mAPH_L2'):
            if result[key] is not None:
                flat[key] = result[key]
        return flat
