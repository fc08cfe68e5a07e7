"""Camera features to the bird's-eye view by inverse perspective mapping (IPM).

For every BEV cell centre (x, y) and each of a few heights z above the ground, the 3D point is
projected into the camera with `lidar2img`; the image feature map is sampled there (bilinear). Cells
that fall behind the camera or outside the image get zeros and a zero validity mask. Several heights
let the network see the bottom and the body of an object, which IPM alone flattens onto the ground.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnifuse.registry import MODELS
from omnifuse.structures.bev_grid import BEVGrid

__all__ = ['IPMCameraToBEV']


@MODELS.register_module()
class IPMCameraToBEV(nn.Module):
    """Sample image features on BEV cells at a few heights.

    Args:
        in_channels: channels of the image feature map.
        out_channels: channels of the BEV map.
        resolution, extent: the BEV grid (see omnifuse.structures.bev_grid.BEVGrid).
        stride: down-sampling of the BEV output relative to the grid (cells are pooled).
        heights: heights [m] above `ground_z` at which to sample.
        ground_z: ground height in the LiDAR frame [m] (KITTI-like mount: -1.73).

    Shapes:
        feats: (B, C, h, w) at `feat_stride` pixels; lidar2img: (B, 4, 4) for the full-size image;
        return: (B, out_channels, H / stride, W / stride) and the (B, 1, H / stride, W / stride) validity.
    """

    points: Tensor  # buffer: (K, H, W, 3) sample points, LiDAR frame

    def __init__(self, *, in_channels: int, out_channels: int, resolution: float = 0.1, extent: float = 10.0,
                 stride: int = 2, heights: Sequence[float] = (0.0, 0.5, 1.0), ground_z: float = -1.73) -> None:
        super().__init__()
        grid = BEVGrid(resolution * stride, extent)
        centres = torch.from_numpy(grid.cell_centers()).float()  # (H, W, 2)
        pts = [torch.cat([centres, torch.full_like(centres[..., :1], ground_z + h)], -1) for h in heights]
        self.register_buffer('points', torch.stack(pts, 0), persistent=False)  # (K, H, W, 3)
        self.reduce = nn.Sequential(nn.Conv2d(in_channels * len(heights), out_channels, 1, bias=False),
                                    nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))
        self.out_channels = out_channels

    def forward(self, feats: Tensor, lidar2img: Tensor, image_size: tuple[int, int]) -> tuple[Tensor, Tensor]:
        """(BEV features, validity) of a batch of image feature maps; see the class docstring."""
        B, C, h, w = feats.shape
        K, H, W, _ = self.points.shape
        img_h, img_w = image_size
        pts = self.points.reshape(1, -1, 3).to(feats.dtype)  # (1, KHW, 3)
        hom = pts @ lidar2img[:, :3, :3].transpose(1, 2).to(feats.dtype) + lidar2img[:, None, :3, 3].to(feats.dtype)
        depth = hom[..., 2]
        uv = hom[..., :2] / depth.clamp(min=1e-3)[..., None]  # (B, KHW, 2)
        norm = torch.stack([uv[..., 0] / img_w * 2 - 1, uv[..., 1] / img_h * 2 - 1], -1)
        valid = (depth > 0.1) & (norm.abs() <= 1).all(-1)  # (B, KHW)
        norm = torch.where(valid[..., None], norm, torch.full_like(norm, 2.0))  # out of range -> zeros
        sampled = F.grid_sample(feats, norm.view(B, K * H, W, 2), align_corners=False, padding_mode='zeros')
        sampled = sampled.view(B, C, K, H, W).reshape(B, C * K, H, W)  # (B, C*K, H, W)
        mask = valid.view(B, K, H, W).any(1, keepdim=True).to(feats.dtype)
        return self.reduce(sampled) * mask, mask
