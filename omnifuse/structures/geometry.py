"""Pure geometry on 3D boxes `(x, y, z, dx, dy, dz, yaw)` (see boxes3d.py for the convention).

Corner order of `box_corners` (LiDAR frame, seen from above, x forward):

        4 -------- 5          top face:    4..7 (z = z + dz/2)
       /|         /|          bottom face: 0..3 (z = z - dz/2)
      7 -------- 6 .          0, 4: front-left   (+dx/2, +dy/2)
      | |        | |          1, 5: front-right  (+dx/2, -dy/2)
      . 0 -------- 1          2, 6: rear-right   (-dx/2, -dy/2)
      |/         |/           3, 7: rear-left    (-dx/2, +dy/2)
      3 -------- 2

Functions take numpy arrays (float64 recommended) unless their name ends in `_torch`
(those live in geometry_torch.py).

Overlaps are exact: the BEV footprints are intersected by convex polygon clipping
(Sutherland-Hodgman), vectorised over box pairs, and only pairs whose axis-aligned bounding
rectangles touch are clipped at all. IoU of identical boxes is 1 up to float rounding, and a pair
with zero union (two degenerate boxes) has IoU 0.
"""

from __future__ import annotations

import numpy as np

from omnifuse.errors import ShapeError

__all__ = ['box_corners', 'bev_corners', 'wrap_angle', 'rotation_from_euler', 'check_boxes',
           'polygon_intersection_area', 'box_intersection_bev', 'box_iou_bev', 'box_iou_3d', 'box_iou_bev_aligned',
           'box_iou_3d_aligned', 'iou_2d', 'points_in_boxes', 'nms_bev']

_BEV_SIGNS = np.array([[0.5, 0.5], [0.5, -0.5], [-0.5, -0.5], [-0.5, 0.5]])


def check_boxes(boxes: np.ndarray, name: str = 'boxes') -> np.ndarray:
    """Return `boxes` as a (N, 7) array, raising ShapeError with `name` otherwise."""
    arr = np.asarray(boxes)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, 7)
    if arr.ndim != 2 or arr.shape[1] != 7:
        raise ShapeError(f'{name}: expected (N, 7) boxes (x, y, z, dx, dy, dz, yaw), got shape {arr.shape}')
    return arr


def wrap_angle(angle: np.ndarray | float) -> np.ndarray:
    """Wrap angles [rad] to [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


def rotation_from_euler(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """(3, 3) rotation Rz(yaw) . Ry(pitch) . Rx(roll) [rad] (KITTI's oxts convention, and the simulator's rig)."""
    cr, sr, cp, sp, cy, sy = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    Rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    Ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    Rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    return Rz @ Ry @ Rx


def bev_corners(boxes: np.ndarray) -> np.ndarray:
    """BEV footprint corners of each box.

    Args:
        boxes: (N, 7) boxes.

    Returns:
        (N, 4, 2) corners (x, y) in the order front-left, front-right, rear-right, rear-left,
        which is clockwise seen from above (+z).
    """
    boxes = check_boxes(boxes)
    local = _BEV_SIGNS[None] * boxes[:, None, 3:5]  # (N, 4, 2)
    c, s = np.cos(boxes[:, 6]), np.sin(boxes[:, 6])
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # (N, 2, 2)
    return np.einsum('nij,nkj->nki', rot, local) + boxes[:, None, 0:2]


def box_corners(boxes: np.ndarray) -> np.ndarray:
    """The eight corners of each box, in the order drawn in the module docstring.

    Args:
        boxes: (N, 7) boxes.

    Returns:
        (N, 8, 3) corners in the boxes' frame.
    """
    boxes = check_boxes(boxes)
    bev = bev_corners(boxes)  # (N, 4, 2)
    z0 = (boxes[:, 2] - boxes[:, 5] / 2)[:, None, None]
    z1 = (boxes[:, 2] + boxes[:, 5] / 2)[:, None, None]
    bottom = np.concatenate([bev, np.broadcast_to(z0, bev.shape[:2] + (1,))], -1)
    top = np.concatenate([bev, np.broadcast_to(z1, bev.shape[:2] + (1,))], -1)
    return np.concatenate([bottom, top], 1)


# ---------------------------------------------------------------------------------------------
# Convex polygon intersection (vectorised Sutherland-Hodgman)
# ---------------------------------------------------------------------------------------------

def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """z-component of the 2D cross product over the last axis."""
    return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]


def _next_index(k: int, v: int, count: np.ndarray) -> np.ndarray:
    """(K, V) index of the vertex after each one in polygons whose first `count` vertices are valid."""
    nxt = np.broadcast_to(np.arange(1, v + 1), (k, v)).copy()
    nxt[nxt >= count[:, None]] = 0
    return nxt


def _signed_area(poly: np.ndarray, count: np.ndarray | None = None) -> np.ndarray:
    """Shoelace signed area (CCW positive) of (K, V, 2) polygons; vertices >= count are ignored."""
    k, v = poly.shape[:2]
    if k == 0 or v == 0:
        return np.zeros(k)
    if count is None:
        return 0.5 * _cross(poly, np.roll(poly, -1, axis=1)).sum(1)
    nxt = poly[np.arange(k)[:, None], _next_index(k, v, count)]
    terms = _cross(poly, nxt)
    terms[np.arange(v)[None] >= count[:, None]] = 0.0
    return 0.5 * terms.sum(1)


def _clip_area(subject: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """Area of subject ∩ clip for (K, 4, 2) convex quads; `clip` must be counter-clockwise.

    Each polygon is kept as its first `count` rows of a (K, V, 2) array; clipping by one edge of `clip`
    emits, per input vertex, the vertex itself (if inside) and the crossing point (if the edge to the
    next vertex crosses the clip line), then compacts the rows. A convex quad clipped four times has
    at most 8 vertices.
    """
    k = len(subject)
    rows = np.arange(k)[:, None]
    poly = subject
    count = np.full(k, subject.shape[1])
    for e in range(clip.shape[1]):
        start = clip[:, e][:, None]  # (K, 1, 2)
        edge = clip[:, (e + 1) % clip.shape[1]][:, None] - start
        v = poly.shape[1]
        valid = np.arange(v)[None] < count[:, None]
        nxt = poly[rows, _next_index(k, v, count)]
        d_cur = _cross(edge, poly - start)  # >= 0: left of (inside) the edge
        d_nxt = _cross(edge, nxt - start)
        in_cur, in_nxt = d_cur >= 0, d_nxt >= 0
        emit_cur = valid & in_cur
        emit_cross = valid & (in_cur != in_nxt)
        # d_cur and d_nxt have strictly different signs where emit_cross, so the denominator is non-zero.
        denom = np.where(emit_cross, d_cur - d_nxt, 1.0)
        t = np.where(emit_cross, d_cur / denom, 0.0)
        cross_pt = poly + t[..., None] * (nxt - poly)
        out = np.stack([poly, cross_pt], 2).reshape(k, 2 * v, 2)
        keep = np.stack([emit_cur, emit_cross], 2).reshape(k, 2 * v)
        slot = np.cumsum(keep, 1) - 1
        count = slot[:, -1] + 1
        poly = np.zeros((k, max(int(count.max(initial=0)), 1), 2))
        r, c = np.nonzero(keep)
        poly[r, slot[r, c]] = out[r, c]
    return np.abs(_signed_area(poly, count))


def polygon_intersection_area(poly_a: np.ndarray, poly_b: np.ndarray) -> np.ndarray:
    """Exact areas of the intersections of pairs of convex quadrilaterals.

    Args:
        poly_a: (N, 4, 2) convex quads, either orientation.
        poly_b: (N, 4, 2) convex quads, either orientation.

    Returns:
        (N,) float64 areas of poly_a[i] ∩ poly_b[i] (0 for touching or degenerate quads).
    """
    a = np.asarray(poly_a, dtype=np.float64)
    b = np.asarray(poly_b, dtype=np.float64)
    if a.ndim != 3 or a.shape[1:] != (4, 2) or b.shape != a.shape:
        raise ShapeError(f'polygon_intersection_area: expected two (N, 4, 2) arrays, '
                         f'got {a.shape} and {b.shape}')
    if len(a) == 0:
        return np.zeros(0)
    origin = a.mean(1, keepdims=True)  # work near the origin: better rounding far from (0, 0)
    a, b = a - origin, b - origin
    area_b_signed = _signed_area(b)
    b = np.where((area_b_signed < 0)[:, None, None], b[:, ::-1], b)  # clip polygon counter-clockwise
    inter = _clip_area(a, b)
    # The true intersection is never larger than either quad; this also makes a degenerate (zero-area)
    # clip quad, whose zero-length edges clip nothing, give 0.
    return np.minimum(inter, np.minimum(np.abs(_signed_area(a)), np.abs(area_b_signed)))


# ---------------------------------------------------------------------------------------------
# Box overlaps
# ---------------------------------------------------------------------------------------------

_PAIR_BLOCK = 1 << 22  # pairs per prefilter block (bounds the (rows, M) mask memory)


def _bev_aabb(corners: np.ndarray) -> np.ndarray:
    """(N, 4) axis-aligned bounds (xmin, ymin, xmax, ymax) of (N, 4, 2) corners."""
    return np.concatenate([corners.min(1), corners.max(1)], 1)


def _candidate_pairs(aabb_a: np.ndarray, aabb_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) whose axis-aligned BEV bounds overlap with positive area."""
    n, m = len(aabb_a), len(aabb_b)
    if n == 0 or m == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows = max(1, _PAIR_BLOCK // m)
    ii, jj = [], []
    for r0 in range(0, n, rows):
        a = aabb_a[r0:r0 + rows, None]
        mask = ((a[..., 0] < aabb_b[None, :, 2]) & (aabb_b[None, :, 0] < a[..., 2])
                & (a[..., 1] < aabb_b[None, :, 3]) & (aabb_b[None, :, 1] < a[..., 3]))
        i, j = np.nonzero(mask)
        ii.append(i + r0)
        jj.append(j)
    return np.concatenate(ii).astype(np.int64), np.concatenate(jj).astype(np.int64)


def _pair_intersections(boxes_a: np.ndarray, boxes_b: np.ndarray, *,
                        upper_only: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse BEV intersections: (i, j, area) for the pairs that can overlap.

    Pairs pass when their axis-aligned bounds overlap and their centres are closer than the sum of
    their bounding-circle radii. `upper_only` keeps only i < j (a set against itself).
    """
    ca, cb = bev_corners(boxes_a), bev_corners(boxes_b)
    i, j = _candidate_pairs(_bev_aabb(ca), _bev_aabb(cb))
    if upper_only:
        keep = i < j
        i, j = i[keep], j[keep]
    reach = np.hypot(boxes_a[i, 3], boxes_a[i, 4]) / 2 + np.hypot(boxes_b[j, 3], boxes_b[j, 4]) / 2
    keep = np.hypot(boxes_a[i, 0] - boxes_b[j, 0], boxes_a[i, 1] - boxes_b[j, 1]) < reach
    i, j = i[keep], j[keep]
    return i, j, polygon_intersection_area(ca[i], cb[j])


def _as_boxes(boxes: np.ndarray, name: str) -> np.ndarray:
    return check_boxes(np.asarray(boxes, dtype=np.float64), name)


def _z_overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Overlap [m] of the z extents of row-aligned (K, 7) boxes."""
    top = np.minimum(a[:, 2] + a[:, 5] / 2, b[:, 2] + b[:, 5] / 2)
    bottom = np.maximum(a[:, 2] - a[:, 5] / 2, b[:, 2] - b[:, 5] / 2)
    return np.maximum(top - bottom, 0.0)


def _ratio(inter: np.ndarray, union: np.ndarray) -> np.ndarray:
    out = np.zeros_like(inter)
    ok = union > 0
    out[ok] = inter[ok] / union[ok]
    return np.clip(out, 0.0, 1.0)


def box_intersection_bev(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """BEV (x-y) intersection areas of rotated boxes.

    Args:
        boxes_a: (N, 7) boxes, LiDAR frame (x, y, dx, dy, yaw are used).
        boxes_b: (M, 7) boxes, same frame.

    Returns:
        (N, M) float64 areas [m^2].
    """
    a, b = _as_boxes(boxes_a, 'boxes_a'), _as_boxes(boxes_b, 'boxes_b')
    out = np.zeros((len(a), len(b)))
    i, j, inter = _pair_intersections(a, b)
    out[i, j] = inter
    return out


def box_iou_bev(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Rotated bird's-eye-view IoU.

    Args:
        boxes_a: (N, 7) boxes, LiDAR frame (x, y, dx, dy, yaw are used).
        boxes_b: (M, 7) boxes, same frame.

    Returns:
        (N, M) float64 IoU in [0, 1].
    """
    a, b = _as_boxes(boxes_a, 'boxes_a'), _as_boxes(boxes_b, 'boxes_b')
    out = np.zeros((len(a), len(b)))
    i, j, inter = _pair_intersections(a, b)
    union = a[i, 3] * a[i, 4] + b[j, 3] * b[j, 4] - inter
    out[i, j] = _ratio(inter, union)
    return out


def box_iou_3d(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Rotated 3D IoU: BEV intersection × z overlap / union of the volumes.

    Args:
        boxes_a: (N, 7) boxes, LiDAR frame (z up).
        boxes_b: (M, 7) boxes, same frame.

    Returns:
        (N, M) float64 IoU in [0, 1].
    """
    a, b = _as_boxes(boxes_a, 'boxes_a'), _as_boxes(boxes_b, 'boxes_b')
    out = np.zeros((len(a), len(b)))
    i, j, inter_bev = _pair_intersections(a, b)
    inter = inter_bev * _z_overlap(a[i], b[j])
    union = np.prod(a[i, 3:6], 1) + np.prod(b[j, 3:6], 1) - inter
    out[i, j] = _ratio(inter, union)
    return out


def _aligned(boxes_a: np.ndarray, boxes_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b = _as_boxes(boxes_a, 'boxes_a'), _as_boxes(boxes_b, 'boxes_b')
    if len(a) != len(b):
        raise ShapeError(f'aligned IoU needs the same number of rows, got {len(a)} and {len(b)}')
    return a, b, polygon_intersection_area(bev_corners(a), bev_corners(b))


def box_iou_bev_aligned(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Row-wise rotated BEV IoU of (N, 7) and (N, 7) boxes -> (N,) float64."""
    a, b, inter = _aligned(boxes_a, boxes_b)
    return _ratio(inter, a[:, 3] * a[:, 4] + b[:, 3] * b[:, 4] - inter)


def box_iou_3d_aligned(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Row-wise rotated 3D IoU of (N, 7) and (N, 7) boxes -> (N,) float64."""
    a, b, inter_bev = _aligned(boxes_a, boxes_b)
    inter = inter_bev * _z_overlap(a, b)
    return _ratio(inter, np.prod(a[:, 3:6], 1) + np.prod(b[:, 3:6], 1) - inter)


def iou_2d(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """IoU of axis-aligned image boxes, continuous areas (no +1 pixel convention).

    Args:
        boxes_a: (N, 4) boxes (x1, y1, x2, y2) [px].
        boxes_b: (M, 4) boxes (x1, y1, x2, y2) [px].

    Returns:
        (N, M) float64 IoU in [0, 1] (0 where the union is empty).
    """
    a = np.asarray(boxes_a, dtype=np.float64)
    b = np.asarray(boxes_b, dtype=np.float64)
    a = a.reshape(0, 4) if a.size == 0 else a
    b = b.reshape(0, 4) if b.size == 0 else b
    if a.ndim != 2 or a.shape[1] != 4 or b.ndim != 2 or b.shape[1] != 4:
        raise ShapeError(f'iou_2d: expected (N, 4) and (M, 4) boxes (x1, y1, x2, y2), '
                         f'got {a.shape} and {b.shape}')
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    return _ratio(inter, area_a[:, None] + area_b[None, :] - inter)


# ---------------------------------------------------------------------------------------------
# Points in boxes, NMS
# ---------------------------------------------------------------------------------------------

_POINT_BLOCK = 1 << 20  # point-box pairs per block (~ 8 MB per float64 temporary)


def points_in_boxes(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Which points lie inside which boxes (boundary included).

    A point is inside when its coordinates in the box frame satisfy |x| <= dx/2, |y| <= dy/2 and
    |z| <= dz/2. Work is done in blocks of points, so (P=120k, N=50) needs only a few MB besides
    the (P, N) result.

    Args:
        points: (P, >=3) points in the boxes' frame (only x, y, z are used).
        boxes: (N, 7) boxes.

    Returns:
        (P, N) bool.
    """
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] < 3:
        raise ShapeError(f'points_in_boxes: expected (P, >=3) points, got {pts.shape}')
    b = _as_boxes(boxes, 'boxes')
    out = np.zeros((len(pts), len(b)), dtype=bool)
    if len(pts) == 0 or len(b) == 0:
        return out
    c, s = np.cos(b[:, 6]), np.sin(b[:, 6])
    half = b[:, 3:6] / 2
    step = max(1, _POINT_BLOCK // len(b))
    for p0 in range(0, len(pts), step):
        p = pts[p0:p0 + step, :3].astype(np.float64)
        d = p[:, None, :] - b[None, :, :3]  # (p, N, 3)
        inside = np.abs(d[..., 2]) <= half[:, 2]
        lx = d[..., 0] * c + d[..., 1] * s
        inside &= np.abs(lx) <= half[:, 0]
        ly = -d[..., 0] * s + d[..., 1] * c
        inside &= np.abs(ly) <= half[:, 1]
        out[p0:p0 + step] = inside
    return out


def _greedy_nms(n: int, first: np.ndarray, second: np.ndarray, max_out: int | None) -> np.ndarray:
    """Greedy suppression over ranks 0..n-1 (0 = best).

    `first[k] < second[k]` are rank pairs whose IoU exceeds the threshold. Returns the kept ranks.
    """
    order = np.argsort(first, kind='stable')
    first, second = first[order], second[order]
    indptr = np.searchsorted(first, np.arange(n + 1))
    suppressed = np.zeros(n, dtype=bool)
    keep: list[int] = []
    limit = n if max_out is None else max(0, int(max_out))
    for r in range(n):
        if len(keep) >= limit:
            break
        if suppressed[r]:
            continue
        keep.append(r)
        suppressed[second[indptr[r]:indptr[r + 1]]] = True
    return np.asarray(keep, dtype=np.int64)


def nms_bev(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, *,
            max_out: int | None = None) -> np.ndarray:
    """Greedy non-maximum suppression with rotated BEV IoU.

    A box is dropped when its BEV IoU with a kept, higher-scoring box is > `iou_threshold`. Ties in
    score keep the input order.

    Args:
        boxes: (N, 7) boxes.
        scores: (N,) scores.
        iou_threshold: suppression threshold.
        max_out: keep at most this many (None: no limit).

    Returns:
        (K,) int64 indices into `boxes`, by descending score.
    """
    b = _as_boxes(boxes, 'boxes')
    sc = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(sc) != len(b):
        raise ShapeError(f'nms_bev: {len(b)} boxes but {len(sc)} scores')
    rank_to_index = np.argsort(-sc, kind='stable')
    ranked = b[rank_to_index]
    # The greedy pass decides rank r from the ranks above it only, so when `max_out` boxes survive among the
    # best `prefix` ranks the rest cannot change the result: try a prefix first (the pairs cost O(prefix²)).
    prefix = len(b) if max_out is None else min(len(b), max(64, 4 * int(max_out)))
    while True:
        top = ranked[:prefix]
        i, j, inter = _pair_intersections(top, top, upper_only=True)
        iou = _ratio(inter, top[i, 3] * top[i, 4] + top[j, 3] * top[j, 4] - inter)
        over = iou > iou_threshold
        kept = _greedy_nms(prefix, i[over], j[over], max_out)
        if prefix == len(b) or len(kept) >= int(max_out or 0):
            return rank_to_index[kept].astype(np.int64)
        prefix = min(len(b), 4 * prefix)
