"""mmengine Metric for per-point semantic segmentation: mIoU overall, in and out of the camera's view.

Each sample the segmentor returns in 'predict' mode is a `PointSegSample` (omnifuse.structures.seg_sample)
with `pred` (labels (N,), labels_2d) and gt_pts_seg (N,) class ids, optionally in_fov (N,) bool (the point
projects into the camera image) and its condition ('day', 'night', ...). `process` keeps two (K, K)
confusion matrices per frame (points in the view, points outside it) on the CPU; `compute_metrics` sums
them (see evaluation/segmentation.py for the IoU conventions: ignore index, classes absent from both
sides left out of the mean).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from mmengine.evaluator import BaseMetric

from omnifuse.evaluation.segmentation import confusion_matrix, scores_from_confusion
from omnifuse.registry import METRICS
from omnifuse.structures.seg_sample import PointSegSample

__all__ = ['PointSegMetric']

# pred_key -> the PointSegPredictions field it scores
PRED_FIELDS = {'pred_pts_seg': 'labels', 'pred_pts_seg_2d': 'labels_2d'}


def _np(value: Any) -> np.ndarray:
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return np.asarray(value).reshape(-1)


@METRICS.register_module()
class PointSegMetric(BaseMetric):
    """Point mIoU and per-class IoU with an ignore index, overall / in the camera view / outside it.

    Args:
        class_names: the K class names, in id order.
        ignore_index: ground-truth id that is not scored. Defaults to 255.
        condition_key: `PointSegSample` field splitting the scores (-> 'miou_<condition>'); None disables it.
        pred_key: prediction scored: 'pred_pts_seg' (`pred.labels`, the default) or 'pred_pts_seg_2d'
            (`pred.labels_2d`, the image head).
        collect_device, prefix: as in mmengine's BaseMetric.

    Output keys (with the 'pointseg/' prefix): 'miou', 'miou_fov', 'miou_out_fov', 'accuracy',
    'iou_<class>' (overall) and 'miou_<condition>'. Values are fractions in [0, 1] (NaN when undefined).
    """

    default_prefix = 'pointseg'

    def __init__(self, class_names: Sequence[str], *, ignore_index: int = 255,
                 condition_key: str | None = 'condition', pred_key: str = 'pred_pts_seg',
                 collect_device: str = 'cpu', prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.class_names = tuple(class_names)
        self.ignore_index = ignore_index
        self.condition_key = condition_key
        if pred_key not in PRED_FIELDS:
            raise ValueError(f'PointSegMetric: pred_key must be one of {sorted(PRED_FIELDS)}, got {pred_key!r}')
        self.pred_key = pred_key

    def process(self, data_batch: Any, data_samples: Sequence[PointSegSample]) -> None:
        """Append one record per frame: confusion matrices in and out of the view, and its condition."""
        k = len(self.class_names)
        for sample in data_samples:
            if sample.gt_pts_seg is None:
                raise KeyError('PointSegMetric: a sample has no gt_pts_seg (does the dataset give labels?)')
            scored = None if sample.pred is None else getattr(sample.pred, PRED_FIELDS[self.pred_key])
            if scored is None:
                raise KeyError(f'PointSegMetric: frame {sample.frame_id!r} has no {self.pred_key} prediction')
            pred = _np(scored).astype(np.int64)
            gt = _np(sample.gt_pts_seg).astype(np.int64)
            if pred.shape != gt.shape:
                raise ValueError(f'PointSegMetric: {pred.shape[0]} predictions for {gt.shape[0]} labels '
                                 f'(frame {sample.frame_id})')
            fov = np.ones(gt.shape, bool)
            if sample.in_fov is not None:
                fov = _np(sample.in_fov).astype(bool)
            cm_in = confusion_matrix(gt[fov], pred[fov], k, ignore_index=self.ignore_index)
            cm_out = confusion_matrix(gt[~fov], pred[~fov], k, ignore_index=self.ignore_index)
            condition = getattr(sample, self.condition_key) if self.condition_key else None
            self.results.append({'cm_fov': cm_in, 'cm_out': cm_out,
                                 'condition': None if condition is None else str(condition)})

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Sum the confusion matrices and score them (pure function of `results`)."""
        k = len(self.class_names)
        cm_in = np.zeros((k, k), np.int64)
        cm_out = np.zeros((k, k), np.int64)
        by_condition: dict[str, np.ndarray] = {}
        for record in results:
            cm_in += record['cm_fov']
            cm_out += record['cm_out']
            if record['condition'] is not None:
                acc = by_condition.setdefault(record['condition'], np.zeros((k, k), np.int64))
                acc += record['cm_fov'] + record['cm_out']
        nan = float('nan')

        def miou(cm: np.ndarray) -> float:
            value = scores_from_confusion(cm, self.class_names)['miou']
            return nan if value is None else float(value)

        total = scores_from_confusion(cm_in + cm_out, self.class_names)
        out: dict[str, float] = {
            'miou': nan if total['miou'] is None else float(total['miou']),
            'miou_fov': miou(cm_in),
            'miou_out_fov': miou(cm_out),
            'accuracy': nan if total['pixel_accuracy'] is None else float(total['pixel_accuracy']),
        }
        for name, value in total['per_class_iou'].items():
            out[f'iou_{name}'] = nan if value is None else float(value)
        for condition, cm in sorted(by_condition.items()):
            out[f'miou_{condition}'] = miou(cm)
        return out
