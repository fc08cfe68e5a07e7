"""The parking scenario puts obstacles within a few metres of the standing ego, for near-field occupancy."""

from __future__ import annotations

import numpy as np
import pytest

from omnifuse.datasets.sim.generate import resolve_scenario
from omnifuse.datasets.sim.world import EGO_BOX, EGO_LANE_Y, SimError, make_scene
from omnifuse.structures.geometry import box_intersection_bev


def _near_gap(scene, t: float = 0.0) -> np.ndarray:
    snap = scene.at(t)
    boxes = snap.boxes
    ego = EGO_BOX[None]
    corners_gap = np.hypot(np.maximum(np.abs(boxes[:, 0] - ego[0, 0]) - ego[0, 3] / 2 - boxes[:, 3] / 2, 0),
                           np.maximum(np.abs(boxes[:, 1] - ego[0, 1]) - ego[0, 4] / 2 - boxes[:, 4] / 2, 0))
    return corners_gap


def test_parking_worlds_stand_still_with_things_close_to_the_ego_and_no_overlaps() -> None:
    near_counts = []
    for seed in range(8):
        scene = make_scene(seed, scenario='parking')
        assert scene.ego_speed == 0.0
        boxes = scene.at(0.0).boxes
        inter = box_intersection_bev(boxes, boxes)
        np.fill_diagonal(inter, 0)
        assert (inter < 1e-6).all(), f'seed {seed}: overlapping things'
        assert (box_intersection_bev(boxes, EGO_BOX[None]) < 1e-6).all(), f'seed {seed}: a thing inside the ego'
        near_counts.append(int((_near_gap(scene) < 5.0).sum()))
    street = [int((_near_gap(make_scene(seed)) < 5.0).sum()) for seed in range(8)]
    assert np.mean(near_counts) >= 2.0
    assert np.mean(near_counts) > np.mean(street)


def test_parking_scene_is_deterministic_and_validated() -> None:
    a, b = make_scene(3, scenario='parking'), make_scene(3, scenario='parking')
    assert np.array_equal(a.at(0).boxes, b.at(0).boxes)
    with pytest.raises(SimError, match='scenario'):
        make_scene(3, scenario='garage')
    picks = {resolve_scenario('mixed', s) for s in range(30)}
    assert picks == {'street', 'parking'}
    assert EGO_LANE_Y < 0  # the ego drives on the right-hand lane; parked neighbours are placed around it
