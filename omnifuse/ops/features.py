"""Named feature containers passed between the model stages (instead of a growing dict)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = ['SparseLevel', 'LidarFeatures', 'ImageFeatures']


@dataclass
class SparseLevel:
    """Non-empty voxels of one backbone level.

    The centre of voxel (z, y, x) is `origin + (x, y, z) * spacing`; a point p falls in voxel
    `round((p - origin) / spacing)` (nearest centre). Strided sparse convolutions keep this exact:
    kernel 3, stride 2, padding 1 keeps the origin and doubles the spacing.

    Attributes:
        features: (M, C) voxel features.
        coords: (M, 4) int64 (b, z, y, x) indices in this level's grid.
        origin: (x, y, z) metres, centre of voxel (0, 0, 0).
        spacing: (sx, sy, sz) metres between neighbouring voxel centres.
        shape: grid shape (D, H, W).
    """

    features: Tensor
    coords: Tensor
    origin: tuple[float, float, float]
    spacing: tuple[float, float, float]
    shape: tuple[int, int, int]

    def centres(self) -> Tensor:
        """(M, 3) voxel centres (x, y, z), LiDAR frame."""
        xyz = self.coords[:, 1:].flip(1).to(self.features.dtype)
        return xyz * xyz.new_tensor(self.spacing) + xyz.new_tensor(self.origin)

    def index_of(self, xyz: Tensor) -> Tensor:
        """(..., 3) int64 (z, y, x) index of the voxel whose centre is nearest to each (..., 3) point."""
        rel = (xyz - xyz.new_tensor(self.origin)) / xyz.new_tensor(self.spacing)
        return torch.round(rel).long().flip(-1)


@dataclass
class LidarFeatures:
    """What a LiDAR encoder hands on.

    Attributes:
        bev: (B, C, H, W) BEV map over `point_range` (row ~ y, column ~ x).
        point_range: (x0, y0, z0, x1, y1, z1) metres, LiDAR frame.
        levels: sparse levels by name (e.g. 'x_conv3' at stride 4), empty for pillars.
    """

    bev: Tensor
    point_range: tuple[float, ...]
    levels: dict[str, SparseLevel] = field(default_factory=dict)


@dataclass
class ImageFeatures:
    """Image features of every camera of one modality (colour or thermal).

    Attributes:
        maps: per camera name, (B, C, h, w) features at `stride` pixels.
        cams: per camera name, {'lidar2img': (B, 4, 4), 'img_hw': (B, 2), 'valid': (B,) bool}.
        stride: pixels per feature cell.
        channels: C.
    """

    maps: dict[str, Tensor]
    cams: dict[str, dict[str, Tensor]]
    stride: int
    channels: int
