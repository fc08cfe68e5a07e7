"""Project 3D points into camera images and sample feature maps there (bilinear).

A camera is described per sample by `lidar2img` (4, 4): LiDAR frame -> homogeneous pixels (u·d, v·d, d, 1),
in the pixel grid of the (resized) image the encoder saw. Feature maps have stride `s` w.r.t. that grid.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['project_points', 'sample_image_features', 'sample_multi_camera']


def project_points(xyz: Tensor, lidar2img: Tensor, *, min_depth: float = 0.1) -> tuple[Tensor, Tensor]:
    """Project points with their sample's camera matrix.

    Shapes:
        xyz: (N, 3) LiDAR frame; lidar2img: (N, 4, 4) per point, or (4, 4) shared.
        return: uv (N, 2) pixels and depth (N,) metres (uv is garbage where depth < min_depth).
    """
    hom = torch.cat([xyz, xyz.new_ones(xyz.shape[0], 1)], 1)  # (N, 4)
    if lidar2img.ndim == 2:
        cam = hom @ lidar2img.T
    else:
        cam = torch.einsum('nij,nj->ni', lidar2img, hom)
    depth = cam[:, 2]
    uv = cam[:, :2] / depth.clamp(min=min_depth).unsqueeze(1)
    return uv, depth


def sample_image_features(feats: Tensor, xyz: Tensor, batch_idx: Tensor, lidar2img: Tensor, img_hw: Tensor,
                          *, stride: int, valid: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Bilinearly sample one camera's feature map at the projections of 3D points.

    Args:
        feats: (B, C, h, w) features of the (padded) image batch, stride `stride` pixels.
        xyz: (N, 3) points, LiDAR frame.
        batch_idx: (N,) int64 sample of each point.
        lidar2img: (B, 4, 4) camera matrix of each sample.
        img_hw: (B, 2) valid (unpadded) image height and width of each sample [px].
        stride: pixels per feature cell.
        valid: (B,) bool, False where the sample has no such image (dropped camera).

    Returns:
        (N, C) features (0 where the point is not visible) and (N,) bool visibility.
    """
    B, C, h, w = feats.shape
    if xyz.shape[0] == 0:
        return feats.new_zeros((0, C)), torch.zeros(0, dtype=torch.bool, device=feats.device)
    uv, depth = project_points(xyz, lidar2img[batch_idx])
    hw = img_hw[batch_idx].to(uv.dtype)
    vis = (depth > 0.1) & (uv[:, 0] >= 0) & (uv[:, 1] >= 0) & (uv[:, 0] < hw[:, 1]) & (uv[:, 1] < hw[:, 0])
    if valid is not None:
        vis &= valid[batch_idx]
    # Normalised grid coordinates of the feature map (align_corners=False: pixel centres at (i+0.5)*stride).
    gx = uv[:, 0] / (stride * w) * 2 - 1
    gy = uv[:, 1] / (stride * h) * 2 - 1
    grid = torch.stack([gx, gy], 1).clamp(-2, 2)
    out = feats.new_zeros((xyz.shape[0], C))
    for b in range(B):  # grid_sample needs one grid per image; points are grouped by sample
        sel = (batch_idx == b).nonzero(as_tuple=True)[0]
        if sel.numel() == 0:
            continue
        g = grid[sel].view(1, 1, -1, 2)
        s = F.grid_sample(feats[b:b + 1], g, mode='bilinear', padding_mode='zeros', align_corners=False)
        out[sel] = s.view(C, -1).T
    out = out * vis.unsqueeze(1).to(out.dtype)
    return out, vis


def sample_multi_camera(feats: Mapping[str, Tensor], xyz: Tensor, batch_idx: Tensor,
                        cams: Mapping[str, Mapping[str, Tensor]], *, stride: int, channels: int
                        ) -> tuple[Tensor, Tensor]:
    """Average the features of every camera that sees each point.

    Args:
        feats: per camera name, (B, C, h, w) features.
        xyz: (N, 3) points.
        batch_idx: (N,) sample index of each point.
        cams: per camera name, {'lidar2img': (B, 4, 4), 'img_hw': (B, 2), 'valid': (B,) bool}.
        stride: feature stride [px].
        channels: C (used when no camera exists at all).

    Returns:
        (N, C) mean features over the cameras seeing the point (0 if none) and (N,) bool seen by any.
    """
    total = xyz.new_zeros((xyz.shape[0], channels))
    count = xyz.new_zeros((xyz.shape[0], 1))
    for name, f in feats.items():
        cam = cams[name]
        s, vis = sample_image_features(f, xyz, batch_idx, cam['lidar2img'], cam['img_hw'], stride=stride,
                                       valid=cam.get('valid'))
        total = total + s
        count = count + vis.unsqueeze(1).to(total.dtype)
    return total / count.clamp(min=1), count.squeeze(1) > 0
