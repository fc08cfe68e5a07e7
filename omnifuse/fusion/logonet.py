"""LoGoNet's local-to-global fusion blocks (CVPR 2023), written from the paper's description.

GoF (global fusion): every non-empty voxel of a sparse level is represented by the centroid of the raw
    points inside it (its centre when the level's cell holds no raw point); the centroid is projected into
    each camera, image features are sampled bilinearly and fused with the voxel feature:
    concat -> Linear -> BN -> ReLU.
LoF (local fusion): each RoI grid point carries a position descriptor (local xyz, log point density of
    its cell, centroid of the cell's points) through a small MLP; the grid point is projected into the
    image, image features are sampled and lifted by a Linear layer; both are summed and added to the
    RoI-grid pooled voxel features.
FDA (feature dynamic aggregation): one transformer-encoder layer (self-attention) over the G³ grid
    features of a RoI with empty grid points masked and a positional encoding from (xyz, density).

Missing images (a dropped camera, or a model trained with cameras run without them) give zero image
features with a zero visibility flag: the blocks never fail for lack of a modality.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise

import torch
from torch import Tensor, nn

from omnifuse.ops.features import ImageFeatures, SparseLevel
from omnifuse.ops.projection import sample_multi_camera
from omnifuse.ops.voxel_query import VoxelTable
from omnifuse.ops.voxelize import scatter_mean, unique_voxels
from omnifuse.registry import MODELS

__all__ = ['sample_modalities', 'GlobalFusion', 'LocalFusion', 'FeatureDynamicAggregation']


def sample_modalities(images: Mapping[str, ImageFeatures | None], channels: Mapping[str, int], xyz: Tensor,
                      batch_idx: Tensor) -> Tensor:
    """Sample every configured image modality at 3D points and concatenate [features, visible] per modality.

    Args:
        images: per modality name ('camera', 'thermal'), its features, or None/absent when missing.
        channels: per modality name, the expected channel count C_m (the order of the output).
        xyz: (N, 3) points, LiDAR frame.
        batch_idx: (N,) int64 sample of each point.

    Returns:
        (N, Σ (C_m + 1)) features; a missing modality contributes zeros.
    """
    parts = []
    for name in sorted(channels):
        feats = images.get(name)
        if feats is None or not feats.maps:
            parts.append(xyz.new_zeros((xyz.shape[0], channels[name] + 1)))
            continue
        sampled, seen = sample_multi_camera(feats.maps, xyz, batch_idx, feats.cams, stride=feats.stride,
                                            channels=channels[name])
        parts.append(torch.cat([sampled, seen.unsqueeze(1).to(sampled.dtype)], 1))
    return torch.cat(parts, 1) if parts else xyz.new_zeros((xyz.shape[0], 0))


def _mlp(dims: Sequence[int], *, last_act: bool = True) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i, (a, b) in enumerate(pairwise(dims)):
        last = i == len(dims) - 2
        mods.append(nn.Linear(a, b, bias=last and not last_act))
        if not last or last_act:
            mods += [nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
    return nn.Sequential(*mods)


@MODELS.register_module()
class GlobalFusion(nn.Module):
    """GoF: fuse image features into every non-empty voxel of one sparse level.

    Args:
        voxel_channels: C of the level's features (also the output channels).
        image_channels: per modality name, its feature channels, e.g. {'camera': 64, 'thermal': 32}.

    Shapes:
        level.features (M, C) -> returned level with fused (M, C) features, same coords.
    """

    def __init__(self, *, voxel_channels: int, image_channels: Mapping[str, int]) -> None:
        super().__init__()
        self.image_channels = dict(image_channels)
        extra = sum(c + 1 for c in self.image_channels.values())
        self.fuse = _mlp([voxel_channels + extra, voxel_channels])

    @staticmethod
    def voxel_centroids(level: SparseLevel, points: Tensor, points_batch: Tensor) -> Tensor:
        """(M, 3) centroid of the raw points in each voxel of `level` (the voxel centre when it holds none)."""
        centres = level.centres()
        if points.shape[0] == 0:
            return centres
        idx = level.index_of(points[:, :3].to(centres.dtype))  # (N, 3) z y x
        coords = torch.cat([points_batch.view(-1, 1), idx], 1)
        uniq, inverse = unique_voxels(coords)
        mean = scatter_mean(points[:, :3].to(centres.dtype), inverse, uniq.shape[0])
        rows = VoxelTable(uniq, level.shape).lookup(level.coords)  # (M,)
        found = rows >= 0
        out = centres.clone()
        out[found] = mean[rows[found]]
        return out

    def forward(self, level: SparseLevel, points: Tensor, points_batch: Tensor,
                images: Mapping[str, ImageFeatures | None]) -> SparseLevel:
        """Fuse the images into `level` (see the class docstring); `points` (N, >=3) with batch (N,)."""
        xyz = self.voxel_centroids(level, points, points_batch)
        img = sample_modalities(images, self.image_channels, xyz, level.coords[:, 0])
        x = torch.cat([level.features, img.to(level.features.dtype)], 1)
        if self.training and x.shape[0] == 1:
            # one voxel near the RoIs (a very sparse scan): BatchNorm has no batch statistics for a single
            # row, so this step normalises with the running ones, as at inference
            self.fuse.eval()
            try:
                fused = self.fuse(x)
            finally:
                self.fuse.train()
        else:
            fused = self.fuse(x)
        return SparseLevel(fused, level.coords, level.origin, level.spacing, level.shape)


@MODELS.register_module()
class LocalFusion(nn.Module):
    """LoF: per RoI grid point, position descriptor MLP + lifted image features, added to pooled features.

    Args:
        image_channels: per modality name, its feature channels.
        out_channels: channels of the grid features it is added to.
        pos_channels: hidden width of the position MLP.

    Shapes:
        grid_xyz (R, G³, 3) LiDAR frame; grid_batch (R,); descriptor (R, G³, 7) = local xyz (box-size units),
        log(1 + count), centroid offset (cell units). return: (R, G³, out_channels).
    """

    def __init__(self, *, image_channels: Mapping[str, int], out_channels: int, pos_channels: int = 32) -> None:
        super().__init__()
        self.image_channels = dict(image_channels)
        extra = sum(c + 1 for c in self.image_channels.values())
        self.pos = _mlp([7, pos_channels, pos_channels])
        self.lift = _mlp([extra, out_channels])
        self.out = _mlp([pos_channels + out_channels, out_channels], last_act=False)

    def forward(self, grid_xyz: Tensor, grid_batch: Tensor, descriptor: Tensor,
                images: Mapping[str, ImageFeatures | None]) -> Tensor:
        """See the class docstring."""
        R, P, _ = grid_xyz.shape
        flat = grid_xyz.reshape(-1, 3)
        batch = grid_batch.view(-1, 1).expand(R, P).reshape(-1)
        img = sample_modalities(images, self.image_channels, flat, batch)
        pos = self.pos(descriptor.reshape(R * P, -1))
        out = self.out(torch.cat([pos, self.lift(img.to(pos.dtype))], 1))
        return out.view(R, P, -1)


@MODELS.register_module()
class FeatureDynamicAggregation(nn.Module):
    """FDA: one self-attention layer over the grid features of each RoI.

    Args:
        channels: C of the grid features.
        heads: attention heads.
        ffn_channels: hidden width of the feed-forward part.
        dropout: dropout of the attention and FFN.

    Shapes:
        feats (R, G³, C); pos (R, G³, 4) = local xyz + log density; empty (R, G³) bool. return (R, G³, C).
    """

    def __init__(self, *, channels: int, heads: int = 4, ffn_channels: int = 128, dropout: float = 0.0) -> None:
        super().__init__()
        self.pos_embed = nn.Sequential(nn.Linear(4, channels), nn.ReLU(inplace=True), nn.Linear(channels, channels))
        self.layer = nn.TransformerEncoderLayer(channels, heads, ffn_channels, dropout, batch_first=True)

    def forward(self, feats: Tensor, pos: Tensor, empty: Tensor) -> Tensor:
        """See the class docstring. A RoI with every grid point empty attends over all of them."""
        mask = empty & ~empty.all(1, keepdim=True)
        x = feats + self.pos_embed(pos)
        return self.layer(x, src_key_padding_mask=mask)
