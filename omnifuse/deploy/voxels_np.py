"""Hard voxelisation with mean voxel features in numpy: the exported detector's first step (no torch).

The same rules as `omnifuse.ops.voxelize.hard_voxelize` followed by the mean VFE of
`omnifuse.encoders.lidar.SecondLidarEncoder`: a point's voxel is `floor((p - lo) / voxel_size)`, points
outside the range are dropped, voxels are numbered in order of their first point, only the first
`max_voxels` voxels and the first `max_points` points of each (input order) count, and a voxel's feature is
the mean of its kept points.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from omnifuse.errors import ShapeError

__all__ = ['grid_shape_np', 'mean_voxels']


def grid_shape_np(point_range: Sequence[float], voxel_size: Sequence[float]) -> tuple[int, int, int]:
    """(D, H, W) = (nz, ny, nx) of `point_range` (x0, y0, z0, x1, y1, z1) at `voxel_size` (vx, vy, vz)."""
    n = [round((point_range[i + 3] - point_range[i]) / voxel_size[i]) for i in range(3)]
    if min(n) <= 0:
        raise ShapeError(f'empty voxel grid for point_range={tuple(point_range)} voxel_size={tuple(voxel_size)}')
    return n[2], n[1], n[0]


def mean_voxels(points: np.ndarray, voxel_size: Sequence[float], point_range: Sequence[float], *,
                in_channels: int, max_points: int, max_voxels: int) -> tuple[np.ndarray, np.ndarray]:
    """Voxelise one point cloud and average the kept points of each voxel.

    Args:
        points: (N, >= in_channels) float points, LiDAR frame (x, y, z, intensity, ...).
        voxel_size, point_range: the grid (metres).
        voxel_size: (vx, vy, vz) metres.
        point_range: (x0, y0, z0, x1, y1, z1) metres.
        in_channels: point columns averaged.
        max_points: points kept per voxel.
        max_voxels: voxels kept (see the module docstring).

    Returns:
        features (M, in_channels) float32 and coords (M, 3) int64 (z, y, x), voxels in first-point order.
    """
    if points.ndim != 2 or points.shape[1] < in_channels or in_channels < 3:
        raise ShapeError(f'points: expected (N, >= {max(in_channels, 3)}), got {points.shape}')
    D, H, W = grid_shape_np(point_range, voxel_size)
    pts = np.asarray(points[:, :in_channels], dtype=np.float32)
    lo = np.asarray(point_range[:3], dtype=np.float32)
    vs = np.asarray(voxel_size, dtype=np.float32)
    idx = np.floor((pts[:, :3] - lo) / vs).astype(np.int64)  # (N, 3) x y z
    ok = np.all((idx >= 0) & (idx < np.array([W, H, D])), axis=1)
    pts, idx = pts[ok], idx[ok]
    if pts.shape[0] == 0:
        return np.zeros((0, in_channels), np.float32), np.zeros((0, 3), np.int64)
    key = (idx[:, 2] * H + idx[:, 1]) * W + idx[:, 0]
    uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    order = np.argsort(first, kind='stable')  # voxels by first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    voxel = rank[inverse.reshape(-1)]
    M = min(uniq.size, max_voxels)
    keep = voxel < M
    pts, voxel = pts[keep], voxel[keep]
    # slot of each point within its voxel, in input order
    by_voxel = np.argsort(voxel, kind='stable')
    counts = np.bincount(voxel, minlength=M)
    starts = np.cumsum(counts) - counts
    slot = np.empty_like(by_voxel)
    slot[by_voxel] = np.arange(by_voxel.size) - starts[voxel[by_voxel]]
    kept = slot < max_points
    sums = np.zeros((M, in_channels), np.float32)
    np.add.at(sums, voxel[kept], pts[kept])
    feats = sums / np.minimum(counts, max_points).astype(np.float32)[:, None]
    ukey = uniq[order[:M]]
    coords = np.stack([ukey // (H * W), (ukey // W) % H, ukey % W], 1)
    return feats.astype(np.float32), coords.astype(np.int64)
