"""The exported detector's numpy steps between its graphs (no torch; see `omnifuse.deploy.detector_graphs`).

Each function is the numpy twin of a PyTorch step of the model, with the same rules and float32 arithmetic
in the same order where it decides a discrete outcome (a voxel, a grid cell, an NMS survivor):

    in_range              datasets.transforms.PointRangeFilter
    nms_proposals         CentreHead.decode, second half (score threshold, class-aware rotated NMS)
    roi_grid_points       ops.roi_grid.roi_grid_points
    trilinear_rows        ops.voxel_query.trilinear_neighbours
    voxel_centroids       fusion.logonet.GlobalFusion.voxel_centroids
    roi_cell_stats        ops.roi_grid.roi_cell_stats
    refine                LoGoRoIHead.refine (with box_coder.decode_residual)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from omnifuse.deploy.voxels_np import stable_argsort
from omnifuse.structures.geometry import nms_bev

__all__ = ['in_range', 'nms_proposals', 'roi_grid_unit_np', 'roi_grid_points', 'trilinear_rows',
           'gof_inputs', 'voxel_centroids', 'roi_cell_stats', 'decode_residual', 'refine']

F32 = np.float32


def in_range(points: np.ndarray, point_range: Sequence[float]) -> np.ndarray:
    """The (N, C) points with lo <= xyz < hi (PointRangeFilter)."""
    xyz = points[:, :3]
    lo = np.asarray(point_range[:3], dtype=xyz.dtype)
    hi = np.asarray(point_range[3:6], dtype=xyz.dtype)
    keep = ((xyz[:, 0] >= lo[0]) & (xyz[:, 0] < hi[0]) & (xyz[:, 1] >= lo[1]) & (xyz[:, 1] < hi[1])
            & (xyz[:, 2] >= lo[2]) & (xyz[:, 2] < hi[2]))
    return points[keep]


def _in_box(points: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(N,) lo <= point <= hi on the first len(lo) columns (column by column: no (N, C) temporaries)."""
    keep = (points[:, 0] >= lo[0]) & (points[:, 0] <= hi[0])
    for d in range(1, len(lo)):
        keep &= (points[:, d] >= lo[d]) & (points[:, d] <= hi[d])
    return keep


def _class_aware_nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, iou: float,
                     max_out: int | None) -> np.ndarray:
    shifted = boxes.astype(np.float64)
    shifted[:, 0] += labels.astype(np.float64) * 1000.0  # one NMS call, classes never overlap
    return nms_bev(shifted, scores.astype(np.float64), iou, max_out=max_out)


def nms_proposals(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, cfg: Mapping[str, Any]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Proposals from the first stage's top-k peaks: score threshold (a few kept when none passes, so the
    second stage always has work), then class-aware rotated NMS keeping `post_max`."""
    limit = int(cfg['post_max'])
    keep = scores >= cfg['score_thr']
    if not keep.any():
        keep = np.zeros_like(keep)
        keep[:min(limit, 8)] = True
    bx, sc, lb = boxes[keep], scores[keep], labels[keep]
    sel = _class_aware_nms(bx, sc, lb, float(cfg['nms_iou']), limit)
    return bx[sel], sc[sel], lb[sel]


def roi_grid_unit_np(grid_size: int) -> np.ndarray:
    """(G³, 3) float32 cell-centre offsets in box-size units (i along x, j along y, k along z)."""
    r = (np.arange(grid_size, dtype=F32) + F32(0.5)) / F32(grid_size) - F32(0.5)
    gx, gy, gz = np.meshgrid(r, r, r, indexing='ij')
    return np.stack([gx, gy, gz], -1).reshape(-1, 3)


def roi_grid_points(rois: np.ndarray, grid_size: int) -> np.ndarray:
    """(R, G³, 3) float32 grid points of (R, 7) RoIs, LiDAR frame."""
    rois = rois.astype(F32)
    local = roi_grid_unit_np(grid_size)[None] * rois[:, None, 3:6]
    c, s = np.cos(rois[:, 6:7]), np.sin(rois[:, 6:7])
    gx = local[..., 0] * c - local[..., 1] * s + rois[:, 0:1]
    gy = local[..., 0] * s + local[..., 1] * c + rois[:, 1:2]
    gz = local[..., 2] + rois[:, 2:3]
    return np.stack([gx, gy, gz], -1).astype(F32)


def _cell_keys(z: np.ndarray, y: np.ndarray, x: np.ndarray, shape: Sequence[float]) -> np.ndarray:
    """(z * H + y) * W + x of integer cell indices (any shape), -1 off the (D, H, W) grid."""
    D, H, W = (int(v) for v in shape)
    ok = (z >= 0) & (z < D) & (y >= 0) & (y < H) & (x >= 0) & (x < W)
    return np.where(ok, (z * H + y) * W + x, -1)


def _site_keys(zyx: np.ndarray, shape: Sequence[float]) -> np.ndarray:
    return _cell_keys(zyx[..., 0], zyx[..., 1], zyx[..., 2], shape)


def _lookup(sites: np.ndarray, shape: Sequence[float], zyx: np.ndarray) -> np.ndarray:
    """Row of each (..., 3) queried site among (M, 3) `sites`, -1 where absent (a dense grid of rows for the
    coarse levels the RoI head reads, sorted keys for larger grids)."""
    return _lookup_keys(sites, shape, _site_keys(zyx, shape))


def _lookup_keys(sites: np.ndarray, shape: Sequence[float], q: np.ndarray) -> np.ndarray:
    """`_lookup` of queries given as cell keys ((z * H + y) * W + x; -1 off the grid)."""
    keys = _site_keys(sites, shape)
    cells = int(np.prod([int(v) for v in shape]))
    if cells <= 1_000_000:  # x_conv3/x_conv4 of the shipped grids: 211,200 and 17,600 cells
        grid = np.full(cells + 1, -1, np.int64)  # the last cell answers the off-grid queries (key -1)
        grid[keys] = np.arange(keys.size)
        return grid[q]
    order = np.argsort(keys, kind='stable')
    sorted_keys = keys[order]
    if sorted_keys.size == 0:
        return np.full(q.shape, -1, np.int64)
    pos = np.searchsorted(sorted_keys, q).clip(max=sorted_keys.size - 1)
    found = (sorted_keys[pos] == q) & (q >= 0)
    return np.where(found, order[pos], -1).astype(np.int64)


def trilinear_rows(geometry: Mapping[str, Sequence[float]], sites: np.ndarray, xyz: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The occupied voxels around (P, 3) points and their trilinear weights: rows (P, K) int64 into the
    level's (M, 3) `sites` (-1 where empty) and float32 weights (0 where empty); K = 8, or 4 on a flat level."""
    origin = np.asarray(geometry['origin'], F32)
    spacing = np.asarray(geometry['spacing'], F32)
    shape = geometry['shape']
    D, H, W = (int(v) for v in shape)
    rel = (xyz.astype(F32) - origin) / spacing
    flat = D == 1
    if flat:
        rel[:, 2] = 0
    base = np.floor(rel)
    frac = rel - base
    b = base.astype(np.int64)
    # per axis (x, y, z): the weight and the in-grid flag of the lower (0) and upper (1) neighbour; a corner's
    # weight is their product in x, y, z order, its key the lower corner's plus its step
    one = F32(1)
    weight = [(one - frac[:, a], frac[:, a]) for a in range(3)]
    inside = [((b[:, a] >= 0) & (b[:, a] < n), (b[:, a] >= -1) & (b[:, a] < n - 1)) for a, n in enumerate((W, H, D))]
    key0 = (b[:, 2] * H + b[:, 1]) * W + b[:, 0]
    corners = [(dx, dy, dz) for dz in ((0,) if flat else (0, 1)) for dy in (0, 1) for dx in (0, 1)]
    keys = np.empty((b.shape[0], len(corners)), np.int64)
    w = np.empty((b.shape[0], len(corners)), F32)
    for k, (dx, dy, dz) in enumerate(corners):
        keys[:, k] = np.where(inside[0][dx] & inside[1][dy] & inside[2][dz], key0 + ((dz * H + dy) * W + dx), -1)
        w[:, k] = weight[0][dx] * weight[1][dy] * weight[2][dz]
    rows = _lookup_keys(sites, shape, keys)
    return rows, (w * (rows >= 0)).astype(F32)


def voxel_centroids(geometry: Mapping[str, Sequence[float]], sites: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(U, 3) float32 centroid of the raw points nearest to each of the (U, 3) voxel `sites` (its centre when
    none): a point belongs to the voxel whose centre is nearest (round half to even, as torch.round)."""
    origin = np.asarray(geometry['origin'], F32)
    spacing = np.asarray(geometry['spacing'], F32)
    centres = sites[:, ::-1].astype(F32) * spacing + origin
    if points.shape[0] == 0 or sites.shape[0] == 0:
        return centres
    pts = points if points.dtype == F32 else points.astype(F32)
    # only points near the sites can fall in them (a cheap box test before rounding and lookups); column by
    # column, as the (N, 3) form of the same arithmetic runs strided and several times slower
    lo, hi = centres.min(0) - spacing, centres.max(0) + spacing
    near = _in_box(pts, lo, hi)
    xyz = [pts[near, d] for d in range(3)]
    x, y, z = (np.round((v - origin[d]) / spacing[d]).astype(np.int64) for d, v in enumerate(xyz))
    rows = _lookup_keys(sites, geometry['shape'], _cell_keys(z, y, x, geometry['shape']))
    hit = rows >= 0
    n = np.bincount(rows[hit], minlength=sites.shape[0])
    sums = np.stack([np.bincount(rows[hit], weights=v[hit], minlength=sites.shape[0]) for v in xyz], 1)
    out = centres.copy()
    found = n > 0
    out[found] = (sums[found] / n[found, None]).astype(F32)
    return out


def gof_inputs(geometry: Mapping[str, Sequence[float]], sites: np.ndarray, rows: np.ndarray, points: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GoF on the voxels the grid points read: (U,) used rows (sorted), their (U, 3) centroids and the
    (P, K) rows re-indexed into `used` (LoGoRoIHead fuses only the RoIs' vicinity)."""
    clipped = rows.clip(min=0)
    used = np.flatnonzero(np.bincount(clipped.ravel(), minlength=sites.shape[0]))  # sorted, as np.unique
    position = np.zeros(sites.shape[0], np.int64)
    position[used] = np.arange(used.size)
    return used.astype(np.int64), voxel_centroids(geometry, sites[used], points), position[clipped]


def roi_cell_stats(points: np.ndarray, rois: np.ndarray, grid_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw points per grid cell of each RoI (R, G³) and their mean offset from the cell centre in cell units
    (R, G³, 3) (0 for empty cells), float32."""
    G, G3, R = grid_size, grid_size ** 3, rois.shape[0]
    count = np.zeros((R, G3), F32)
    centroid = np.zeros((R, G3, 3), F32)
    if R == 0 or points.shape[0] == 0:
        return count, centroid
    rois = rois.astype(F32)
    reach = np.hypot(rois[:, 3], rois[:, 4]) / 2 + F32(1e-3)
    pts = points if points.dtype == F32 else points.astype(F32)
    lo, hi = (rois[:, :2] - reach[:, None]).min(0), (rois[:, :2] + reach[:, None]).max(0)
    # column by column (the (N, 3) forms of the same arithmetic run strided, several times slower)
    near = _in_box(pts, lo, hi)
    x, y, z = (pts[near, k] for k in range(3))
    # candidate (point, RoI) pairs from 1 m BEV buckets: per RoI, each bucket row of its reach is one
    # contiguous run of the bucket-sorted points (all RoIs at once)
    W = int((hi[0] - lo[0]) // 1.0) + 1
    H = int((hi[1] - lo[1]) // 1.0) + 1
    bucket = (np.floor((y - lo[1]) / F32(1.0)).astype(np.int64) * W
              + np.floor((x - lo[0]) / F32(1.0)).astype(np.int64))
    order = stable_argsort(bucket, W * H)
    sorted_keys = bucket[order]
    rlo = np.floor((rois[:, :2] - reach[:, None] - lo) / F32(1.0)).astype(np.int64).clip(min=0)
    rhi = np.minimum(np.floor((rois[:, :2] + reach[:, None] - lo) / F32(1.0)).astype(np.int64), [W - 1, H - 1])
    K = int((rhi[:, 1] - rlo[:, 1]).max()) + 1
    rows = rlo[:, 1:2] + np.arange(K)[None]  # (R, K) bucket rows
    row_key = rows * W
    start = np.searchsorted(sorted_keys, row_key + rlo[:, 0:1], side='left')
    end = np.searchsorted(sorted_keys, row_key + rhi[:, 0:1], side='right')
    n = np.where(rows <= rhi[:, 1:2], end - start, 0).ravel()
    seg = np.repeat(np.arange(n.size), n)
    point_of = order[np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n) + np.repeat(start.ravel(), n)]
    roi_of = seg // K
    # each pair in its RoI's box frame, in box units from the corner (cos / sin once per RoI)
    dx, dy = x[point_of] - rois[roi_of, 0], y[point_of] - rois[roi_of, 1]
    c, s = np.cos(rois[:, 6])[roi_of], np.sin(rois[:, 6])[roi_of]
    local = [(dx * c + dy * s) / rois[roi_of, 3] + F32(0.5), (-dx * s + dy * c) / rois[roi_of, 4] + F32(0.5),
             (z[point_of] - rois[roi_of, 2]) / rois[roi_of, 5] + F32(0.5)]
    inside = (local[0] >= 0) & (local[0] < 1) & (local[1] >= 0) & (local[1] < 1) & (local[2] >= 0) & (local[2] < 1)
    local, roi_of = [v[inside] for v in local], roi_of[inside]
    cell = [np.clip(np.floor(v * F32(G)).astype(np.int64), 0, G - 1) for v in local]
    key = roi_of * G3 + (cell[0] * G + cell[1]) * G + cell[2]
    n_cell = np.bincount(key, minlength=R * G3).astype(F32)
    sums = np.stack([np.bincount(key, weights=v * F32(G) - k.astype(F32) - F32(0.5), minlength=R * G3)
                     for v, k in zip(local, cell, strict=True)], 1).astype(F32)
    count[:] = n_cell.reshape(R, G3)
    centroid[:] = (sums / np.maximum(n_cell, 1)[:, None]).reshape(R, G3, 3)
    return count, centroid


def decode_residual(rois: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """(R, 7) boxes from RoIs and second-stage residuals (box_coder.decode_residual), yaw in [-pi, pi)."""
    rois = rois.astype(F32)
    residual = residual.astype(F32)
    diag = np.sqrt(rois[:, 3] ** 2 + rois[:, 4] ** 2)
    lx, ly = residual[:, 0] * diag, residual[:, 1] * diag
    c, s = np.cos(rois[:, 6]), np.sin(rois[:, 6])
    x = rois[:, 0] + lx * c - ly * s
    y = rois[:, 1] + lx * s + ly * c
    z = rois[:, 2] + residual[:, 2] * rois[:, 5]
    dims = rois[:, 3:6] * np.exp(np.minimum(residual[:, 3:6], 3))
    yaw = np.mod(rois[:, 6] + residual[:, 6] + F32(math.pi), F32(2 * math.pi)) - F32(math.pi)
    return np.concatenate([np.stack([x, y, z], 1), dims, yaw[:, None]], 1).astype(F32)


def refine(rois: np.ndarray, scores: np.ndarray, labels: np.ndarray, score_logits: np.ndarray,
           residual: np.ndarray, cfg: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Final boxes, scores and labels: decode, IoU-aware score (geometric mean with the proposal score for
    score_mode 'sqrt'), threshold, class-aware rotated NMS."""
    boxes = decode_residual(rois, residual)
    iou_score = (1 / (1 + np.exp(-score_logits.astype(F32)))).astype(F32)
    final = np.sqrt(iou_score * scores.astype(F32)) if cfg['score_mode'] == 'sqrt' else iou_score
    idx = np.flatnonzero(final >= cfg['score_thr'])
    sel = idx[_class_aware_nms(boxes[idx], final[idx], labels[idx], float(cfg['nms_iou']), None)]
    return boxes[sel], final[sel], labels[sel]
