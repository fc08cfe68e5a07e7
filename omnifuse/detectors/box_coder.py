"""Box residuals of the second stage, expressed in each RoI's own frame.

Residual t = (lx / d, ly / d, lz / dz_r, log(dx/dx_r), log(dy/dy_r), log(dz/dz_r), dyaw) where (lx, ly, lz)
is the box centre in the RoI frame, d = sqrt(dx_r² + dy_r²) the RoI's BEV diagonal and dyaw the heading
difference folded into [-pi/2, pi/2) (a box and its 180°-turned twin are the same box for IoU).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from omnifuse.ops.roi_grid import to_roi_frame

__all__ = ['encode_residual', 'decode_residual', 'fold_half_turn']


def fold_half_turn(angle: Tensor) -> Tensor:
    """Angles [rad] folded to [-pi/2, pi/2) modulo pi."""
    return torch.remainder(angle + math.pi / 2, math.pi) - math.pi / 2


def encode_residual(rois: Tensor, boxes: Tensor) -> Tensor:
    """(R, 7) RoIs and matched (R, 7) boxes -> (R, 7) residuals."""
    local = to_roi_frame(boxes[:, :3], rois)
    diag = rois[:, 3:5].norm(dim=1).clamp(min=1e-3)
    dims = torch.log(boxes[:, 3:6].clamp(min=1e-3) / rois[:, 3:6].clamp(min=1e-3))
    dyaw = fold_half_turn(boxes[:, 6] - rois[:, 6])
    return torch.cat([local[:, 0:1] / diag[:, None], local[:, 1:2] / diag[:, None],
                      local[:, 2:3] / rois[:, 5:6].clamp(min=1e-3), dims, dyaw[:, None]], 1)


def decode_residual(rois: Tensor, residual: Tensor) -> Tensor:
    """Inverse of `encode_residual`: (R, 7) RoIs and residuals -> (R, 7) boxes, yaw wrapped to [-pi, pi)."""
    diag = rois[:, 3:5].norm(dim=1)
    lx, ly = residual[:, 0] * diag, residual[:, 1] * diag
    c, s = torch.cos(rois[:, 6]), torch.sin(rois[:, 6])
    x = rois[:, 0] + lx * c - ly * s
    y = rois[:, 1] + lx * s + ly * c
    z = rois[:, 2] + residual[:, 2] * rois[:, 5]
    dims = rois[:, 3:6] * torch.exp(residual[:, 3:6].clamp(max=3))
    yaw = torch.remainder(rois[:, 6] + residual[:, 6] + math.pi, 2 * math.pi) - math.pi
    return torch.cat([torch.stack([x, y, z], 1), dims, yaw[:, None]], 1)
