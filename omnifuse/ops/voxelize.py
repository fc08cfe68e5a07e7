"""Voxelisation and scatter reductions in plain torch (CPU and CUDA alike, no custom kernels).

Voxel coordinates follow spconv/mmdet3d order: `(z, y, x)` integer indices into a grid of shape
`(D, H, W) = ceil((max - min) / voxel_size)` reversed; batched coordinates are `(b, z, y, x)`.

Two flavours:
    hard    - at most `max_points` points per voxel and `max_voxels` voxels per sample (the first points
              and voxels in input order win, as in mmcv), giving a padded (M, T, C) tensor;
    dynamic - every in-range point keeps its voxel index; reductions use the scatter ops below.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from omnifuse.errors import ShapeError
from omnifuse.registry import MODELS

__all__ = ['grid_shape', 'point_to_voxel_coords', 'dynamic_voxelize', 'hard_voxelize', 'unique_voxels',
           'scatter_sum', 'scatter_mean', 'scatter_max', 'batch_voxelize', 'Voxelization']


def grid_shape(point_range: Sequence[float], voxel_size: Sequence[float]) -> tuple[int, int, int]:
    """Grid size `(D, H, W)` = (nz, ny, nx) of `point_range` (x0, y0, z0, x1, y1, z1) at `voxel_size` (vx, vy, vz)."""
    if len(point_range) != 6 or len(voxel_size) != 3:
        raise ShapeError(f'point_range needs 6 numbers and voxel_size 3, got {len(point_range)} and {len(voxel_size)}')
    n = [round((point_range[i + 3] - point_range[i]) / voxel_size[i]) for i in range(3)]
    if min(n) <= 0:
        raise ShapeError(f'empty voxel grid for point_range={tuple(point_range)} voxel_size={tuple(voxel_size)}')
    return n[2], n[1], n[0]


def point_to_voxel_coords(points: Tensor, voxel_size: Sequence[float], point_range: Sequence[float]) -> Tensor:
    """Voxel index of each point, -1 for every index of a point outside the range.

    Shapes:
        points: (N, >=3), LiDAR frame.
        return: (N, 3) int64 (z, y, x).
    """
    if points.ndim != 2 or points.shape[1] < 3:
        raise ShapeError(f'points: expected (N, >=3), got {tuple(points.shape)}')
    D, H, W = grid_shape(point_range, voxel_size)
    lo = points.new_tensor(point_range[:3])
    vs = points.new_tensor(voxel_size)
    idx = torch.floor((points[:, :3] - lo) / vs).long()  # (N, 3) x y z
    size = torch.tensor([W, H, D], device=points.device)
    ok = ((idx >= 0) & (idx < size)).all(1)
    coords = idx.flip(1)  # (N, 3) z y x
    coords[~ok] = -1
    return coords


def dynamic_voxelize(points: Tensor, voxel_size: Sequence[float], point_range: Sequence[float]) -> Tensor:
    """Dynamic voxelisation: the (N, 3) int64 (z, y, x) voxel of every point, rows of -1 out of range."""
    return point_to_voxel_coords(points, voxel_size, point_range)


def unique_voxels(coords: Tensor) -> tuple[Tensor, Tensor]:
    """Distinct voxels of per-point coordinates, in order of first appearance.

    Shapes:
        coords: (N, K) int64 (e.g. (b, z, y, x)), all entries >= 0.
        return: voxels (M, K) and inverse (N,) int64 with coords == voxels[inverse].
    """
    if coords.shape[0] == 0:
        return coords.new_zeros((0, coords.shape[1])), coords.new_zeros(0)
    # One int64 key per row (mixed radix over the column ranges): a 1-D unique is much faster than dim=0.
    sizes = coords.max(0).values + 1
    key = coords[:, 0].clone()
    for k in range(1, coords.shape[1]):
        key = key * sizes[k] + coords[:, k]
    uniq_key, inverse = torch.unique(key, return_inverse=True)
    uniq = torch.empty((uniq_key.numel(), coords.shape[1]), dtype=coords.dtype, device=coords.device)
    rest = uniq_key
    for k in range(coords.shape[1] - 1, 0, -1):
        uniq[:, k] = rest % sizes[k]
        rest = rest // sizes[k]
    uniq[:, 0] = rest
    n = coords.shape[0]
    first = torch.full((uniq.shape[0],), n, dtype=torch.long, device=coords.device)
    first.scatter_reduce_(0, inverse, torch.arange(n, device=coords.device), reduce='amin')
    order = torch.argsort(first)  # voxels by first appearance
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel(), device=coords.device)
    return uniq[order], rank[inverse]


def hard_voxelize(points: Tensor, voxel_size: Sequence[float], point_range: Sequence[float], *,
                  max_points: int = 32, max_voxels: int = 20000) -> tuple[Tensor, Tensor, Tensor]:
    """Hard voxelisation of one point cloud.

    Args:
        points: (N, C) points, LiDAR frame.
        voxel_size: (vx, vy, vz) metres.
        point_range: (x0, y0, z0, x1, y1, z1) metres.
        max_points: points kept per voxel (the first ones in input order).
        max_voxels: voxels kept (the first ones to appear in input order).

    Returns:
        voxels: (M, max_points, C) point features, zero padded.
        coords: (M, 3) int64 (z, y, x).
        num_points: (M,) int64 points per voxel (1..max_points).
    """
    coords = point_to_voxel_coords(points, voxel_size, point_range)
    keep = coords[:, 0] >= 0
    pts, coords = points[keep], coords[keep]
    voxels_c, inverse = unique_voxels(coords)
    M = min(voxels_c.shape[0], max_voxels)
    in_voxel = inverse < M
    pts, inverse = pts[in_voxel], inverse[in_voxel]
    # Rank of each point within its voxel, keeping input order (stable sort by voxel id).
    order = torch.sort(inverse, stable=True).indices
    sorted_inv = inverse[order]
    counts = torch.bincount(sorted_inv, minlength=M)
    starts = torch.cumsum(counts, 0) - counts
    slot_sorted = torch.arange(sorted_inv.numel(), device=points.device) - starts[sorted_inv]
    slot = torch.empty_like(slot_sorted)
    slot[order] = slot_sorted
    ok = slot < max_points
    voxels = points.new_zeros((M, max_points, points.shape[1]))
    voxels[inverse[ok], slot[ok]] = pts[ok]
    return voxels, voxels_c[:M], counts.clamp(max=max_points)


def scatter_sum(src: Tensor, index: Tensor, num: int) -> Tensor:
    """Sum rows of `src` (N, C) into `num` groups by `index` (N,) -> (num, C)."""
    out = src.new_zeros((num,) + tuple(src.shape[1:]))
    return out.index_add_(0, index, src)


def scatter_mean(src: Tensor, index: Tensor, num: int) -> Tensor:
    """Mean of the rows of `src` (N, C) in each of `num` groups -> (num, C); empty groups are 0."""
    total = scatter_sum(src, index, num)
    count = torch.bincount(index, minlength=num).clamp(min=1).to(src.dtype)
    return total / count.view(-1, *([1] * (src.ndim - 1)))


def scatter_max(src: Tensor, index: Tensor, num: int) -> Tensor:
    """Element-wise max of the rows of `src` (N, C) in each of `num` groups -> (num, C); empty groups are 0.

    Differentiable (gradient flows to the arg-max rows).
    """
    out = src.new_zeros((num,) + tuple(src.shape[1:]))
    idx = index.view(-1, *([1] * (src.ndim - 1))).expand_as(src)
    return out.scatter_reduce(0, idx, src, reduce='amax', include_self=False)


def batch_voxelize(points: Sequence[Tensor], voxel_size: Sequence[float], point_range: Sequence[float], *,
                   mode: str = 'hard', max_points: int = 32, max_voxels: int = 20000
                   ) -> tuple[Tensor, Tensor, Tensor]:
    """Voxelise a batch of point clouds.

    Returns, for mode 'hard':
        voxels (M, T, C), coords (M, 4) int64 (b, z, y, x), num_points (M,).
    For mode 'dynamic':
        points (N', C) in range, coords (N', 4) int64 (b, z, y, x) of each point, and batch index (N',).
    """
    if mode not in ('hard', 'dynamic'):
        raise ShapeError(f"voxelisation mode must be 'hard' or 'dynamic', got {mode!r}")
    outs_a, outs_c, outs_n = [], [], []
    for b, pts in enumerate(points):
        if mode == 'hard':
            v, c, n = hard_voxelize(pts, voxel_size, point_range, max_points=max_points, max_voxels=max_voxels)
            outs_a.append(v)
            outs_n.append(n)
        else:
            c = dynamic_voxelize(pts, voxel_size, point_range)
            ok = c[:, 0] >= 0
            c = c[ok]
            outs_a.append(pts[ok])
            outs_n.append(torch.full((c.shape[0],), b, dtype=torch.long, device=pts.device))
        outs_c.append(torch.cat([c.new_full((c.shape[0], 1), b), c], 1))
    return torch.cat(outs_a), torch.cat(outs_c), torch.cat(outs_n)


@MODELS.register_module()
class Voxelization(nn.Module):
    """Voxelisation as a module (no parameters), so that configs choose grid and mode.

    Args:
        voxel_size: (vx, vy, vz) metres.
        point_range: (x0, y0, z0, x1, y1, z1) metres, LiDAR frame.
        mode: 'hard' or 'dynamic'.
        max_points: points per voxel (hard mode).
        max_voxels: (training, inference) voxel budget per sample (hard mode).
    """

    def __init__(self, *, voxel_size: Sequence[float], point_range: Sequence[float], mode: str = 'hard',
                 max_points: int = 32, max_voxels: Sequence[int] = (20000, 40000)) -> None:
        super().__init__()
        self.voxel_size = tuple(float(v) for v in voxel_size)
        self.point_range = tuple(float(v) for v in point_range)
        self.grid_shape = grid_shape(self.point_range, self.voxel_size)
        self.mode = mode
        self.max_points = int(max_points)
        self.max_voxels = tuple(int(v) for v in max_voxels)

    def forward(self, points: Sequence[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """See `batch_voxelize`; `points` is a list of B (N_b, C) tensors."""
        budget = self.max_voxels[0] if self.training else self.max_voxels[1]
        return batch_voxelize(points, self.voxel_size, self.point_range, mode=self.mode,
                              max_points=self.max_points, max_voxels=budget)
