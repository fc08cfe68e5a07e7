"""Physics of the simulated LiDAR: points on the surfaces hit, density falling with distance, labels."""

from __future__ import annotations

import numpy as np
import pytest

from omnifuse.datasets.beams import beam_index
from omnifuse.datasets.sim import classes as C
from omnifuse.datasets.sim.generate import generate_frame
from omnifuse.datasets.sim.lidar import LidarModel, hdl64_elevations, render_lidar, see_through_glass
from omnifuse.datasets.sim.raycast import HIT_GROUND
from omnifuse.datasets.sim.world import EGO_LANE_Y, GROUND_Z, KIND_GLASS, make_scene, scene_from_boxes
from omnifuse.datasets.transforms import BeamSubsample
from omnifuse.structures.geometry import points_in_boxes


@pytest.fixture(scope='module')
def scan_and_snap():
    snap = make_scene(21).at(0.0)
    return render_lidar(snap, np.random.default_rng(0)), snap


def _surface_distance(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Unsigned distance of each point to the surface of its box (rows paired)."""
    rel = points - boxes[:, :3]
    c, s = np.cos(boxes[:, 6]), np.sin(boxes[:, 6])
    local = np.stack([c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1], rel[:, 2]], 1)
    q = np.abs(local) - boxes[:, 3:6] / 2
    outside = np.linalg.norm(np.maximum(q, 0), axis=1)
    inside = np.minimum(q.max(1), 0)
    return np.abs(outside + inside)


def test_points_lie_on_the_surfaces_they_hit(scan_and_snap):
    scan, snap = scan_and_snap
    sigma = LidarModel().range_noise
    glass = np.zeros(len(scan.part), bool)
    glass[scan.part >= 0] = snap.parts.kind[scan.part[scan.part >= 0]] == KIND_GLASS
    on_part = (scan.part >= 0) & ~glass
    d = _surface_distance(scan.points[on_part, :3].astype(np.float64), snap.parts.boxes[scan.part[on_part]])
    assert on_part.sum() > 20_000
    assert np.percentile(d, 99.9) < 5 * sigma + 1e-3
    ground = scan.part == HIT_GROUND
    # Range noise along a ray moves a ground point by at most |noise * sin(elevation)| vertically.
    assert np.abs(scan.points[ground, 2] - GROUND_Z).max() < 5 * sigma
    # Ranges lie in the sensor's limits and the ring order follows the beam elevations.
    r = np.linalg.norm(scan.points[:, :3], axis=1)
    assert r.min() > 0.9 and r.max() < 120.2
    assert 0 <= scan.points[:, 3].min() and scan.points[:, 3].max() <= 1


def _entry_range(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Range at which the ray from the origin through each point enters its box (rows paired; slab test)."""
    d = points / np.linalg.norm(points, axis=1, keepdims=True)
    c, s = np.cos(boxes[:, 6]), np.sin(boxes[:, 6])

    def local(v: np.ndarray) -> np.ndarray:
        return np.stack([c * v[:, 0] + s * v[:, 1], -s * v[:, 0] + c * v[:, 1], v[:, 2]], 1)

    o, u = local(-boxes[:, :3]), local(d)
    with np.errstate(divide='ignore', invalid='ignore'):
        t1, t2 = (-boxes[:, 3:6] / 2 - o) / u, (boxes[:, 3:6] / 2 - o) / u
    return np.nanmax(np.minimum(t1, t2), axis=1)


def test_see_through_glass_returns_from_itself_or_the_interior_behind_it():
    snap = make_scene(21, glazed_vans=True).at(0.0)
    model = see_through_glass(LidarModel())
    scan = render_lidar(snap, np.random.default_rng(0), model=model)
    hit = np.flatnonzero(scan.part >= 0)
    glass = hit[snap.parts.kind[scan.part[hit]] == KIND_GLASS]
    assert len(glass) > 200
    pts = scan.points[glass, :3].astype(np.float64)
    depth = np.linalg.norm(pts, axis=1) - _entry_range(pts, snap.parts.boxes[scan.part[glass]])
    tol = 5 * model.range_noise + 1e-3
    on_glass = np.abs(depth) < tol
    lo, hi = model.interior_depth
    behind = (depth > lo - tol) & (depth < hi + tol)
    assert (on_glass | behind).all()
    expected = model.glass_return / (model.glass_return + model.glass_interior)
    assert abs(on_glass.mean() - expected) < 0.08, (on_glass.mean(), expected)


def test_frame_has_kitti_like_density_and_labels_match_boxes():
    frame = generate_frame(3)
    assert frame.points.shape[1] == 4 and frame.points.dtype == np.float32
    assert frame.points.shape[0] > 100_000
    assert frame.point_labels.shape == (frame.points.shape[0],)
    labels = frame.labels.without_dontcare()
    inside = points_in_boxes(frame.points[:, :3].astype(np.float64), labels.boxes.data)  # (N, K)
    for k, name in enumerate(labels.names):
        above_ground = frame.points[:, 2] > GROUND_Z + 0.1  # ground is seen under trucks and cars
        pts_cls = frame.point_labels[inside[:, k] & above_ground]
        if len(pts_cls) >= 20:  # enough hits: they are (nearly) all of the box's class
            assert np.mean(pts_cls == C.THING_TO_ID[name]) > 0.95, name
    # Cars near the ego are clearly visible.
    near = [k for k, n in enumerate(labels.names) if n == 'Car' and np.linalg.norm(labels.boxes.data[k, :2]) < 25]
    counts = inside[:, near].sum(0)
    assert len(near) == 0 or np.median(counts) > 150


def test_points_per_box_fall_with_distance():
    distances = np.array([8.0, 15.0, 25.0, 40.0, 60.0])
    counts = []
    for x in distances:
        box = np.array([[x, EGO_LANE_Y + 3.5, GROUND_Z + 0.75, 4.0, 1.7, 1.5, 0.0]])
        snap = scene_from_boxes(box, ['Car']).at(0.0)
        scan = render_lidar(snap, np.random.default_rng(1))
        counts.append(int((scan.instance == 0).sum()))
    counts = np.array(counts)
    assert np.all(np.diff(counts) < 0), counts
    # Beyond the first few metres the count falls roughly like 1/d^2 (solid angle of the face seen).
    ratio = counts[2] / counts[4]
    assert 2.5 < ratio < 9.0, counts


def test_fog_removes_far_returns_first():
    clear = generate_frame(4, condition='day')
    foggy = generate_frame(4, condition='fog')
    r_clear = np.linalg.norm(clear.points[:, :2], axis=1)
    r_fog = np.linalg.norm(foggy.points[:, :2], axis=1)
    assert len(r_fog) < len(r_clear)
    near_ratio = (r_fog < 10).sum() / max((r_clear < 10).sum(), 1)
    far_ratio = (r_fog > 40).sum() / max((r_clear > 40).sum(), 1)
    assert far_ratio < near_ratio


def test_beam_index_recovers_the_ring_that_fired_each_point(scan_and_snap):
    scan, _ = scan_and_snap
    beam = beam_index(scan.points[:, :3].astype(np.float64), hdl64_elevations())
    assert (beam == scan.ring).mean() > 0.999
    kept = BeamSubsample(keep_every=4)(dict(points=scan.points.copy()))['points']
    expected = scan.points[scan.ring % 4 == 0]
    assert abs(len(kept) - len(expected)) <= 0.001 * len(scan.points)
    assert len(np.unique(beam_index(kept[:, :3].astype(np.float64), hdl64_elevations()))) == 16
