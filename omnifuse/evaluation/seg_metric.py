"""mmengine Metric for semantic segmentation: confusion-matrix mIoU, overall and per condition.

Each sample the segmentor returns in 'predict' mode is a `SegSample` (omnifuse.structures.seg_sample) with
`pred.sem_seg` (H, W) and `gt_sem_seg` (H, W) class ids, and its `condition` ('day', 'night', ... or None).
`process` keeps one (K, K) confusion matrix per image on the CPU; `compute_metrics` sums them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from mmengine.evaluator import BaseMetric

from omnifuse.evaluation.segmentation import confusion_matrix, scores_from_confusion
from omnifuse.registry import METRICS
from omnifuse.structures.seg_sample import SegSample

__all__ = ['SegMetric']


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    return arr[0] if arr.ndim == 3 and arr.shape[0] == 1 else arr


@METRICS.register_module()
class SegMetric(BaseMetric):
    """mIoU and per-class IoU with an ignore index.

    Args:
        class_names: the K class names, in id order.
        ignore_index: ground-truth id that is not scored. Defaults to 255.
        condition_key: `SegSample` field whose value splits the scores ('condition' -> also 'miou_day',
            'miou_night'); None disables the split.
        collect_device, prefix: as in mmengine's BaseMetric.

    Output keys (with the 'seg/' prefix): 'miou', 'pixel_accuracy', 'iou_<class>' and per condition
    'miou_<condition>'. Values are fractions in [0, 1] (NaN when undefined).
    """

    default_prefix = 'seg'

    def __init__(self, class_names: Sequence[str], *, ignore_index: int = 255,
                 condition_key: str | None = 'condition', collect_device: str = 'cpu',
                 prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.class_names = tuple(class_names)
        self.ignore_index = ignore_index
        self.condition_key = condition_key

    def process(self, data_batch: Any, data_samples: Sequence[SegSample]) -> None:
        """Append one record per image: its confusion matrix and condition."""
        for sample in data_samples:
            if sample.gt_sem_seg is None:
                raise KeyError('SegMetric: a sample has no gt_sem_seg (does the dataset give labels?)')
            if sample.pred is None:
                raise KeyError(f'SegMetric: sample {sample.frame_id!r} has no prediction (pred)')
            pred = _to_numpy(sample.pred.sem_seg)
            gt = _to_numpy(sample.gt_sem_seg)
            cm = confusion_matrix(gt, pred, len(self.class_names), ignore_index=self.ignore_index)
            condition = getattr(sample, self.condition_key) if self.condition_key else None
            self.results.append({'cm': cm, 'condition': None if condition is None else str(condition)})

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Sum the confusion matrices and score them (pure function of `results`)."""
        k = len(self.class_names)
        total = np.zeros((k, k), np.int64)
        by_condition: dict[str, np.ndarray] = {}
        for record in results:
            total += record['cm']
            if record['condition'] is not None:
                by_condition.setdefault(record['condition'], np.zeros((k, k), np.int64))
                by_condition[record['condition']] += record['cm']
        scores = scores_from_confusion(total, self.class_names)
        nan = float('nan')
        out: dict[str, float] = {
            'miou': nan if scores['miou'] is None else float(scores['miou']),
            'pixel_accuracy': nan if scores['pixel_accuracy'] is None else float(scores['pixel_accuracy']),
        }
        for name, value in scores['per_class_iou'].items():
            out[f'iou_{name}'] = nan if value is None else float(value)
        for condition, cm in sorted(by_condition.items()):
            miou = scores_from_confusion(cm, self.class_names)['miou']
            out[f'miou_{condition}'] = nan if miou is None else float(miou)
        return out
