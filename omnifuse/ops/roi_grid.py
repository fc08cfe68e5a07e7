"""Uniform G×G×G grids inside oriented 3D boxes (RoIs) and the raw-point statistics of their cells.

A RoI is a box row (x, y, z, dx, dy, dz, yaw), LiDAR frame. Grid point (i, j, k) sits at the centre of
cell (i, j, k): local offset ((i + 0.5) / G - 0.5) · (dx, dy, dz) in the box frame (x along the heading).
Flattened index: (i · G + j) · G + k, i along x, j along y, k along z.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ['roi_grid_unit', 'roi_grid_points', 'to_roi_frame', 'roi_cell_stats']


def roi_grid_unit(grid_size: int, *, device: torch.device | None = None, dtype: torch.dtype = torch.float32
                  ) -> Tensor:
    """(G³, 3) cell-centre offsets in units of the box size, in [-0.5, 0.5]."""
    r = (torch.arange(grid_size, device=device, dtype=dtype) + 0.5) / grid_size - 0.5
    gx, gy, gz = torch.meshgrid(r, r, r, indexing='ij')
    return torch.stack([gx, gy, gz], -1).reshape(-1, 3)


def roi_grid_points(rois: Tensor, grid_size: int) -> tuple[Tensor, Tensor]:
    """Grid points of every RoI.

    Shapes:
        rois: (R, 7). return: global (R, G³, 3) LiDAR frame, local (R, G³, 3) metres in the box frame.
    """
    unit = roi_grid_unit(grid_size, device=rois.device, dtype=rois.dtype)
    local = unit.unsqueeze(0) * rois[:, None, 3:6]  # (R, G³, 3)
    c, s = torch.cos(rois[:, 6:7]), torch.sin(rois[:, 6:7])
    gx = local[..., 0] * c - local[..., 1] * s + rois[:, 0:1]
    gy = local[..., 0] * s + local[..., 1] * c + rois[:, 1:2]
    gz = local[..., 2] + rois[:, 2:3]
    return torch.stack([gx, gy, gz], -1), local


def to_roi_frame(xyz: Tensor, rois: Tensor) -> Tensor:
    """Express (..., 3) points in the frame of the matching (..., 7) RoIs (broadcast), metres."""
    d = xyz - rois[..., :3]
    c, s = torch.cos(rois[..., 6]), torch.sin(rois[..., 6])
    return torch.stack([d[..., 0] * c + d[..., 1] * s, -d[..., 0] * s + d[..., 1] * c, d[..., 2]], -1)


def _candidate_pairs(xyz: Tensor, points_batch: Tensor, rois: Tensor, rois_batch: Tensor, cell: float
                     ) -> tuple[Tensor, Tensor]:
    """(point, RoI) pairs whose coarse BEV cells overlap the RoI's circumscribed square (a bucket search)."""
    radius = rois[:, 3:5].norm(dim=1) / 2
    lo = (rois[:, :2] - radius[:, None]).min(0).values
    hi = (rois[:, :2] + radius[:, None]).max(0).values
    W = int(((hi[0] - lo[0]) / cell).floor().item()) + 1
    H = int(((hi[1] - lo[1]) / cell).floor().item()) + 1
    inb = ((xyz[:, :2] >= lo) & (xyz[:, :2] <= hi)).all(1)
    pidx = inb.nonzero(as_tuple=True)[0]
    cxy = ((xyz[pidx, :2] - lo) / cell).floor().long()
    keys = (points_batch[pidx] * H + cxy[:, 1]) * W + cxy[:, 0]
    sorted_keys, order = torch.sort(keys)
    rlo = ((rois[:, :2] - radius[:, None] - lo) / cell).floor().long().clamp(min=0)
    rhi = ((rois[:, :2] + radius[:, None] - lo) / cell).floor().long()
    rhi = torch.minimum(rhi, torch.tensor([W - 1, H - 1], device=rois.device))
    K = int((rhi - rlo).max().item()) + 1
    off = torch.arange(K, device=rois.device)
    cy = rlo[:, 1:2] + off  # (R, K) rows; every row is a contiguous range of x cells
    ok = cy <= rhi[:, 1:2]
    row_key = (rois_batch[:, None] * H + cy) * W
    start = torch.searchsorted(sorted_keys, row_key + rlo[:, 0:1])
    end = torch.searchsorted(sorted_keys, row_key + rhi[:, 0:1], right=True)
    n = torch.where(ok, end - start, torch.zeros_like(start)).reshape(-1)  # (R·K,)
    total = int(n.sum().item())
    if total == 0:
        empty = torch.zeros(0, dtype=torch.long, device=rois.device)
        return empty, empty
    seg = torch.repeat_interleave(torch.arange(n.numel(), device=rois.device), n)
    first = torch.cumsum(n, 0) - n
    within = torch.arange(total, device=rois.device) - first[seg]
    pos = start.reshape(-1)[seg] + within
    return pidx[order[pos]], seg // K


def roi_cell_stats(points: Tensor, points_batch: Tensor, rois: Tensor, rois_batch: Tensor, grid_size: int, *,
                   bucket: float = 1.0) -> tuple[Tensor, Tensor]:
    """Count the raw points in every grid cell of every RoI and their mean position in the cell.

    Args:
        points: (N, >=3) points, LiDAR frame.
        points_batch: (N,) int64 sample of each point.
        rois: (R, 7) boxes.
        rois_batch: (R,) int64 sample of each RoI.
        grid_size: G.
        bucket: BEV bucket size [m] of the point search.

    Returns:
        count (R, G³) float points per cell, and centroid (R, G³, 3): mean offset of the cell's points from
        the cell centre in units of the cell size (in [-0.5, 0.5]; 0 for empty cells).
    """
    G3 = grid_size ** 3
    R = rois.shape[0]
    count = rois.new_zeros(R * G3)
    total = rois.new_zeros((R * G3, 3))
    if R == 0 or points.shape[0] == 0:
        return count.view(R, G3), total.view(R, G3, 3)
    xyz = points[:, :3].to(rois.dtype)
    pi, ri = _candidate_pairs(xyz, points_batch, rois, rois_batch, bucket)
    local = to_roi_frame(xyz[pi], rois[ri]) / rois[ri, 3:6] + 0.5  # (k, 3) in [0, 1) inside the box
    inside = ((local >= 0) & (local < 1)).all(1)
    local, rr = local[inside], ri[inside]
    cell3 = (local * grid_size).floor().long().clamp(0, grid_size - 1)
    cell = (cell3[:, 0] * grid_size + cell3[:, 1]) * grid_size + cell3[:, 2]
    key = rr * G3 + cell
    offset = local * grid_size - cell3.to(local.dtype) - 0.5
    count.index_add_(0, key, torch.ones_like(key, dtype=count.dtype))
    total.index_add_(0, key, offset)
    centroid = total / count.clamp(min=1).unsqueeze(1)
    return count.view(R, G3), centroid.view(R, G3, 3)
