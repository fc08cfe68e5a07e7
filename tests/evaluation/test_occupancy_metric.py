"""OccupancyMetric (evaluation/occupancy_metric.py): the mmengine metric over typed occupancy samples."""

from __future__ import annotations

import pytest
import torch

from omnifuse.evaluation.occupancy_metric import OccupancyMetric
from omnifuse.structures.seg_sample import OccupancyPredictions, OccupancySample


def test_metric_compute_metrics_on_hand_made_records() -> None:
    metric = OccupancyMetric(group_names=('free', 'vehicle'), max_range=None)
    gt = torch.zeros(200, 200, dtype=torch.long)
    gt[10:20, 10:20] = 1
    pred = gt.clone()
    pred[10:15, 10:20] = 0
    metric.process({}, [OccupancySample(gt_labels=gt, pred=OccupancyPredictions(pred))])
    out = metric.compute_metrics(metric.results)
    assert out['iou_vehicle'] == pytest.approx(0.5)
    assert out['occupied_iou'] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="'f1' has no gt_labels"):
        metric.process({}, [OccupancySample(frame_id='f1', pred=OccupancyPredictions(pred))])
