"""Pillar LiDAR encoder (PointPillars-style, dynamic): the fast path of the default config.

Every in-range point gets (x, y, z, extra..., offset to its pillar's point mean, offset to the pillar
centre), one Linear+BN+ReLU, and the pillar keeps the element-wise max. Pillars are scattered into a
dense BEV canvas; the non-empty pillars are also handed on as a 2D `SparseLevel` (D = 1) so that the
second stage can pool and fuse them like voxels.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import Tensor, nn

from omnifuse.ops.features import LidarFeatures, SparseLevel
from omnifuse.ops.timing import stage
from omnifuse.ops.voxelize import batch_voxelize, grid_shape, scatter_max, scatter_mean, unique_voxels
from omnifuse.registry import MODELS

__all__ = ['PillarLidarEncoder']


@MODELS.register_module()
class PillarLidarEncoder(nn.Module):
    """Dynamic pillar feature net + scatter to BEV.

    Args:
        pillar_size: (px, py) metres.
        point_range: (x0, y0, z0, x1, y1, z1) metres, LiDAR frame.
        in_channels: point features used (x, y, z, intensity, ...).
        feat_channels: channels of the pillar features (= BEV channels).
        layers: number of point-wise Linear layers (the last one is followed by the max).

    Shapes:
        points: list of B tensors (N_b, >= in_channels).
        return: `LidarFeatures` with bev (B, feat_channels, H, W), H = (y1-y0)/py, W = (x1-x0)/px, and one
        sparse level 'pillars'.
    """

    def __init__(self, *, pillar_size: Sequence[float], point_range: Sequence[float], in_channels: int = 4,
                 feat_channels: int = 64, layers: int = 2) -> None:
        super().__init__()
        self.point_range = tuple(float(v) for v in point_range)
        self.voxel_size = (float(pillar_size[0]), float(pillar_size[1]), self.point_range[5] - self.point_range[2])
        self.grid = grid_shape(self.point_range, self.voxel_size)  # (1, H, W)
        self.in_channels = in_channels
        dims = [in_channels + 5] + [feat_channels] * layers
        mlp: list[nn.Module] = []
        for a, b in pairwise(dims):
            mlp += [nn.Linear(a, b, bias=False), nn.BatchNorm1d(b, eps=1e-3, momentum=0.01), nn.ReLU(inplace=True)]
        self.mlp = nn.Sequential(*mlp)
        self.bev_channels = feat_channels
        self.channels = {'pillars': feat_channels}

    def forward(self, points: Sequence[Tensor]) -> LidarFeatures:
        """Encode a batch of point clouds (see the class docstring)."""
        with stage('voxelise'):
            pts, pcoords, _ = batch_voxelize([p[:, :self.in_channels] for p in points], self.voxel_size,
                                             self.point_range, mode='dynamic')
            coords, inverse = unique_voxels(pcoords)  # (M, 4) b z y x, (N,)
        with stage('lidar_backbone'):
            return self._encode(pts, pcoords, coords, inverse, len(points))

    def _encode(self, pts: Tensor, pcoords: Tensor, coords: Tensor, inverse: Tensor, B: int) -> LidarFeatures:
        M = coords.shape[0]
        mean = scatter_mean(pts[:, :3], inverse, M)[inverse]  # (N, 3)
        lo = pts.new_tensor(self.point_range[:2])
        cell = pts.new_tensor(self.voxel_size[:2])
        centre = (pcoords[:, [3, 2]].to(pts.dtype) + 0.5) * cell + lo  # (N, 2) x y
        feats = torch.cat([pts, pts[:, :3] - mean, pts[:, :2] - centre], 1)
        pillar = scatter_max(self.mlp(feats), inverse, M)  # (M, C)
        _, H, W = self.grid
        canvas = pillar.new_zeros((B, H * W, pillar.shape[1]))
        canvas[coords[:, 0], coords[:, 2] * W + coords[:, 3]] = pillar
        bev = canvas.view(B, H, W, -1).permute(0, 3, 1, 2).contiguous()  # (B, C, H, W)
        origin = (self.point_range[0] + self.voxel_size[0] / 2, self.point_range[1] + self.voxel_size[1] / 2,
                  (self.point_range[2] + self.point_range[5]) / 2)
        level = SparseLevel(pillar, coords, origin, self.voxel_size, self.grid)
        return LidarFeatures(bev=bev, point_range=self.point_range, levels={'pillars': level})
