"""Look up sparse voxels by integer coordinates (a sorted-key hash that runs on any device).

Used by RoI-grid pooling ("voxel query": gather the non-empty voxels around each grid point) and by
global fusion (find the raw-point centroid of each non-empty voxel).
"""

from __future__ import annotations

import torch
from torch import Tensor

from omnifuse.ops.features import SparseLevel

__all__ = ['VoxelTable', 'linear_keys', 'sparse_trilinear', 'trilinear_neighbours', 'interpolate']


def linear_keys(coords: Tensor, shape: tuple[int, int, int]) -> Tensor:
    """One int64 key per (b, z, y, x) row for a grid of `shape` (D, H, W); -1 where out of the grid.

    Shapes:
        coords: (..., 4) int64. return: (...) int64.
    """
    D, H, W = shape
    b, z, y, x = coords.unbind(-1)
    ok = (b >= 0) & (z >= 0) & (z < D) & (y >= 0) & (y < H) & (x >= 0) & (x < W)
    key = ((b * D + z) * H + y) * W + x
    return torch.where(ok, key, torch.full_like(key, -1))


class VoxelTable:
    """Sorted keys of a set of voxels, for O(log M) lookups.

    Args:
        coords: (M, 4) int64 (b, z, y, x) of the non-empty voxels.
        shape: (D, H, W) of the grid.
    """

    def __init__(self, coords: Tensor, shape: tuple[int, int, int]) -> None:
        self.shape = shape
        keys = linear_keys(coords.long(), shape)
        self.sorted_keys, self.order = torch.sort(keys)

    def lookup(self, coords: Tensor) -> Tensor:
        """Row of each queried voxel in the original `coords`, -1 where it is empty or off-grid.

        Shapes:
            coords: (..., 4) int64. return: (...) int64.
        """
        keys = linear_keys(coords.long(), self.shape)
        if self.sorted_keys.numel() == 0:
            return torch.full_like(keys, -1)
        pos = torch.searchsorted(self.sorted_keys, keys.reshape(-1)).clamp(max=self.sorted_keys.numel() - 1)
        found = (self.sorted_keys[pos] == keys.reshape(-1)) & (keys.reshape(-1) >= 0)
        rows = torch.where(found, self.order[pos], torch.full_like(pos, -1))
        return rows.view(keys.shape)


def trilinear_neighbours(level: SparseLevel, xyz: Tensor, batch_idx: Tensor, *, table: VoxelTable | None = None
                         ) -> tuple[Tensor, Tensor]:
    """The occupied voxels around each query point and their trilinear weights.

    The 8 voxel centres around each point (4 when the level is flat, D = 1) are looked up; empty ones get
    row -1 and weight 0.

    Shapes:
        xyz: (P, 3) LiDAR frame; batch_idx: (P,) int64. return: rows (P, K) int64 into level.features and
        weights (P, K), K = 8 (or 4).
    """
    if table is None:
        table = VoxelTable(level.coords, level.shape)
    rel = (xyz - xyz.new_tensor(level.origin)) / xyz.new_tensor(level.spacing)  # (P, 3) x y z in cells
    flat = level.shape[0] == 1
    if flat:
        rel = torch.cat([rel[:, :2], torch.zeros_like(rel[:, 2:])], 1)
    base = torch.floor(rel)
    frac = rel - base
    base = base.long()
    corners = [(dx, dy, dz) for dz in ((0,) if flat else (0, 1)) for dy in (0, 1) for dx in (0, 1)]
    offs = torch.tensor(corners, device=xyz.device, dtype=torch.long)  # (K, 3) x y z
    idx = base.unsqueeze(1) + offs.unsqueeze(0)  # (P, K, 3)
    w = torch.where(offs.unsqueeze(0).bool(), frac.unsqueeze(1), 1 - frac.unsqueeze(1)).prod(-1)  # (P, K)
    q = torch.cat([batch_idx.view(-1, 1, 1).expand(-1, offs.shape[0], 1), idx.flip(-1)], -1)  # (P, K, 4) b z y x
    rows = table.lookup(q)  # (P, K)
    return rows, w * (rows >= 0).to(w.dtype)


def interpolate(features: Tensor, rows: Tensor, weights: Tensor) -> tuple[Tensor, Tensor]:
    """Weighted mean of `features` (M, C) over `rows` (P, K) (-1 ignored) -> (P, C) and total weight (P,)."""
    total = weights.sum(1)
    if features.shape[0] == 0:  # no voxel at all: every weight is 0
        return features.new_zeros((rows.shape[0], features.shape[1])), total
    feats = features[rows.clamp(min=0)]  # (P, K, C)
    out = (feats * weights.unsqueeze(-1).to(feats.dtype)).sum(1) / total.clamp(min=1e-6).unsqueeze(-1).to(feats.dtype)
    return out, total


def sparse_trilinear(level: SparseLevel, xyz: Tensor, batch_idx: Tensor, *, table: VoxelTable | None = None
                     ) -> tuple[Tensor, Tensor]:
    """Trilinear interpolation of sparse voxel features at arbitrary points, over non-empty voxels only.

    The weights of the occupied neighbours (see `trilinear_neighbours`) are renormalised; a point with no
    occupied neighbour gets 0. Differentiable w.r.t. the features.

    Args:
        level: the sparse level (features (M, C), coords (M, 4) b z y x).
        xyz: (P, 3) query points, LiDAR frame.
        batch_idx: (P,) int64 sample of each query.
        table: a prebuilt `VoxelTable` of the level (built here when None).

    Returns:
        (P, C) features and (P,) total weight of the occupied neighbours.
    """
    rows, w = trilinear_neighbours(level, xyz, batch_idx, table=table)
    return interpolate(level.features, rows, w)
