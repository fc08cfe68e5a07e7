"""The procedural world: determinism, KITTI-like object distribution, classes, faults."""

from __future__ import annotations

import math

import numpy as np

from omnifuse.datasets.sim import classes as C
from omnifuse.datasets.sim.generate import generate_frame, perturb_calibration
from omnifuse.datasets.sim.labels import occupancy_cell_centres
from omnifuse.datasets.sim.rig import default_calibration
from omnifuse.datasets.sim.world import GROUND_Z, make_scene
from omnifuse.structures.geometry import box_intersection_bev


def test_same_seed_same_world_other_seed_other_world():
    a, b, c = make_scene(7), make_scene(7), make_scene(8)
    assert np.array_equal(a.boxes0, b.boxes0) and a.names == b.names
    assert np.array_equal(a.static.boxes, b.static.boxes)
    assert a.boxes0.shape != c.boxes0.shape or not np.allclose(a.boxes0, c.boxes0)


def test_object_distribution_is_kitti_like():
    counts = {name: [] for name in C.THING_CLASSES}
    dists, in_front = [], []
    for seed in range(25):
        scene = make_scene(seed)
        for name in C.THING_CLASSES:
            counts[name].append(scene.names.count(name))
        boxes = scene.at(0.0).boxes
        # Things never overlap each other.
        inter = box_intersection_bev(boxes, boxes)
        np.fill_diagonal(inter, 0)
        assert inter.max() < 1e-6
        # They stand on the ground.
        assert np.allclose(boxes[:, 2] - boxes[:, 5] / 2, GROUND_Z)
        dists += np.hypot(boxes[:, 0], boxes[:, 1]).tolist()
        in_front += (boxes[:, 0] > 3).tolist()
    assert 5 <= np.mean(counts['Car']) <= 15 and min(counts['Car']) >= 4
    assert np.mean(counts['Pedestrian']) >= 2 and np.mean(counts['Cyclist']) > 0.3
    assert np.mean(in_front) > 0.6
    assert np.percentile(dists, 5) > 3.0 and np.percentile(dists, 90) < 75


def test_classes_are_the_single_source_of_truth():
    assert C.SEMANTIC_CLASSES[C.CAR] == 'car' and C.SEMANTIC_CLASSES[C.SKY] == 'sky'
    assert C.NUM_CLASSES == len(C.SEMANTIC_CLASSES)
    assert set(C.THING_TO_ID) == set(C.THING_CLASSES)
    assert all(C.ID_TO_THING[v] == k for k, v in C.THING_TO_ID.items())


def test_occupancy_grid_layout_and_contents():
    frame = generate_frame(12)
    x, y = occupancy_cell_centres()
    assert math.isclose(x[0, 0], 9.95) and math.isclose(y[0, 0], 9.95) and math.isclose(x[-1, 0], -9.95)
    occ = frame.occupancy
    # The ego stands in a lane: the cells around the LiDAR are road.
    assert np.all(occ[95:105, 95:105] == C.ROAD)
    # Every thing whose centre lies in the grid occupies the cell holding its centre.
    for name, box in zip(frame.labels.names, frame.labels.boxes.data, strict=True):
        if name == 'DontCare' or max(abs(box[0]), abs(box[1])) > 9.5:
            continue
        i, j = int((10 - box[0]) / 0.1), int((10 - box[1]) / 0.1)
        assert occ[i, j] == C.THING_TO_ID[name]


def test_faults_change_what_they_should():
    clean = generate_frame(6)
    dead = generate_frame(6, faults={'camera_dead': True, 'thermal_dead': True})
    assert dead.images['image_2'].max() == 0 and dead.thermal['thermal'].max() == 0
    assert np.array_equal(dead.points, clean.points) and np.array_equal(dead.semantic_2, clean.semantic_2)
    frozen = generate_frame(6, time_s=1.0, faults={'camera_frozen': True})
    # One second later the frozen camera still shows the picture of t = 0; the LiDAR has moved on.
    assert np.array_equal(frozen.images['image_2'], clean.images['image_2'])
    assert frozen.meta['ego_xy'] != clean.meta['ego_xy'] or frozen.meta['ego_speed'] == 0
    assert frozen.stamps_ns['image_2'] == frozen.stamp_ns - 1_000_000_000
    bad = generate_frame(6, faults={'calib_error': (2.0, 0.1)})
    T0, T1 = clean.calib.cameras['image_2'].T_cam_lidar, bad.calib.cameras['image_2'].T_cam_lidar
    dR = T1[:3, :3] @ T0[:3, :3].T
    angle = math.degrees(math.acos(np.clip((np.trace(dR) - 1) / 2, -1, 1)))
    assert abs(angle - 2.0) < 1e-3
    # The KITTI matrices agree with the perturbed camera, and the render is unchanged.
    assert np.allclose(bad.calib.T_rect_lidar, T1)
    assert np.array_equal(bad.images['image_2'], clean.images['image_2'])
    again = perturb_calibration(default_calibration(), 0.0, 0.0, np.random.default_rng(0))
    assert np.allclose(again.cameras['image_2'].T_cam_lidar, default_calibration().cameras['image_2'].T_cam_lidar)


def test_glazed_vans_have_glass_windows_above_the_sill_and_stand_on_wheels():
    from omnifuse.datasets.sim.world import KIND_GLASS, _thing_parts

    size = np.array([5.1, 1.9, 2.2])
    parts = _thing_parts('Van', size, np.random.default_rng(0), moving=False, night=False, glazed_vans=True)
    local = np.array([p[0] for p in parts])
    kinds = np.array([p[3] for p in parts])
    lo, hi = local[:, :3] - local[:, 3:] / 2, local[:, :3] + local[:, 3:] / 2
    # every part inside the labelled box
    assert (lo >= -size / 2 - 1e-9).all() and (hi <= size / 2 + 1e-9).all()
    glass = kinds == KIND_GLASS
    assert glass.sum() >= 3  # windscreen and both cab side windows at least
    bottom = -size[2] / 2
    assert (lo[glass, 2] > bottom + 0.5 * size[2]).all()  # windows sit above the sill
    # Only the wheels reach the ground; the body starts above the clearance.
    touching = np.flatnonzero(lo[:, 2] < bottom + 0.05)
    assert len(touching) == 4 and (local[touching, 4] < 0.3).all()
    # The variant (passenger / cargo, rear window) follows the size, not the scene's random stream: the same
    # size gives the same parts under any generator, and sizes give more than one variant.
    variants = set()
    for k in range(12):
        s = size + 0.01 * k
        a = _thing_parts('Van', s, np.random.default_rng(k), moving=False, night=False, glazed_vans=True)
        b = _thing_parts('Van', s, np.random.default_rng(1000 + k), moving=False, night=False, glazed_vans=True)
        assert [(p[0], p[3]) for p in a] == [(p[0], p[3]) for p in b]
        variants.add(tuple(p[3] for p in a))
    assert len(variants) > 1
    # the default van stays two opaque boxes (what the shipped models were trained on)
    plain = _thing_parts('Van', size, np.random.default_rng(0), moving=False, night=False)
    assert len(plain) == 2 and all(p[3] != KIND_GLASS for p in plain)
