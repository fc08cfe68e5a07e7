"""Exact box geometry: polygon clipping, rotated IoU, points in boxes, NMS (numpy and torch)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from omnifuse.errors import ShapeError
from omnifuse.structures import geometry as geo
from omnifuse.structures import geometry_torch as geo_t
from omnifuse.structures.geometry import (
    bev_corners,
    box_corners,
    box_intersection_bev,
    box_iou_3d,
    box_iou_3d_aligned,
    box_iou_bev,
    box_iou_bev_aligned,
    iou_2d,
    nms_bev,
    points_in_boxes,
    polygon_intersection_area,
)

SETTINGS = settings(max_examples=100, deadline=None)

coord = st.floats(-10, 10, allow_nan=False)
size = st.floats(0.2, 5, allow_nan=False)
yaw = st.floats(-math.pi, math.pi, allow_nan=False, exclude_max=True)
box = st.tuples(coord, coord, st.floats(-3, 3), size, size, size, yaw).map(
    lambda t: np.array(t, dtype=np.float64))
boxes = st.lists(box, min_size=1, max_size=8).map(np.stack)


def _box(x: float, y: float, z: float, dx: float, dy: float, dz: float, yaw_: float = 0.0) -> np.ndarray:
    return np.array([[x, y, z, dx, dy, dz, yaw_]], dtype=np.float64)


def _rigid(b: np.ndarray, theta: float, t: tuple[float, float, float]) -> np.ndarray:
    """Rotate boxes about z by theta, then translate by t."""
    c, s = math.cos(theta), math.sin(theta)
    out = b.copy()
    out[:, 0] = c * b[:, 0] - s * b[:, 1] + t[0]
    out[:, 1] = s * b[:, 0] + c * b[:, 1] + t[1]
    out[:, 2] = b[:, 2] + t[2]
    out[:, 6] = geo.wrap_angle(b[:, 6] + theta)
    return out


# ---------------------------------------------------------------- properties (hypothesis)

@SETTINGS
@given(boxes, boxes)
def test_iou_is_symmetric_and_in_unit_interval(a: np.ndarray, b: np.ndarray) -> None:
    for fn in (box_iou_bev, box_iou_3d):
        ab, ba = fn(a, b), fn(b, a)
        assert ab.shape == (len(a), len(b))
        assert np.all(ab >= 0) and np.all(ab <= 1)
        np.testing.assert_allclose(ab, ba.T, atol=1e-12)
    inter = box_intersection_bev(a, b)
    assert np.all(inter <= np.minimum(a[:, None, 3] * a[:, None, 4], b[None, :, 3] * b[None, :, 4]) + 1e-9)


@SETTINGS
@given(boxes)
def test_identical_boxes_have_iou_one(a: np.ndarray) -> None:
    np.testing.assert_allclose(np.diag(box_iou_bev(a, a)), 1.0, atol=1e-9)
    np.testing.assert_allclose(np.diag(box_iou_3d(a, a)), 1.0, atol=1e-9)
    np.testing.assert_allclose(box_iou_bev_aligned(a, a), 1.0, atol=1e-9)
    np.testing.assert_allclose(box_iou_3d_aligned(a, a), 1.0, atol=1e-9)


@SETTINGS
@given(boxes, boxes, yaw, coord, coord, st.floats(-2, 2))
def test_iou_is_invariant_under_a_common_rigid_motion(a: np.ndarray, b: np.ndarray, theta: float,
                                                     tx: float, ty: float, tz: float) -> None:
    a2, b2 = _rigid(a, theta, (tx * 10, ty * 10, tz)), _rigid(b, theta, (tx * 10, ty * 10, tz))
    np.testing.assert_allclose(box_iou_bev(a2, b2), box_iou_bev(a, b), atol=1e-9)
    np.testing.assert_allclose(box_iou_3d(a2, b2), box_iou_3d(a, b), atol=1e-9)


@SETTINGS
@given(boxes, boxes, yaw)
def test_boxes_translated_far_apart_do_not_overlap(a: np.ndarray, b: np.ndarray, direction: float) -> None:
    b = b.copy()
    b[:, 0] += 100 * math.cos(direction)
    b[:, 1] += 100 * math.sin(direction)
    assert np.all(box_iou_bev(a, b) == 0)
    assert np.all(box_intersection_bev(a, b) == 0)


@SETTINGS
@given(boxes, boxes)
def test_aligned_iou_is_the_diagonal_of_the_pairwise_iou(a: np.ndarray, b: np.ndarray) -> None:
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    np.testing.assert_allclose(box_iou_bev_aligned(a, b), np.diag(box_iou_bev(a, b)), atol=1e-12)
    np.testing.assert_allclose(box_iou_3d_aligned(a, b), np.diag(box_iou_3d(a, b)), atol=1e-12)


# ---------------------------------------------------------------- hand-computed cases

def test_unit_squares_offset_by_half_have_iou_one_third() -> None:
    unit = _box(0, 0, 0, 1, 1, 1)
    assert box_iou_bev(unit, _box(0.5, 0, 0, 1, 1, 1))[0, 0] == pytest.approx(1 / 3, abs=1e-12)
    assert box_iou_bev(unit, _box(0, -0.5, 0, 1, 1, 1))[0, 0] == pytest.approx(1 / 3, abs=1e-12)


def test_square_rotated_45_degrees() -> None:
    square = _box(0, 0, 0, 1, 1, 1)
    diamond = _box(0, 0, 0, 1, 1, 1, math.pi / 4)
    assert box_iou_bev(diamond, diamond)[0, 0] == pytest.approx(1.0, abs=1e-12)
    # The overlap of a unit square and the same square turned 45° is a regular octagon of area
    # 2(sqrt2 - 1): the square loses four right triangles with legs 1 - sqrt2/2.
    octagon = 2 * (math.sqrt(2) - 1)
    assert box_intersection_bev(square, diamond)[0, 0] == pytest.approx(octagon, abs=1e-12)
    assert box_iou_bev(square, diamond)[0, 0] == pytest.approx(octagon / (2 - octagon), abs=1e-12)


def test_3d_iou_with_half_z_overlap_is_one_third() -> None:
    a, b = _box(1, 2, 0, 2, 1, 2, 0.3), _box(1, 2, 1, 2, 1, 2, 0.3)
    assert box_iou_bev(a, b)[0, 0] == pytest.approx(1.0, abs=1e-12)
    assert box_iou_3d(a, b)[0, 0] == pytest.approx(1 / 3, abs=1e-12)
    assert box_iou_3d(a, _box(1, 2, 2, 2, 1, 2, 0.3))[0, 0] == 0  # z faces touch


def test_box_inside_another_gives_volume_ratio() -> None:
    big = _box(0, 0, 0, 4, 4, 4, 0.3)
    small = _box(0.2, 0.1, 0.5, 1, 1, 1, 1.1)  # rotated, still fully inside
    assert box_intersection_bev(big, small)[0, 0] == pytest.approx(1.0, abs=1e-12)
    assert box_iou_bev(big, small)[0, 0] == pytest.approx(1 / 16, abs=1e-12)
    assert box_iou_3d(small, big)[0, 0] == pytest.approx(1 / 64, abs=1e-12)


def test_shared_edge_and_corner_touching_give_zero() -> None:
    a = _box(0, 0, 0, 2, 2, 1)
    assert box_iou_bev(a, _box(2, 0, 0, 2, 2, 1))[0, 0] == pytest.approx(0.0, abs=1e-12)
    assert box_iou_bev(a, _box(2, 2, 0, 2, 2, 1))[0, 0] == pytest.approx(0.0, abs=1e-12)
    # Rotated 90°: the footprint is the same square.
    assert box_iou_bev(a, _box(0, 0, 0, 2, 2, 1, math.pi / 2))[0, 0] == pytest.approx(1.0, abs=1e-12)
    # Partly shared edge: a 2x2 and a 1x1 whose edge lies on a's edge, inside it.
    assert box_intersection_bev(a, _box(0.5, 0, 0, 1, 1, 1))[0, 0] == pytest.approx(1.0, abs=1e-12)


def test_degenerate_zero_size_boxes_give_zero_not_nan() -> None:
    a = _box(0, 0, 0, 2, 2, 2)
    for degenerate in (_box(0, 0, 0, 0, 0, 0), _box(0, 0, 0, 0, 1, 1), _box(0.1, 0.2, 0, 1, 0, 1, 0.4),
                       _box(0, 0, 0, 1, 1, 0)):
        for fn in (box_iou_bev, box_iou_3d, box_intersection_bev):
            for x, y in ((a, degenerate), (degenerate, a), (degenerate, degenerate)):
                value = fn(x, y)
                assert np.isfinite(value).all()
                if fn is not box_iou_3d and degenerate[0, 3] * degenerate[0, 4] > 0:
                    continue  # a flat (dz = 0) box still has a BEV footprint
                assert value[0, 0] == pytest.approx(0.0, abs=1e-12)


def test_polygon_intersection_accepts_either_orientation() -> None:
    rng = np.random.default_rng(3)
    b = np.c_[rng.uniform(-1, 1, (40, 2)), np.zeros(40), rng.uniform(0.5, 2, (40, 3)), rng.uniform(-3, 3, 40)]
    c = np.c_[rng.uniform(-1, 1, (40, 2)), np.zeros(40), rng.uniform(0.5, 2, (40, 3)), rng.uniform(-3, 3, 40)]
    pa, pb = bev_corners(b), bev_corners(c)
    ref = polygon_intersection_area(pa, pb)
    assert (ref > 0).sum() > 20
    for x, y in ((pa[:, ::-1], pb), (pa, pb[:, ::-1]), (pa[:, ::-1], pb[:, ::-1]), (pb, pa)):
        np.testing.assert_allclose(polygon_intersection_area(x, y), ref, atol=1e-12)
    # Starting vertex does not matter either.
    rolled = polygon_intersection_area(np.roll(pa, 1, 1), np.roll(pb, 2, 1))
    np.testing.assert_allclose(rolled, ref, atol=1e-12)


def _grid_area(poly_a: np.ndarray, poly_b: np.ndarray, n: int) -> tuple[float, np.ndarray]:
    """Midpoint-grid estimate of |a ∩ b| for two convex quads (half-plane tests, no clipping).

    Returns the estimate and the (2,) cell size.
    """
    lo = np.maximum(poly_a.min(0), poly_b.min(0))
    hi = np.minimum(poly_a.max(0), poly_b.max(0))
    if np.any(hi <= lo):
        return 0.0, np.zeros(2)
    h = (hi - lo) / n
    gx = lo[0] + h[0] * (np.arange(n) + 0.5)
    gy = lo[1] + h[1] * (np.arange(n) + 0.5)
    pts = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)

    def inside(poly: np.ndarray) -> np.ndarray:
        edges = np.roll(poly, -1, 0) - poly
        side = edges[None, :, 0] * (pts[:, None, 1] - poly[None, :, 1]) - edges[None, :, 1] * (
            pts[:, None, 0] - poly[None, :, 0])
        return np.all(side >= 0, 1) | np.all(side <= 0, 1)

    return float((inside(poly_a) & inside(poly_b)).sum() * h[0] * h[1]), h


def test_polygon_clipping_matches_an_independent_grid_estimate() -> None:
    rng = np.random.default_rng(7)
    a = np.c_[rng.uniform(-1, 1, (40, 2)), np.zeros(40), rng.uniform(0.3, 3, (40, 3)), rng.uniform(-3, 3, 40)]
    b = np.c_[rng.uniform(-1, 1, (40, 2)), np.zeros(40), rng.uniform(0.3, 3, (40, 3)), rng.uniform(-3, 3, 40)]
    pa, pb = bev_corners(a), bev_corners(b)
    exact = polygon_intersection_area(pa, pb)
    assert (exact > 0.1).sum() > 20
    for k in range(len(a)):
        est, h = _grid_area(pa[k], pb[k], 300)
        # Only cells that the boundary of the (convex) intersection crosses can be misclassified; a
        # polyline of length L crosses at most L/hx + L/hy + (segments) cells, and L <= either perimeter.
        perimeter = 2 * min(a[k, 3] + a[k, 4], b[k, 3] + b[k, 4])
        bound = (perimeter / h.min() * 2 + 8) * h[0] * h[1] if h.min() > 0 else 0.0
        assert abs(est - exact[k]) <= bound + 1e-12, (k, est, exact[k], bound)
        # The worst case above is loose; boundary errors mostly cancel, so in practice the estimate is
        # much closer (a wrong vertex or a missed clip would be off by far more than this).
        assert abs(est - exact[k]) <= 5e-3 * exact[k] + 1e-4, (k, est, exact[k])


def test_iou_2d_uses_continuous_areas() -> None:
    others = np.array([[1, 1, 3, 3], [5, 5, 6, 6], [0, 0, 2, 2], [0.5, 0.5, 1.5, 1.5]])
    out = iou_2d(np.array([[0, 0, 2, 2]]), others)
    np.testing.assert_allclose(out, [[1 / 7, 0, 1, 0.25]], atol=1e-15)
    assert iou_2d(np.zeros((0, 4)), np.array([[0, 0, 1, 1]])).shape == (0, 1)
    assert iou_2d(np.array([[1, 1, 1, 1]]), np.array([[1, 1, 1, 1]]))[0, 0] == 0  # empty union


def test_bad_shapes_raise_shape_errors_naming_the_argument() -> None:
    with pytest.raises(ShapeError, match='boxes_b'):
        box_iou_bev(_box(0, 0, 0, 1, 1, 1), np.zeros((2, 5)))
    with pytest.raises(ShapeError, match='same number of rows'):
        box_iou_3d_aligned(np.zeros((2, 7)), np.zeros((3, 7)))
    with pytest.raises(ShapeError, match=r'\(P, >=3\)'):
        points_in_boxes(np.zeros((4, 2)), np.zeros((1, 7)))
    with pytest.raises(ShapeError, match='scores'):
        nms_bev(np.zeros((3, 7)), np.zeros(2), 0.5)


def test_empty_inputs_give_empty_outputs() -> None:
    empty = np.zeros((0, 7))
    assert box_iou_bev(empty, _box(0, 0, 0, 1, 1, 1)).shape == (0, 1)
    assert box_iou_3d(_box(0, 0, 0, 1, 1, 1), empty).shape == (1, 0)
    assert points_in_boxes(np.zeros((5, 3)), empty).shape == (5, 0)
    assert nms_bev(empty, np.zeros(0), 0.5).dtype == np.int64
    assert len(nms_bev(empty, np.zeros(0), 0.5)) == 0


# ---------------------------------------------------------------- points in boxes

def test_points_in_boxes_hand_cases_include_the_boundary() -> None:
    b = np.array([[0, 0, 0, 4, 2, 2, 0], [10, 0, 1, 4, 2, 2, math.pi / 2]], dtype=np.float64)
    pts = np.array([
        [0, 0, 0], [2, 1, 1], [-2, -1, -1],  # centre and two corners of box 0
        [2.001, 0, 0], [0, 1.001, 0], [0, 0, 1.001],  # just outside box 0
        [10, 1.9, 1], [10.9, 0, 1], [10, 2.1, 1], [11.1, 0, 1],  # box 1 is turned: long side along y
    ])
    inside = points_in_boxes(np.c_[pts, np.ones(len(pts))], b)  # extra columns are ignored
    expected = np.zeros((len(pts), 2), dtype=bool)
    expected[[0, 1, 2], 0] = True
    expected[[6, 7], 1] = True
    np.testing.assert_array_equal(inside, expected)


def _points_in_boxes_brute(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    out = np.zeros((len(points), len(boxes)), dtype=bool)
    for k, (x, y, z, dx, dy, dz, t) in enumerate(boxes):
        rot = np.array([[math.cos(t), -math.sin(t), 0], [math.sin(t), math.cos(t), 0], [0, 0, 1]])
        local = (points[:, :3] - [x, y, z]) @ rot  # rows times R = R^T applied to each point
        out[:, k] = np.all(np.abs(local) <= np.array([dx, dy, dz]) / 2, 1)
    return out


def test_points_in_boxes_matches_a_brute_force_local_frame_transform(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(11)
    b = np.c_[rng.uniform(-8, 8, (20, 2)), rng.uniform(-1, 1, 20), rng.uniform(0.5, 5, (20, 3)),
              rng.uniform(-math.pi, math.pi, 20)]
    pts = rng.uniform([-10, -10, -3], [10, 10, 3], (5000, 3))
    expected = _points_in_boxes_brute(pts, b)
    assert expected.sum() > 100
    np.testing.assert_array_equal(points_in_boxes(pts, b), expected)
    monkeypatch.setattr(geo, '_POINT_BLOCK', 333)  # force many blocks
    np.testing.assert_array_equal(points_in_boxes(pts, b), expected)


def test_points_in_boxes_handles_a_full_scan() -> None:
    rng = np.random.default_rng(0)
    pts = np.c_[rng.uniform([0, -40, -3], [70, 40, 1], (120_000, 3)), rng.random(120_000)].astype(np.float32)
    b = np.c_[rng.uniform(0, 70, 50), rng.uniform(-40, 40, 50), rng.uniform(-2, 0, 50),
              rng.uniform(3, 5, 50), rng.uniform(1.5, 2, 50), rng.uniform(1.4, 1.8, 50),
              rng.uniform(-3, 3, 50)]
    inside = points_in_boxes(pts, b)
    assert inside.shape == (120_000, 50) and inside.dtype == bool
    # Expected count ~ P · volume / scan volume; the boxes can be clipped by the scan edges.
    expected = len(pts) * np.prod(b[:, 3:6], 1) / (70 * 80 * 4)
    assert np.all(inside.sum(0) <= expected * 1.5 + 10)
    assert inside.sum() > 0.5 * expected.sum()


# ---------------------------------------------------------------- NMS

def test_nms_hand_cases() -> None:
    b = np.concatenate([_box(0, 0, 0, 4, 2, 1), _box(0.4, 0, 0, 4, 2, 1), _box(10, 0, 0, 4, 2, 1),
                        _box(10, 0.3, 0, 4, 2, 1)])
    iou01 = box_iou_bev(b[:1], b[1:2])[0, 0]  # 3.6 / 4.4
    iou23 = box_iou_bev(b[2:3], b[3:4])[0, 0]  # 1.7 / 2.3
    scores = np.array([0.9, 0.95, 0.8, 0.7])
    np.testing.assert_array_equal(nms_bev(b, scores, 0.5), [1, 2])
    np.testing.assert_array_equal(nms_bev(b, scores, (iou01 + iou23) / 2), [1, 2, 3])  # only 0 suppressed
    np.testing.assert_array_equal(nms_bev(b, scores, 0.95), [1, 0, 2, 3])
    np.testing.assert_array_equal(nms_bev(b, scores, 0.5, max_out=1), [1])
    assert nms_bev(b, scores, 0.5).dtype == np.int64
    # Ties keep input order; a suppressed box does not suppress others (chain a-b-c).
    chain = np.concatenate([_box(0, 0, 0, 2, 2, 1), _box(1.2, 0, 0, 2, 2, 1), _box(2.4, 0, 0, 2, 2, 1)])
    np.testing.assert_array_equal(nms_bev(chain, np.array([0.5, 0.5, 0.5]), 0.2), [0, 2])


def _nms_brute(b: np.ndarray, scores: np.ndarray, thr: float) -> list[int]:
    iou = box_iou_bev(b, b)
    keep: list[int] = []
    for i in np.argsort(-scores, kind='stable'):
        if all(iou[i, k] <= thr for k in keep):
            keep.append(int(i))
    return keep


@SETTINGS
@given(st.lists(box, min_size=1, max_size=25).map(np.stack), st.floats(0.0, 0.9), st.integers(0, 2**31 - 1))
def test_nms_matches_a_brute_force_greedy(b: np.ndarray, thr: float, seed: int) -> None:
    b = b.copy()
    b[:, :2] /= 3  # crowd them so that suppression happens
    scores = np.random.default_rng(seed).random(len(b))
    keep = nms_bev(b, scores, thr)
    assert keep.tolist() == _nms_brute(b, scores, thr)
    assert np.all(np.diff(scores[keep]) <= 0)


@pytest.mark.parametrize('max_out', [1, 7, 20, 60])
@pytest.mark.parametrize('spread', [2.0, 40.0])
def test_nms_with_max_out_equals_the_first_survivors_of_the_full_pass(max_out: int, spread: float) -> None:
    # 400 boxes: nms_bev tries the best 4 * max_out ranks first and widens when too few survive there (crowded
    # boxes, spread 2 m: most suppressed), so both branches must give the full pass's first survivors
    rng = np.random.default_rng(max_out)
    b = np.c_[rng.uniform(-spread, spread, (400, 2)), rng.uniform(-1, 1, 400), rng.uniform(0.5, 4, (400, 3)),
              rng.uniform(-math.pi, math.pi, 400)]
    scores = rng.random(400)
    full = _nms_brute(b, scores, 0.1)
    assert nms_bev(b, scores, 0.1, max_out=max_out).tolist() == full[:max_out]


# ---------------------------------------------------------------- torch counterparts

def _random_boxes(rng: np.random.Generator, n: int, spread: float = 5.0) -> np.ndarray:
    return np.c_[rng.uniform(-spread, spread, (n, 3)), rng.uniform(0.3, 4, (n, 3)),
                 rng.uniform(-math.pi, math.pi, n)]


def test_torch_versions_agree_with_numpy_in_float64() -> None:
    rng = np.random.default_rng(5)
    a, b = _random_boxes(rng, 60), _random_boxes(rng, 45)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    ref_bev = box_iou_bev(a, b)
    assert (ref_bev > 0).sum() > 100
    np.testing.assert_allclose(geo_t.box_iou_bev_torch(ta, tb).numpy(), ref_bev, atol=1e-6)
    np.testing.assert_allclose(geo_t.box_iou_3d_torch(ta, tb).numpy(), box_iou_3d(a, b), atol=1e-6)
    np.testing.assert_allclose(geo_t.box_intersection_bev_torch(ta, tb).numpy(), box_intersection_bev(a, b),
                               atol=1e-6)
    np.testing.assert_allclose(geo_t.box_iou_3d_aligned_torch(ta[:45], tb).numpy(),
                               box_iou_3d_aligned(a[:45], b), atol=1e-6)
    np.testing.assert_allclose(geo_t.box_iou_bev_aligned_torch(ta[:45], tb).numpy(),
                               box_iou_bev_aligned(a[:45], b), atol=1e-6)
    np.testing.assert_allclose(geo_t.box_corners_torch(ta).numpy(), box_corners(a), atol=1e-12)
    pts = rng.uniform(-6, 6, (3000, 4))
    np.testing.assert_array_equal(geo_t.points_in_boxes_torch(torch.from_numpy(pts), ta).numpy(),
                                  points_in_boxes(pts, a))
    scores = rng.random(60)
    for thr in (0.01, 0.3, 0.7):
        kept = geo_t.nms_bev_torch(ta, torch.from_numpy(scores), thr)
        assert kept.dtype == torch.int64
        assert kept.tolist() == nms_bev(a, scores, thr).tolist()
    assert geo_t.nms_bev_torch(ta, torch.from_numpy(scores), 0.3, max_out=3).tolist() == \
        nms_bev(a, scores, 0.3, max_out=3).tolist()


def test_torch_versions_work_in_float32() -> None:
    rng = np.random.default_rng(6)
    a, b = _random_boxes(rng, 40), _random_boxes(rng, 30)
    ta, tb = torch.from_numpy(a).float(), torch.from_numpy(b).float()
    iou = geo_t.box_iou_bev_torch(ta, tb)
    assert iou.dtype == torch.float32 and iou.device == ta.device
    np.testing.assert_allclose(iou.numpy(), box_iou_bev(a, b), atol=1e-4)
    np.testing.assert_allclose(geo_t.box_iou_3d_torch(ta, tb).numpy(), box_iou_3d(a, b), atol=1e-4)
    np.testing.assert_allclose(torch.diagonal(geo_t.box_iou_3d_torch(ta, ta)).numpy(), 1.0, atol=1e-5)
    np.testing.assert_allclose(geo_t.box_iou_3d_aligned_torch(ta, ta).numpy(), 1.0, atol=1e-5)
    pts = torch.from_numpy(rng.uniform(-6, 6, (2000, 3))).float()
    inside = geo_t.points_in_boxes_torch(pts, ta)
    ref = points_in_boxes(pts.double().numpy(), ta.double().numpy())
    assert inside.shape == (2000, 40) and (inside.numpy() != ref).sum() <= 2  # float32 rounding at faces
    assert geo_t.box_corners_torch(ta).shape == (40, 8, 3)


def test_torch_nms_and_iou_handle_empty_and_bad_input() -> None:
    empty = torch.zeros(0, 7)
    assert geo_t.box_iou_bev_torch(empty, torch.zeros(3, 7)).shape == (0, 3)
    kept = geo_t.nms_bev_torch(empty, torch.zeros(0), 0.5)
    assert kept.shape == (0,) and kept.dtype == torch.int64
    with pytest.raises(ShapeError, match='boxes_a'):
        geo_t.box_iou_3d_torch(torch.zeros(2, 6), torch.zeros(2, 7))
