"""Ultrasonic encoder: a small CNN over the BEV evidence channels of
omnifuse.datasets.ultrasonic_raster (echo arc, free cone, coverage)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from torch import Tensor, nn

from omnifuse.registry import MODELS

__all__ = ['UltrasonicEncoder']


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


@MODELS.register_module()
class UltrasonicEncoder(nn.Module):
    """Small CNN over the rasterised ultrasonic channels.

    Args:
        in_channels: raster channels (3: echo, free, coverage).
        channels: widths of the conv layers; the first one has stride `stride`.
        stride: down-sampling of the output relative to the raster (1 or 2).

    Shapes:
        raster: (B, 3, H, W). return: (B, channels[-1], H / stride, W / stride).
    """

    def __init__(self, *, in_channels: int = 3, channels: Sequence[int] = (16, 32, 32), stride: int = 2) -> None:
        super().__init__()
        layers = [_conv(in_channels, channels[0], stride)]
        layers += [_conv(a, b) for a, b in pairwise(channels)]
        self.net = nn.Sequential(*layers)
        self.out_channels = channels[-1]

    def forward(self, raster: Tensor) -> Tensor:
        """(B, 3, H, W) raster -> (B, channels[-1], H / stride, W / stride) features."""
        return self.net(raster)
