"""Occupancy scores (evaluation/occupancy_iou.py): the confusion of group ids, IoU per class and occupied/free."""

from __future__ import annotations

import numpy as np
import pytest

from omnifuse.evaluation.occupancy_iou import OccupancyScores, occupancy_confusion, scores_from_confusion
from omnifuse.structures.bev_grid import BEVGrid

GRID = BEVGrid(0.1, 10.0)


def test_scores_against_hand_counted_confusion() -> None:
    group_of_id = np.full(256, -1)
    group_of_id[:3] = [0, 1, 2]
    gt = np.array([[0, 0, 1, 1], [2, 2, 0, 255]], dtype=np.uint8)
    pred = np.array([[0, 1, 1, 0], [2, 0, 0, 1]], dtype=np.uint8)
    conf = occupancy_confusion(gt, pred, group_of_id, 3)
    # truth free: cells (0,0),(0,1),(1,2) -> predicted free, vehicle, free
    assert conf.tolist() == [[2, 1, 0], [1, 1, 0], [1, 0, 1]]
    res = scores_from_confusion(conf, ('free', 'vehicle', 'ped'))
    assert res['per_class_iou']['free'] == pytest.approx(2 / (4 + 3 - 2))
    assert res['per_class_iou']['vehicle'] == pytest.approx(1 / (2 + 2 - 1))
    assert res['per_class_iou']['ped'] == pytest.approx(1 / 2)
    # occupied vs free: truth occupied 4 cells, predicted occupied 3 (the 255 cell is not scored), both 2
    assert res['occupied_iou'] == pytest.approx(2 / (4 + 3 - 2))
    assert res['miou'] == pytest.approx(np.mean([2 / 5, 1 / 3, 1 / 2]))


def test_max_range_limits_the_scored_cells() -> None:
    group_of_id = np.full(256, -1)
    group_of_id[:2] = [0, 1]
    gt = np.zeros(GRID.shape, np.uint8)
    pred = np.zeros(GRID.shape, np.uint8)
    pred[0, 0] = 1  # a wrong cell 14 m away
    near = OccupancyScores(group_of_id, ('free', 'occ'), GRID, max_range=5.0)
    near.add(gt, pred)
    assert near.result()['per_class_iou'] == {'free': 1.0}
    far = OccupancyScores(group_of_id, ('free', 'occ'), GRID, max_range=None)
    far.add(gt, pred)
    assert far.result()['per_class_iou']['free'] < 1.0
