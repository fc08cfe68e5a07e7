"""Ultrasonic + camera near-field BEV fusion.

The ultrasonic features pass a content-aware dilated convolution: parallel 3x3 convolutions with
dilations {1, 2, 3, 4} mixed by a per-pixel softmax gate computed from the features themselves, so each
cell chooses how far to look. This absorbs the misalignment between a wide ultrasonic cone and the
camera's view. The result is concatenated with the camera BEV (zeros when the camera is missing) and
mixed by a 3x3 convolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from omnifuse.registry import MODELS

__all__ = ['ContentAwareDilatedConv', 'UltrasonicCameraFusion']


@MODELS.register_module()
class ContentAwareDilatedConv(nn.Module):
    """Parallel dilated 3x3 convolutions mixed by a per-pixel softmax gate.

    Shapes:
        x: (B, C, H, W). return: (B, C, H, W).
    """

    def __init__(self, channels: int, *, dilations: Sequence[int] = (1, 2, 3, 4)) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=d, dilation=d, bias=False) for d in dilations)
        self.gate = nn.Conv2d(channels, len(dilations), 3, padding=1)
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        """Gate-weighted sum of the dilated branches, plus the input (residual)."""
        weights = torch.softmax(self.gate(x), dim=1)  # (B, D, H, W)
        mixed = sum(weights[:, i:i + 1] * branch(x) for i, branch in enumerate(self.branches))
        return torch.relu(self.norm(mixed) + x)


@MODELS.register_module()
class UltrasonicCameraFusion(nn.Module):
    """Concatenate content-aware ultrasonic features with camera BEV features.

    Args:
        ultrasonic_channels, camera_channels: input widths (0 disables that input).
        out_channels: output width.

    Shapes:
        ultrasonic: (B, Cu, H, W) or None; camera: (B, Cc, H, W) or None. return: (B, out_channels, H, W).
    """

    def __init__(self, *, ultrasonic_channels: int, camera_channels: int, out_channels: int) -> None:
        super().__init__()
        if ultrasonic_channels <= 0 and camera_channels <= 0:
            raise ValueError('UltrasonicCameraFusion needs at least one input with channels > 0')
        self.ultrasonic_channels = ultrasonic_channels
        self.camera_channels = camera_channels
        self.cad = ContentAwareDilatedConv(ultrasonic_channels) if ultrasonic_channels > 0 else None
        self.mix = nn.Sequential(
            nn.Conv2d(ultrasonic_channels + camera_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))

    def forward(self, ultrasonic: Tensor | None, camera: Tensor | None) -> Tensor:
        """Fused (B, out_channels, H, W) features; a missing input counts as zeros."""
        ref = ultrasonic if ultrasonic is not None else camera
        if ref is None:
            raise ValueError('UltrasonicCameraFusion: both inputs are missing')
        B, _, H, W = ref.shape
        parts = []
        if self.ultrasonic_channels > 0:
            u = ultrasonic if ultrasonic is not None else ref.new_zeros(B, self.ultrasonic_channels, H, W)
            assert self.cad is not None  # built when ultrasonic_channels > 0
            parts.append(self.cad(u))
        if self.camera_channels > 0:
            parts.append(camera if camera is not None else ref.new_zeros(B, self.camera_channels, H, W))
        return self.mix(torch.cat(parts, 1))
