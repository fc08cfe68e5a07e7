"""mmengine Metric for semantic segmentation: confusion-matrix mIoU, overall and per condition.

Each prediction the segmentor returns in 'predict' mode is a dict (or a data element) with
'pred_sem_seg' (H, W) and 'gt_sem_seg' (H, W) class ids, and optionally 'condition' ('day', 'night',
...). `process` keeps one (K, K) confusion matrix per image on the CPU; `compute_metrics` sums them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from mmengine.evaluator import BaseMetric

from omnifuse.evaluation.segmentation import confusion_matrix, scores_from_confusion
from omnifuse.registry import METRICS

__all__ = ['SegMetric']


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    if isinstance(value, dict) and 'data' in value:  # mmseg-style PixelData as dict
        return _to_numpy(value['data'])
    arr = np.asarray(value)
    return arr[0] if arr.ndim == 3 and arr.shape[0] == 1 else arr


@METRICS.register_module()
class SegMetric(BaseMetric):
    """mIoU and per-class IoU with an ignore index.

    Args:
        class_names: the K class names, in id order.
        ignore_index: ground-truth id that is not scored. Defaults to 255.
        condition_key: data-sample key whose value splits the scores (e.g. 'condition' -> also
            'miou_day', 'miou_night'); None disables the split.
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

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Append one record per image: its confusion matrix and condition."""
        for sample in data_samples:
            if not isinstance(sample, dict):
                sample = sample.to_dict()
            if 'gt_sem_seg' not in sample:
                raise KeyError('SegMetric: a prediction has no "gt_sem_seg" (does the dataset give labels?)')
            pred = _to_numpy(sample['pred_sem_seg'])
            gt = _to_numpy(sample['gt_sem_seg'])
            cm = confusion_matrix(gt, pred, len(self.class_names), ignore_index=self.ignore_index)
            condition = sample.get(self.condition_key) if self.condition_key else None
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
