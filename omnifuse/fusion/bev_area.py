"""BEV area-to-area fusion of per-point LiDAR and camera features (BEV-DG, ICCV 2023).

Points are binned into BEV pillars (a square cell of the ground plane, all heights). Per pillar, the 3D
point features and the 2D image features gathered at the points' projections are max-pooled separately
(only the points that project into the image take part in the 2D max), concatenated, and handed back to
every point of the pillar. Fusing areas instead of single point-pixel pairs makes the result tolerant to
a misaligned camera: a point whose own pixel is off still receives what the image shows around it.

Pillars are found by hashing the integer cell of each point, so there is no bounded grid and no point
is dropped: a point far outside any configured range simply gets its own pillar.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from omnifuse.errors import ShapeError
from omnifuse.ops.voxelize import scatter_max, unique_voxels
from omnifuse.registry import MODELS

__all__ = ['pillar_index', 'area_max_pool', 'BEVAreaFusion']


def pillar_index(xyz: Tensor, batch_idx: Tensor, *, pillar_size: Sequence[float],
                 origin: Sequence[float] = (0.0, 0.0)) -> tuple[Tensor, Tensor]:
    """The BEV pillar of every point.

    Pillar (b, i, j) holds the points of sample b with floor((x - x0) / px) = i and floor((y - y0) / py) = j.

    Shapes:
        xyz: (N, >=2) points, LiDAR frame; batch_idx: (N,) int64.
        return: inverse (N,) int64 pillar of each point in 0..M-1, and pillars (M, 3) int64 (b, i, j),
        in order of first appearance.
    """
    if xyz.ndim != 2 or xyz.shape[1] < 2:
        raise ShapeError(f'pillar_index: xyz must be (N, >=2), got {tuple(xyz.shape)}')
    if batch_idx.shape != xyz.shape[:1]:
        raise ShapeError(f'pillar_index: batch_idx must be ({xyz.shape[0]},), got {tuple(batch_idx.shape)}')
    size = xyz.new_tensor([float(pillar_size[0]), float(pillar_size[1])])
    lo = xyz.new_tensor([float(origin[0]), float(origin[1])])
    cell = torch.floor((xyz[:, :2] - lo) / size).long()  # (N, 2)
    keys = torch.cat([batch_idx.long().view(-1, 1), cell], 1)  # (N, 3) b i j
    if keys.shape[0] == 0:
        return keys.new_zeros(0), keys.new_zeros((0, 3))
    low = keys.min(0).values  # unique_voxels wants entries >= 0: shift, then shift back
    pillars, inverse = unique_voxels(keys - low)
    return inverse, pillars + low


def area_max_pool(feat_3d: Tensor, feat_2d: Tensor, inverse: Tensor, num_pillars: int, *,
                  visible: Tensor | None = None) -> Tensor:
    """Per pillar, the max of the 3D features and the max of the 2D features of its visible points.

    Args:
        feat_3d: (N, C3) per-point LiDAR features.
        feat_2d: (N, C2) per-point image features (rows of points outside the image are ignored).
        inverse: (N,) int64 pillar of each point, in 0..num_pillars-1.
        num_pillars: M.
        visible: (N,) bool, the points that project into the image; None = all of them.

    Returns:
        (M, C3 + C2) pillar vectors; the 2D part is 0 for a pillar without a visible point.
    """
    if feat_3d.shape[0] != feat_2d.shape[0] or inverse.shape != feat_3d.shape[:1]:
        raise ShapeError(f'area_max_pool: feat_3d {tuple(feat_3d.shape)}, feat_2d {tuple(feat_2d.shape)} and '
                         f'inverse {tuple(inverse.shape)} must have the same N')
    pooled_3d = scatter_max(feat_3d, inverse, num_pillars)  # (M, C3)
    if visible is None:
        pooled_2d = scatter_max(feat_2d, inverse, num_pillars)
    else:
        sel = visible.nonzero(as_tuple=True)[0]
        pooled_2d = scatter_max(feat_2d[sel], inverse[sel], num_pillars)  # (M, C2), 0 where no visible point
    return torch.cat([pooled_3d, pooled_2d], 1)


@MODELS.register_module()
class BEVAreaFusion(nn.Module):
    """Area-to-area fusion: pillar max-pool of 3D and 2D point features, handed back to the points.

    Args:
        channels_3d: C3 of the per-point LiDAR features.
        channels_2d: C2 of the per-point image features.
        pillar_size: (px, py) metres of a BEV pillar.
        origin: (x0, y0) metres, a corner of pillar (0, 0) (e.g. the point range's lower corner).
        out_channels: width of the Linear + BN + ReLU applied to the pillar vector; None hands the raw
            (C3 + C2) pooled vector back.

    Shapes:
        feat_3d: (N, C3); feat_2d: (N, C2); xyz: (N, 3) LiDAR frame; batch_idx: (N,) int64;
        visible: (N,) bool (None = every point sees the image).
        return: (N, out_channels or C3 + C2), the vector of each point's pillar.
    """

    def __init__(self, channels_3d: int, channels_2d: int, *, pillar_size: Sequence[float] = (1.0, 1.0),
                 origin: Sequence[float] = (0.0, 0.0), out_channels: int | None = 64) -> None:
        super().__init__()
        self.channels_3d = channels_3d
        self.channels_2d = channels_2d
        self.pillar_size = (float(pillar_size[0]), float(pillar_size[1]))
        self.origin = (float(origin[0]), float(origin[1]))
        cin = channels_3d + channels_2d
        if out_channels is None:
            self.mix: nn.Module = nn.Identity()
            self.out_channels = cin
        else:
            self.mix = nn.Sequential(nn.Linear(cin, out_channels, bias=False), nn.BatchNorm1d(out_channels),
                                     nn.ReLU(inplace=True))
            self.out_channels = out_channels

    def forward(self, feat_3d: Tensor, feat_2d: Tensor, xyz: Tensor, batch_idx: Tensor,
                visible: Tensor | None = None) -> Tensor:
        """Pillar vector of every point (see the class docstring)."""
        if feat_3d.shape[1] != self.channels_3d or feat_2d.shape[1] != self.channels_2d:
            raise ShapeError(f'BEVAreaFusion: expected ({self.channels_3d}, {self.channels_2d}) channels, '
                             f'got ({feat_3d.shape[1]}, {feat_2d.shape[1]})')
        inverse, pillars = pillar_index(xyz, batch_idx, pillar_size=self.pillar_size, origin=self.origin)
        pooled = area_max_pool(feat_3d, feat_2d, inverse, pillars.shape[0], visible=visible)  # (M, C3 + C2)
        return self.mix(pooled)[inverse]  # (N, C_out)
