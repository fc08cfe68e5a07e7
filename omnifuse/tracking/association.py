"""Affinities between predicted track boxes and detections, and the assignment on them.

Affinity metrics (larger is better):
    iou_3d:   rotated 3D IoU, in [0, 1].
    giou_3d:  generalised 3D IoU (Rezatofighi et al., CVPR 2019, lifted to 3D as in AB3DMOT):
              IoU - (C - U) / C with U the union volume and C the volume of the smallest enclosing shape:
              the convex hull of both BEV footprints times the enclosing z extent. In [-1, 1]; unlike the IoU
              it still ranks pairs that do not overlap (a fast object, a late detection).
    giou_bev: the same on the BEV footprints alone.
    distance: minus the distance between the box centres [m].

Pairs further apart than a gate get the metric's minimum and never match.
Boxes are (N, 7) rows (x, y, z, dx, dy, dz, yaw) in one frame (omnifuse.structures.boxes3d).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from omnifuse.structures import geometry

__all__ = ['convex_hull_area', 'giou_3d', 'giou_bev', 'affinity', 'assign', 'METRIC_MIN']

METRIC_MIN = {'iou_3d': 0.0, 'giou_3d': -1.0, 'giou_bev': -1.0, 'distance': -1e6}


def convex_hull_area(points: np.ndarray) -> np.ndarray:
    """Area of the convex hull of each point set.

    An ordered pair (i, j) is a counter-clockwise hull edge when no point lies to its right and every point
    on its line lies between i and j; duplicates count once (the lowest index). The area is the shoelace
    sum over those edges. Vectorised over the sets: O(P^3) per set, meant for small P (8 corners).

    Args:
        points: (S, P, 2) point sets.

    Returns:
        (S,) float64 areas.
    """
    pts = np.asarray(points, dtype=np.float64)
    s, p = pts.shape[:2]
    if s == 0:
        return np.zeros(0)
    pts = pts - pts.mean(1, keepdims=True)
    scale = np.abs(pts).max(axis=(1, 2)) + 1e-12  # (S,): work in units of the set's size
    pts = pts / scale[:, None, None]
    tol = 1e-9
    d = pts[:, None, :, :] - pts[:, :, None, :]  # d[s, i, j] = p_j - p_i   (S, P, P, 2)
    dist2 = (d ** 2).sum(-1)  # (S, P, P)
    same = dist2 <= tol ** 2
    idx = np.arange(p)
    duplicate = (same & (idx[None, :, None] > idx[None, None, :])).any(2)  # an earlier point equals it  (S, P)
    # cross[s, i, j, k] = cross(p_j - p_i, p_k - p_i) >= 0: k is left of (or on) the line i -> j
    cross = d[:, :, :, None, 0] * d[:, :, None, :, 1] - d[:, :, :, None, 1] * d[:, :, None, :, 0]
    t = (d[:, :, :, None, :] * d[:, :, None, :, :]).sum(-1) / np.maximum(dist2, tol ** 2)[..., None]
    collinear = np.abs(cross) <= tol
    between = (t >= -tol) & (t <= 1 + tol)
    ok = (cross >= -tol) & (~collinear | between | duplicate[:, None, None, :])
    edge = ok.all(3) & ~same & ~duplicate[:, :, None] & ~duplicate[:, None, :]  # (S, P, P)
    shoelace = pts[:, :, None, 0] * pts[:, None, :, 1] - pts[:, :, None, 1] * pts[:, None, :, 0]
    return 0.5 * (shoelace * edge).sum((1, 2)) * scale ** 2


def _below_floor(a: np.ndarray, b: np.ndarray, floor: float) -> np.ndarray:
    """(N, M) pairs whose GIoU (BEV or 3D) is provably < `floor`, so the hull need not be computed.

    Disjoint footprints (centre distance d > the sum of the half-diagonals) have IoU 0 and GIoU = U/E - 1.
    The enclosing hull holds each box and, for each box, the triangle from its chord through its centre
    (at least as long as its short side w) to the other centre: E >= max(area_a, area_b, max(w_a, w_b) d / 2).
    In 3D, U <= area_a h_a + area_b h_b and E >= hull max(h_a, h_b), so the same bound U/E <= (area_a +
    area_b) / hull holds.
    """
    d = np.linalg.norm(a[:, None, :2] - b[None, :, :2], axis=-1)
    radius_a, radius_b = np.hypot(a[:, 3], a[:, 4]) / 2, np.hypot(b[:, 3], b[:, 4]) / 2
    area_a, area_b = a[:, 3] * a[:, 4], b[:, 3] * b[:, 4]
    w = np.maximum(np.minimum(a[:, 3], a[:, 4])[:, None], np.minimum(b[:, 3], b[:, 4])[None])
    hull_lb = np.maximum(np.maximum(area_a[:, None], area_b[None]), w * d / 2)
    bound = (area_a[:, None] + area_b[None]) / np.maximum(hull_lb, 1e-12) - 1
    return (d > radius_a[:, None] + radius_b[None]) & (bound < floor)


def _pairwise_giou(a: np.ndarray, b: np.ndarray, *, use_z: bool, floor: float = -np.inf) -> np.ndarray:
    n, m = len(a), len(b)
    skip = _below_floor(a, b, floor) if np.isfinite(floor) else np.zeros((n, m), bool)
    out = np.full((n, m), -1.0)
    if skip.all():
        return out
    rows, cols = np.nonzero(~skip.all(1))[0], np.nonzero(~skip.all(0))[0]
    a, b = a[rows], b[cols]
    block = _giou_block(a, b, use_z=use_z)
    sub = out[np.ix_(rows, cols)]
    keep = ~skip[np.ix_(rows, cols)]
    sub[keep] = block[keep]
    out[np.ix_(rows, cols)] = sub
    return out


def _giou_block(a: np.ndarray, b: np.ndarray, *, use_z: bool) -> np.ndarray:
    iou = geometry.box_iou_3d(a, b) if use_z else geometry.box_iou_bev(a, b)
    inter_bev = geometry.box_intersection_bev(a, b)
    n, m = len(a), len(b)
    ca, cb = geometry.bev_corners(a), geometry.bev_corners(b)  # (N, 4, 2), (M, 4, 2)
    pts = np.concatenate([np.repeat(ca[:, None], m, 1), np.repeat(cb[None], n, 0)], 2).reshape(n * m, 8, 2)
    hull = convex_hull_area(pts).reshape(n, m)
    area_a, area_b = a[:, 3] * a[:, 4], b[:, 3] * b[:, 4]
    if use_z:
        lo = np.minimum((a[:, 2] - a[:, 5] / 2)[:, None], (b[:, 2] - b[:, 5] / 2)[None])
        hi = np.maximum((a[:, 2] + a[:, 5] / 2)[:, None], (b[:, 2] + b[:, 5] / 2)[None])
        top = np.minimum((a[:, 2] + a[:, 5] / 2)[:, None], (b[:, 2] + b[:, 5] / 2)[None])
        bottom = np.maximum((a[:, 2] - a[:, 5] / 2)[:, None], (b[:, 2] - b[:, 5] / 2)[None])
        inter = inter_bev * np.clip(top - bottom, 0, None)
        union = (area_a * a[:, 5])[:, None] + (area_b * b[:, 5])[None] - inter
        enclosing = hull * (hi - lo)
    else:
        union = area_a[:, None] + area_b[None] - inter_bev
        enclosing = hull
    enclosing = np.maximum(enclosing, 1e-12)
    return iou - (enclosing - union) / enclosing


def giou_3d(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """(N, M) generalised 3D IoU of (N, 7) and (M, 7) boxes, in [-1, 1]."""
    a = geometry.check_boxes(np.asarray(boxes_a, np.float64), 'boxes_a')
    b = geometry.check_boxes(np.asarray(boxes_b, np.float64), 'boxes_b')
    return _pairwise_giou(a, b, use_z=True)


def giou_bev(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """(N, M) generalised BEV IoU of (N, 7) and (M, 7) boxes, in [-1, 1]."""
    a = geometry.check_boxes(np.asarray(boxes_a, np.float64), 'boxes_a')
    b = geometry.check_boxes(np.asarray(boxes_b, np.float64), 'boxes_b')
    return _pairwise_giou(a, b, use_z=False)


def affinity(tracks: np.ndarray, dets: np.ndarray, metric: str, *, gate_distance: float = np.inf,
             floor: float = -np.inf) -> np.ndarray:
    """Affinity of every (track, detection) pair.

    Args:
        tracks: (T, 7) predicted track boxes.
        dets: (D, 7) detection boxes, same frame.
        metric: 'iou_3d', 'giou_3d', 'giou_bev' or 'distance' (module docstring).
        gate_distance: pairs with centres further apart [m] get METRIC_MIN[metric].
        floor: the lowest affinity the caller will accept (its match threshold); GIoU pairs provably below it
            get METRIC_MIN without computing their enclosing hull (the expensive part), so matching on a
            threshold >= floor is unchanged.

    Returns:
        (T, D) float64 affinities (larger is better).
    """
    t = geometry.check_boxes(np.asarray(tracks, np.float64), 'tracks')
    d = geometry.check_boxes(np.asarray(dets, np.float64), 'dets')
    out = np.full((len(t), len(d)), METRIC_MIN[metric])
    if len(t) == 0 or len(d) == 0:
        return out
    dist = np.linalg.norm(t[:, None, :3] - d[None, :, :3], axis=-1)
    near = dist <= gate_distance
    rows, cols = np.nonzero(near.any(1))[0], np.nonzero(near.any(0))[0]
    if len(rows) == 0:
        return out
    if metric == 'distance':
        values = -dist[np.ix_(rows, cols)]
    elif metric == 'iou_3d':
        values = geometry.box_iou_3d(t[rows], d[cols])
    elif metric == 'giou_3d':
        values = _pairwise_giou(t[rows], d[cols], use_z=True, floor=floor)
    elif metric == 'giou_bev':
        values = _pairwise_giou(t[rows], d[cols], use_z=False, floor=floor)
    else:
        raise ValueError(f'unknown affinity metric {metric!r}; known: {", ".join(METRIC_MIN)}')
    block = out[np.ix_(rows, cols)]
    sub_near = near[np.ix_(rows, cols)]
    block[sub_near] = values[sub_near]
    out[np.ix_(rows, cols)] = block
    return out


def assign(aff: np.ndarray, threshold: float, algorithm: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Match rows (tracks) and columns (detections) on an affinity matrix.

    Args:
        aff: (T, D) affinities, larger is better.
        threshold: a pair matches only when its affinity is >= threshold.
        algorithm: 'greedy' (repeatedly take the best remaining pair) or 'hungarian' (maximum total affinity
            over the pairs that pass the threshold).

    Returns:
        (K, 2) int64 matched (row, col) pairs, the unmatched rows, the unmatched columns.
    """
    n, m = aff.shape
    pairs: list[tuple[int, int]] = []
    if n and m:
        valid = aff >= threshold
        if algorithm == 'greedy':
            order = np.argsort(-aff, axis=None, kind='stable')
            used_r, used_c = np.zeros(n, bool), np.zeros(m, bool)
            for flat in order:
                r, c = divmod(int(flat), m)
                if not valid[r, c]:
                    break
                if not used_r[r] and not used_c[c]:
                    used_r[r] = used_c[c] = True
                    pairs.append((r, c))
        elif algorithm == 'hungarian':
            # pairs below the threshold cost more than leaving both unmatched
            big = 1e6
            cost = np.where(valid, -(aff - threshold) - 1.0, big)
            r_idx, c_idx = linear_sum_assignment(cost)
            pairs = [(int(r), int(c)) for r, c in zip(r_idx, c_idx, strict=True) if valid[r, c]]
        else:
            raise ValueError(f"unknown assignment algorithm {algorithm!r}; known: 'greedy', 'hungarian'")
    matched = np.asarray(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    rows = np.setdiff1d(np.arange(n), matched[:, 0])
    cols = np.setdiff1d(np.arange(m), matched[:, 1])
    return matched, rows, cols
