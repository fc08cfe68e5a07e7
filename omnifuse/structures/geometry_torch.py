"""Torch counterparts of omnifuse.structures.geometry, for models.

Same semantics, box convention and corner order as geometry.py (rows `(x, y, z, dx, dy, dz, yaw)`,
LiDAR frame). Everything runs on the device and in the dtype of the input tensors (float32 or
float64); nothing is moved to a GPU here. The greedy loop of `nms_bev_torch` runs on the CPU over
the sparse list of overlapping pairs, which is small. Gradients are not a goal: the clipping
compacts polygons with sorts, so use these for matching, targets and NMS, not as a loss.
"""

from __future__ import annotations

import torch
from torch import Tensor

from omnifuse.errors import ShapeError
from omnifuse.structures.geometry import _greedy_nms

__all__ = ['box_corners_torch', 'bev_corners_torch', 'polygon_intersection_area_torch',
           'box_intersection_bev_torch', 'box_iou_bev_torch', 'box_iou_3d_torch', 'box_iou_bev_aligned_torch',
           'box_iou_3d_aligned_torch', 'points_in_boxes_torch', 'nms_bev_torch']

_BEV_SIGNS = ((0.5, 0.5), (0.5, -0.5), (-0.5, -0.5), (-0.5, 0.5))
_PAIR_BLOCK = 1 << 22
_POINT_BLOCK = 1 << 20


def _check(boxes: Tensor, name: str) -> Tensor:
    if not isinstance(boxes, Tensor):
        raise ShapeError(f'{name}: expected a torch.Tensor, got {type(boxes).__name__}')
    if boxes.numel() == 0:
        return boxes.reshape(0, 7)
    if boxes.dim() != 2 or boxes.shape[1] != 7:
        raise ShapeError(f'{name}: expected (N, 7) boxes (x, y, z, dx, dy, dz, yaw), '
                         f'got {tuple(boxes.shape)}')
    return boxes


def bev_corners_torch(boxes: Tensor) -> Tensor:
    """(N, 7) boxes -> (N, 4, 2) BEV corners: front-left, front-right, rear-right, rear-left."""
    boxes = _check(boxes, 'boxes')
    signs = torch.tensor(_BEV_SIGNS, dtype=boxes.dtype, device=boxes.device)
    local = signs[None] * boxes[:, None, 3:5]  # (N, 4, 2)
    c, s = torch.cos(boxes[:, 6:7]), torch.sin(boxes[:, 6:7])
    x = local[..., 0] * c - local[..., 1] * s + boxes[:, 0:1]
    y = local[..., 0] * s + local[..., 1] * c + boxes[:, 1:2]
    return torch.stack([x, y], -1)


def box_corners_torch(boxes: Tensor) -> Tensor:
    """(N, 7) boxes -> (N, 8, 3) corners, bottom face 0..3 then top face 4..7 (order of geometry.py)."""
    boxes = _check(boxes, 'boxes')
    bev = bev_corners_torch(boxes)
    z0 = (boxes[:, 2] - boxes[:, 5] / 2)[:, None, None].expand(-1, 4, 1)
    z1 = (boxes[:, 2] + boxes[:, 5] / 2)[:, None, None].expand(-1, 4, 1)
    return torch.cat([torch.cat([bev, z0], -1), torch.cat([bev, z1], -1)], 1)


# ---- polygon clipping ----

def _cross(u: Tensor, v: Tensor) -> Tensor:
    return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]


def _next_vertices(poly: Tensor, count: Tensor) -> tuple[Tensor, Tensor]:
    k, v = poly.shape[:2]
    idx = torch.arange(v, device=poly.device)[None]
    nxt_idx = (idx + 1) % count.clamp(min=1)[:, None]
    nxt = torch.gather(poly, 1, nxt_idx[..., None].expand(k, v, 2))
    return nxt, idx < count[:, None]


def _signed_area(poly: Tensor, count: Tensor | None = None) -> Tensor:
    if poly.shape[0] == 0:
        return poly.new_zeros(0)
    if count is None:
        return 0.5 * _cross(poly, torch.roll(poly, -1, 1)).sum(1)
    nxt, valid = _next_vertices(poly, count)
    return 0.5 * torch.where(valid, _cross(poly, nxt), torch.zeros_like(poly[..., 0])).sum(1)


def _clip_area(subject: Tensor, clip: Tensor) -> Tensor:
    k = subject.shape[0]
    poly = subject
    count = torch.full((k,), subject.shape[1], dtype=torch.long, device=subject.device)
    for e in range(clip.shape[1]):
        start = clip[:, e][:, None]
        edge = clip[:, (e + 1) % clip.shape[1]][:, None] - start
        v = poly.shape[1]
        nxt, valid = _next_vertices(poly, count)
        d_cur = _cross(edge, poly - start)
        d_nxt = _cross(edge, nxt - start)
        in_cur, in_nxt = d_cur >= 0, d_nxt >= 0
        emit_cur = valid & in_cur
        emit_cross = valid & (in_cur != in_nxt)
        denom = torch.where(emit_cross, d_cur - d_nxt, torch.ones_like(d_cur))
        t = torch.where(emit_cross, d_cur / denom, torch.zeros_like(d_cur))
        cross_pt = poly + t[..., None] * (nxt - poly)
        out = torch.stack([poly, cross_pt], 2).reshape(k, 2 * v, 2)
        keep = torch.stack([emit_cur, emit_cross], 2).reshape(k, 2 * v)
        order = torch.sort((~keep).to(torch.uint8), dim=1, stable=True).indices
        count = keep.sum(1)
        width = max(int(count.max()), 1) if k else 1
        poly = torch.gather(out, 1, order[..., None].expand(k, 2 * v, 2))[:, :width]
    return _signed_area(poly, count).abs()


def polygon_intersection_area_torch(poly_a: Tensor, poly_b: Tensor) -> Tensor:
    """(N, 4, 2) and (N, 4, 2) convex quads (either orientation) -> (N,) intersection areas."""
    if poly_a.dim() != 3 or tuple(poly_a.shape[1:]) != (4, 2) or poly_b.shape != poly_a.shape:
        raise ShapeError(f'polygon_intersection_area_torch: expected two (N, 4, 2) tensors, '
                         f'got {tuple(poly_a.shape)} and {tuple(poly_b.shape)}')
    if poly_a.shape[0] == 0:
        return poly_a.new_zeros(0)
    origin = poly_a.mean(1, keepdim=True)
    a, b = poly_a - origin, poly_b - origin
    area_b_signed = _signed_area(b)
    b = torch.where((area_b_signed < 0)[:, None, None], b.flip(1), b)
    inter = _clip_area(a, b)
    return torch.minimum(inter, torch.minimum(_signed_area(a).abs(), area_b_signed.abs()))


# ---- box overlaps ----

def _candidate_pairs(ca: Tensor, cb: Tensor) -> tuple[Tensor, Tensor]:
    n, m = ca.shape[0], cb.shape[0]
    dev = ca.device
    if n == 0 or m == 0:
        empty = torch.zeros(0, dtype=torch.long, device=dev)
        return empty, empty
    lo_a, hi_a = ca.amin(1), ca.amax(1)
    lo_b, hi_b = cb.amin(1), cb.amax(1)
    rows = max(1, _PAIR_BLOCK // m)
    ii, jj = [], []
    for r0 in range(0, n, rows):
        la, ha = lo_a[r0:r0 + rows, None], hi_a[r0:r0 + rows, None]
        mask = ((la < hi_b[None]) & (lo_b[None] < ha)).all(-1)
        i, j = torch.nonzero(mask, as_tuple=True)
        ii.append(i + r0)
        jj.append(j)
    return torch.cat(ii), torch.cat(jj)


def _pair_intersections(a: Tensor, b: Tensor, *, upper_only: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """(i, j, area) for pairs passing the AABB and bounding-circle tests (i < j only if upper_only)."""
    ca, cb = bev_corners_torch(a), bev_corners_torch(b)
    i, j = _candidate_pairs(ca, cb)
    if upper_only:
        keep = i < j
        i, j = i[keep], j[keep]
    reach = torch.hypot(a[i, 3], a[i, 4]) / 2 + torch.hypot(b[j, 3], b[j, 4]) / 2
    keep = torch.hypot(a[i, 0] - b[j, 0], a[i, 1] - b[j, 1]) < reach
    i, j = i[keep], j[keep]
    return i, j, polygon_intersection_area_torch(ca[i], cb[j])


def _z_overlap(a: Tensor, b: Tensor) -> Tensor:
    top = torch.minimum(a[:, 2] + a[:, 5] / 2, b[:, 2] + b[:, 5] / 2)
    bottom = torch.maximum(a[:, 2] - a[:, 5] / 2, b[:, 2] - b[:, 5] / 2)
    return (top - bottom).clamp(min=0)


def _ratio(inter: Tensor, union: Tensor) -> Tensor:
    ok = union > 0
    out = torch.where(ok, inter / torch.where(ok, union, torch.ones_like(union)), torch.zeros_like(inter))
    return out.clamp(0, 1)


def _pairs(boxes_a: Tensor, boxes_b: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    a, b = _check(boxes_a, 'boxes_a'), _check(boxes_b, 'boxes_b')
    if a.device != b.device:
        raise ShapeError(f'boxes_a is on {a.device} but boxes_b on {b.device}')
    b = b.to(a.dtype)
    i, j, inter = _pair_intersections(a, b)
    return a, b, i, j, inter


def box_intersection_bev_torch(boxes_a: Tensor, boxes_b: Tensor) -> Tensor:
    """(N, 7) and (M, 7) boxes -> (N, M) rotated BEV intersection areas [m^2]."""
    a, b, i, j, inter = _pairs(boxes_a, boxes_b)
    out = a.new_zeros(a.shape[0], b.shape[0])
    out[i, j] = inter
    return out


def box_iou_bev_torch(boxes_a: Tensor, boxes_b: Tensor) -> Tensor:
    """(N, 7) and (M, 7) boxes -> (N, M) rotated BEV IoU in [0, 1]."""
    a, b, i, j, inter = _pairs(boxes_a, boxes_b)
    out = a.new_zeros(a.shape[0], b.shape[0])
    out[i, j] = _ratio(inter, a[i, 3] * a[i, 4] + b[j, 3] * b[j, 4] - inter)
    return out


def box_iou_3d_torch(boxes_a: Tensor, boxes_b: Tensor) -> Tensor:
    """(N, 7) and (M, 7) boxes -> (N, M) rotated 3D IoU in [0, 1]."""
    a, b, i, j, inter_bev = _pairs(boxes_a, boxes_b)
    inter = inter_bev * _z_overlap(a[i], b[j])
    out = a.new_zeros(a.shape[0], b.shape[0])
    out[i, j] = _ratio(inter, a[i, 3:6].prod(1) + b[j, 3:6].prod(1) - inter)
    return out


def _aligned(boxes_a: Tensor, boxes_b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    a, b = _check(boxes_a, 'boxes_a'), _check(boxes_b, 'boxes_b')
    if a.shape[0] != b.shape[0]:
        raise ShapeError(f'aligned IoU needs the same number of rows, got {a.shape[0]} and {b.shape[0]}')
    b = b.to(a.dtype)
    return a, b, polygon_intersection_area_torch(bev_corners_torch(a), bev_corners_torch(b))


def box_iou_bev_aligned_torch(boxes_a: Tensor, boxes_b: Tensor) -> Tensor:
    """Row-wise rotated BEV IoU of (N, 7) and (N, 7) boxes -> (N,)."""
    a, b, inter = _aligned(boxes_a, boxes_b)
    return _ratio(inter, a[:, 3] * a[:, 4] + b[:, 3] * b[:, 4] - inter)


def box_iou_3d_aligned_torch(boxes_a: Tensor, boxes_b: Tensor) -> Tensor:
    """Row-wise rotated 3D IoU of (N, 7) and (N, 7) boxes -> (N,)."""
    a, b, inter_bev = _aligned(boxes_a, boxes_b)
    inter = inter_bev * _z_overlap(a, b)
    return _ratio(inter, a[:, 3:6].prod(1) + b[:, 3:6].prod(1) - inter)


# ---- points in boxes, NMS ----

def points_in_boxes_torch(points: Tensor, boxes: Tensor) -> Tensor:
    """(P, >=3) points and (N, 7) boxes (same frame) -> (P, N) bool, boundary included.

    Inside means |x| <= dx/2, |y| <= dy/2, |z| <= dz/2 in the box frame. Computed in blocks of points.
    """
    if points.dim() != 2 or points.shape[1] < 3:
        raise ShapeError(f'points_in_boxes_torch: expected (P, >=3) points, got {tuple(points.shape)}')
    b = _check(boxes, 'boxes')
    out = torch.zeros(points.shape[0], b.shape[0], dtype=torch.bool, device=points.device)
    if points.shape[0] == 0 or b.shape[0] == 0:
        return out
    b = b.to(device=points.device, dtype=points.dtype if points.is_floating_point() else b.dtype)
    c, s = torch.cos(b[:, 6]), torch.sin(b[:, 6])
    half = b[:, 3:6] / 2
    step = max(1, _POINT_BLOCK // b.shape[0])
    for p0 in range(0, points.shape[0], step):
        d = points[p0:p0 + step, None, :3].to(b.dtype) - b[None, :, :3]  # (p, N, 3)
        inside = d[..., 2].abs() <= half[:, 2]
        inside &= (d[..., 0] * c + d[..., 1] * s).abs() <= half[:, 0]
        inside &= (-d[..., 0] * s + d[..., 1] * c).abs() <= half[:, 1]
        out[p0:p0 + step] = inside
    return out


def nms_bev_torch(boxes: Tensor, scores: Tensor, iou_threshold: float, max_out: int | None = None) -> Tensor:
    """Greedy rotated-BEV NMS; drops a box when IoU with a kept higher-scoring box is > threshold.

    Args:
        boxes: (N, 7) boxes.
        scores: (N,) scores (ties keep the input order).
        iou_threshold: suppression threshold.
        max_out: keep at most this many (None: no limit).

    Returns:
        (K,) int64 indices into `boxes` by descending score, on the device of `boxes`.
    """
    b = _check(boxes, 'boxes')
    scores = scores.reshape(-1)
    if scores.shape[0] != b.shape[0]:
        raise ShapeError(f'nms_bev_torch: {b.shape[0]} boxes but {scores.shape[0]} scores')
    order = torch.sort(scores.to(b.device), descending=True, stable=True).indices
    ranked = b[order]
    i, j, inter = _pair_intersections(ranked, ranked, upper_only=True)
    iou = _ratio(inter, ranked[i, 3] * ranked[i, 4] + ranked[j, 3] * ranked[j, 4] - inter)
    over = iou > iou_threshold
    kept = _greedy_nms(b.shape[0], i[over].cpu().numpy(), j[over].cpu().numpy(), max_out)
    return order[torch.as_tensor(kept, dtype=torch.long, device=b.device)]
