"""apis.detection.Detector: one frame -> numpy DetPredictions (the typed predictions end to end), thresholded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omnifuse.structures import DetPredictions

RANGE = [0.0, -25.6, -3.0, 51.2, 25.6, 1.0]


@pytest.fixture(scope='module')
def detector(tiny_detector_cfg):
    from mmengine.config import ConfigDict

    import omnifuse.detectors  # noqa: F401
    from omnifuse.apis.detection import Detector
    from omnifuse.registry import MODELS

    torch.manual_seed(0)
    model = MODELS.build(tiny_detector_cfg(point_range=RANGE)).eval()
    pipeline = [dict(type='PointRangeFilter', point_range=RANGE), dict(type='PackDetInputs')]
    return Detector(model, ConfigDict(test_dataloader=dict(dataset=dict(pipeline=pipeline))))


def test_detector_returns_numpy_predictions_above_the_threshold(detector, kitti_root) -> None:
    from omnifuse.datasets.kitti import KittiReader

    frame = KittiReader(kitti_root).read('000000')
    every = detector(frame)
    assert isinstance(every, DetPredictions) and len(every) > 0
    assert isinstance(every.boxes, np.ndarray) and every.boxes.dtype == np.float64
    assert every.scores.dtype == np.float32 and every.labels.dtype == np.int64
    threshold = float(np.median(every.scores))
    kept = detector(frame, score_threshold=threshold)
    keep = every.scores >= threshold
    assert 0 < len(kept) == int(keep.sum()) < len(every)
    np.testing.assert_array_equal(kept.boxes, every.boxes[keep])
    np.testing.assert_array_equal(kept.labels, every.labels[keep])
    boxes, scores, labels = kept.numpy()  # numpy fields of the right types are handed out as they are
    assert boxes is kept.boxes and scores is kept.scores and labels is kept.labels
