"""Confusion-matrix mIoU with an ignore index, the mmengine SegMetric and the label-folder evaluation."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from omnifuse.errors import FormatError, ShapeError
from omnifuse.evaluation.seg_metric import SegMetric
from omnifuse.evaluation.segmentation import (
    confusion_matrix,
    evaluate_label_dirs,
    iou_from_confusion,
    scores_from_confusion,
)
from omnifuse.structures.seg_sample import SegPredictions, SegSample

GT = np.array([[0, 0, 1, 1],
               [0, 2, 2, 255],
               [1, 1, 2, 255]])
PRED = np.array([[0, 1, 1, 1],
                 [0, 2, 1, 0],
                 [1, 0, 2, 2]])


def test_confusion_matrix_by_hand_honours_the_ignore_index() -> None:
    cm = confusion_matrix(GT, PRED, 3, ignore_index=255)
    # rows gt, cols pred; the two 255 pixels are not counted.
    expect = np.array([[2, 1, 0],
                       [1, 3, 0],
                       [0, 1, 2]])
    np.testing.assert_array_equal(cm, expect)
    iou = iou_from_confusion(cm)
    # IoU = TP / (row + col - TP)
    np.testing.assert_allclose(iou, [2 / (3 + 3 - 2), 3 / (4 + 5 - 3), 2 / (3 + 2 - 2)])
    scores = scores_from_confusion(cm, ('a', 'b', 'c'))
    assert scores['miou'] == pytest.approx(np.mean(iou))
    assert scores['pixel_accuracy'] == pytest.approx(7 / 10)
    assert scores['per_class_iou'] == pytest.approx({'a': iou[0], 'b': iou[1], 'c': iou[2]})


def test_absent_class_has_no_iou_and_is_left_out_of_the_mean() -> None:
    cm = confusion_matrix(np.array([0, 0, 1]), np.array([0, 1, 1]), 4, ignore_index=None)
    scores = scores_from_confusion(cm, ('a', 'b', 'c', 'd'))
    assert scores['per_class_iou']['c'] is None and scores['per_class_iou']['d'] is None
    assert scores['miou'] == pytest.approx((1 / 2 + 1 / 2) / 2)
    # A class predicted but never in the ground truth has IoU 0 and counts.
    cm = confusion_matrix(np.array([0, 0]), np.array([0, 3]), 4, ignore_index=None)
    scores = scores_from_confusion(cm, ('a', 'b', 'c', 'd'))
    assert scores['per_class_iou']['d'] == 0.0
    assert scores['miou'] == pytest.approx((0.5 + 0.0) / 2)


def test_out_of_range_ids_and_shape_mismatch_raise() -> None:
    with pytest.raises(FormatError, match='class id 5'):
        confusion_matrix(np.array([0, 1]), np.array([0, 5]), 3)
    with pytest.raises(FormatError, match='ground truth has class id 7'):
        confusion_matrix(np.array([7, 1]), np.array([0, 1]), 3)
    with pytest.raises(ShapeError):
        confusion_matrix(np.zeros((2, 2)), np.zeros((2, 3)), 3)
    # An out-of-range prediction on an ignored pixel is not scored.
    assert confusion_matrix(np.array([255, 1]), np.array([9, 1]), 3).sum() == 1


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 40), st.integers(0, 2**31 - 1))
def test_confusion_matrix_properties(k: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, k, n)
    gt[rng.random(n) < 0.2] = 255
    pred = rng.integers(0, k, n)
    cm = confusion_matrix(gt, pred, k)
    assert cm.sum() == int((gt != 255).sum())
    np.testing.assert_array_equal(cm.sum(1), np.bincount(gt[gt != 255], minlength=k))
    scores = scores_from_confusion(cm, tuple(map(str, range(k))))
    if scores['miou'] is not None:
        assert 0.0 <= scores['miou'] <= 1.0
    perfect = scores_from_confusion(confusion_matrix(gt, np.where(gt == 255, 0, gt), k), tuple(map(str, range(k))))
    assert perfect['miou'] in (None, 1.0)


def _sample(pred: torch.Tensor, gt: torch.Tensor, *, condition: str | None = None) -> SegSample:
    return SegSample(condition=condition, gt_sem_seg=gt, pred=SegPredictions(pred))


def test_seg_metric_sums_images_and_splits_by_condition() -> None:
    metric = SegMetric(class_names=('a', 'b', 'c'))
    day = _sample(torch.from_numpy(PRED), torch.from_numpy(GT), condition='day')
    night = _sample(torch.zeros(2, 2, dtype=torch.int64), torch.tensor([[0, 1], [0, 255]]), condition='night')
    metric.process({}, [day, night])
    out = metric.compute_metrics(metric.results)
    total = confusion_matrix(GT, PRED, 3) + confusion_matrix(night.gt_sem_seg.numpy(), night.pred.sem_seg.numpy(), 3)
    expect = scores_from_confusion(total, ('a', 'b', 'c'))
    assert out['miou'] == pytest.approx(expect['miou'])
    assert out['iou_b'] == pytest.approx(expect['per_class_iou']['b'])
    assert out['miou_day'] == pytest.approx(scores_from_confusion(confusion_matrix(GT, PRED, 3), 'abc')['miou'])
    # night: gt (0, 1, 0), pred (0, 0, 0): IoU a = 2/3, b = 0 -> mean 1/3
    assert out['miou_night'] == pytest.approx(1 / 3)
    assert math.isnan(SegMetric(class_names=('a', 'b')).compute_metrics([])['miou'])


def test_seg_metric_through_the_mmengine_evaluator_prefixes_keys() -> None:
    from mmengine.evaluator import Evaluator

    evaluator = Evaluator(SegMetric(class_names=('a', 'b', 'c')))
    evaluator.process([_sample(torch.from_numpy(PRED), torch.from_numpy(GT))])
    out = evaluator.evaluate(1)
    assert out['seg/miou'] == pytest.approx(scores_from_confusion(confusion_matrix(GT, PRED, 3), 'abc')['miou'])


def test_evaluate_label_dirs_matches_files_by_stem(tmp_path: Path) -> None:
    gt, pred = tmp_path / 'gt', tmp_path / 'pred'
    gt.mkdir()
    pred.mkdir()
    for name, g, p in (('a', GT, PRED), ('b', GT[:, ::-1], GT[:, ::-1])):
        cv2.imwrite(str(gt / f'{name}.png'), g.astype(np.uint8))
        cv2.imwrite(str(pred / f'{name}.png'), np.where(p == 255, 0, p).astype(np.uint8))
    out = evaluate_label_dirs(gt, pred, class_names=('a', 'b', 'c'))
    cm = confusion_matrix(GT, PRED, 3) + confusion_matrix(GT[:, ::-1], np.where(GT == 255, 0, GT)[:, ::-1], 3)
    assert out['miou'] == pytest.approx(scores_from_confusion(cm, 'abc')['miou'])
    assert out['num_images'] == 2
    auto = evaluate_label_dirs(gt, pred)
    assert list(auto['per_class_iou']) == ['class_0', 'class_1', 'class_2']
    cv2.imwrite(str(pred / 'b.png'), np.zeros((5, 5), np.uint8))
    with pytest.raises(FormatError, match='b.png'):
        evaluate_label_dirs(gt, pred, class_names=('a', 'b', 'c'))
