"""Image encoder for colour and thermal cameras: a small ResNet (basic blocks) + a top-down FPN.

No torchvision: the few layers are written here. The encoder returns one fused map at `out_stride`
(4 or 8 pixels), which is what LoGoNet's fusion samples from.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from omnifuse.registry import MODELS

__all__ = ['ImageEncoder']


class _BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs with a (projected when needed) identity shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.short is None else self.short(x)), inplace=True)


@MODELS.register_module()
class ImageEncoder(nn.Module):
    """Small ResNet + FPN for one image modality.

    Args:
        in_channels: 3 for RGB, 1 for thermal.
        stem_channels: channels of the stride-2 stem (followed by a stride-2 conv: stage 1 starts at stride 4).
        channels: channels of the stages at strides 4, 8, 16, (32, ...).
        blocks: basic blocks per stage.
        out_channels: channels of the FPN output.
        out_stride: stride of the returned map (4 or 8 ... one of the stage strides).

    Shapes:
        images: (B, in_channels, H, W) float, normalised. return: (B, out_channels, ceil(H/s), ceil(W/s)).
    """

    def __init__(self, *, in_channels: int = 3, stem_channels: int = 24, channels: Sequence[int] = (32, 64, 128),
                 blocks: Sequence[int] = (1, 1, 1), out_channels: int = 64, out_stride: int = 4) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_channels, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(stem_channels), nn.ReLU(inplace=True),
            nn.Conv2d(stem_channels, stem_channels, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(stem_channels), nn.ReLU(inplace=True))
        self.stages = nn.ModuleList()
        cin = stem_channels
        for i, (c, n) in enumerate(zip(channels, blocks, strict=True)):
            stride = 1 if i == 0 else 2
            self.stages.append(nn.Sequential(_BasicBlock(cin, c, stride),
                                             *[_BasicBlock(c, c, 1) for _ in range(n - 1)]))
            cin = c
        strides = [4 * 2 ** i for i in range(len(channels))]
        if out_stride not in strides:
            raise ValueError(f'ImageEncoder.out_stride must be one of {strides}, got {out_stride}')
        self.first = strides.index(out_stride)
        self.lateral = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in channels[self.first:])
        self.smooth = nn.Sequential(nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
                                    nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.out_stride = out_stride

    def forward(self, images: Tensor) -> Tensor:
        """(B, C_in, H, W) -> (B, out_channels, H/s, W/s)."""
        x = self.stem(images)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        feats = feats[self.first:]
        y = self.lateral[-1](feats[-1])
        for lat, f in zip(reversed(self.lateral[:-1]), reversed(feats[:-1]), strict=True):
            y = lat(f) + F.interpolate(y, size=f.shape[-2:], mode='nearest')
        return self.smooth(y)
