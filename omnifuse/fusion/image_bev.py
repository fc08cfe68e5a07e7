"""Image features in the first stage: camera/thermal features lifted to the LiDAR BEV through the points.

LoGoNet's GoF and LoF only refine the proposals the LiDAR BEV produced, so an object the LiDAR alone
does not propose (a far pedestrian with a handful of points) can never profit from what the camera or
the thermal camera sees. This block gives the proposal head image evidence as well:

    every LiDAR point in range samples each image modality at its projection (features and a visible flag
    per modality, `sample_modalities`) -> Linear -> BN -> ReLU over the points seen by any camera ->
    per BEV cell the maximum over its visible points (BEV area pooling, as in BEV-DG) -> (B, C, H, W)

Cells without a visible point get zeros. The map is concatenated to the LiDAR encoder's BEV before the
neck. The LiDAR gives the depth, so nothing has to be guessed about heights or the ground (unlike inverse
perspective mapping), and a dropped modality simply contributes zero features with a zero flag.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from omnifuse.errors import ShapeError
from omnifuse.fusion.logonet import sample_modalities
from omnifuse.ops.features import ImageFeatures
from omnifuse.ops.voxelize import scatter_max
from omnifuse.registry import MODELS

__all__ = ['PointImageBEV', 'bev_cell_index']


def bev_cell_index(xyz: Tensor, batch_idx: Tensor, point_range: Sequence[float], hw: tuple[int, int]
                   ) -> tuple[Tensor, Tensor]:
    """Flat index b·H·W + row·W + col of the BEV cell of each point (row ~ y, column ~ x).

    Shapes:
        xyz: (N, >=2) points, LiDAR frame; batch_idx: (N,) int64; point_range: (x0, y0, z0, x1, y1, z1).
        return: (N,) int64 index and (N,) bool inside the range's x-y rectangle (index of others is 0).
    """
    H, W = hw
    x0, y0, _, x1, y1, _ = (float(v) for v in point_range)
    col = torch.floor((xyz[:, 0] - x0) / ((x1 - x0) / W)).long()
    row = torch.floor((xyz[:, 1] - y0) / ((y1 - y0) / H)).long()
    inside = (col >= 0) & (col < W) & (row >= 0) & (row < H)
    index = batch_idx.long() * (H * W) + row * W + col
    return torch.where(inside, index, torch.zeros_like(index)), inside


@MODELS.register_module()
class PointImageBEV(nn.Module):
    """Lift image features to the LiDAR BEV grid through the LiDAR points (see the module docstring).

    Args:
        image_channels: per modality ('camera', 'thermal'), the channels of its encoder's map.
        point_range: (x0, y0, z0, x1, y1, z1) of the BEV map [m], LiDAR frame.
        out_channels: C of the output map.

    Shapes:
        xyz: (N, >=3) points of the whole batch, LiDAR frame; batch_idx: (N,) int64 sample of each point;
        images: per modality ImageFeatures or None; hw: (H, W) of the LiDAR BEV map.
        Returns (B, out_channels, H, W), zero where no visible point falls.
    """

    flag_columns: Tensor  # buffer: the column of each modality's 'seen' flag in the sampled features

    def __init__(self, *, image_channels: Mapping[str, int], point_range: Sequence[float],
                 out_channels: int = 32) -> None:
        super().__init__()
        if not image_channels:
            raise ValueError('PointImageBEV needs at least one image modality (image_channels is empty)')
        if len(point_range) != 6:
            raise ValueError(f'PointImageBEV: point_range must be 6 numbers, got {list(point_range)}')
        self.image_channels = dict(image_channels)
        self.point_range = tuple(float(v) for v in point_range)
        self.out_channels = out_channels
        cin = sum(c + 1 for c in self.image_channels.values())
        # column of each modality's visible flag in sample_modalities' output (modalities in sorted order)
        widths = torch.tensor([c + 1 for _, c in sorted(self.image_channels.items())])
        self.register_buffer('flag_columns', torch.cumsum(widths, 0) - 1, persistent=False)
        self.lift = nn.Sequential(nn.Linear(cin, out_channels, bias=False), nn.BatchNorm1d(out_channels),
                                  nn.ReLU(inplace=True))

    def forward(self, xyz: Tensor, batch_idx: Tensor, batch_size: int,
                images: Mapping[str, ImageFeatures | None], hw: tuple[int, int]) -> Tensor:
        """Image features lifted to the (B, out_channels, H, W) BEV map; see the class docstring."""
        H, W, B = int(hw[0]), int(hw[1]), int(batch_size)
        if xyz.ndim != 2 or xyz.shape[1] < 3 or batch_idx.shape != xyz.shape[:1]:
            raise ShapeError(f'PointImageBEV: expected (N, >=3) points and (N,) batch indices, got '
                             f'{tuple(xyz.shape)} and {tuple(batch_idx.shape)}')
        xyz = xyz[:, :3]
        batch = batch_idx.long()
        index, inside = bev_cell_index(xyz, batch, self.point_range, (H, W))
        keep = inside.nonzero(as_tuple=True)[0]
        xyz, batch, index = xyz[keep], batch[keep], index[keep]
        sampled = sample_modalities(images, self.image_channels, xyz, batch)  # (N, Σ(C_m + 1))
        seen = sampled[:, self.flag_columns].amax(1) > 0 if sampled.shape[0] else sampled.new_zeros(0).bool()
        rows = seen.nonzero(as_tuple=True)[0]
        out = xyz.new_zeros((B * H * W, self.out_channels))
        if rows.numel() >= 2 or (rows.numel() == 1 and not self.training):  # BN needs two rows to train
            lifted = self.lift(sampled[rows])
            out = scatter_max(lifted, index[rows], B * H * W)
        else:  # nothing seen: zeros that still depend on the parameters (DDP wants every one in the graph)
            out = out + sum(p.sum() for p in self.lift.parameters()) * 0.0
        return out.view(B, H, W, self.out_channels).permute(0, 3, 1, 2).contiguous()
