"""A small four-stage convolutional encoder for dense prediction (one per modality in CMX).

Layout (strides 4, 8, 16, 32, as the hierarchical transformers CMX uses):
    stem: conv3x3/2 -> BN -> ReLU -> conv3x3/2 -> BN -> ReLU                 (stride 4, C0)
    stage i: [i > 0: conv3x3/2 C_{i-1} -> C_i, BN] then depth_i residual blocks
    block: x + pw2(GELU(pw1(BN(dw_kxk(x)))))   (depth-wise spatial mixing, 2x channel MLP)

Pure torch, no torchvision; runs on CPU and CUDA alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from omnifuse.registry import MODELS

__all__ = ['SegEncoder']


class _Block(nn.Module):
    """Residual depth-wise conv + channel MLP block. Shapes: (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int, *, kernel_size: int = 5, expansion: int = 2) -> None:
        super().__init__()
        self.dw = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels, bias=False)
        self.norm = nn.BatchNorm2d(channels)
        self.pw1 = nn.Conv2d(channels, channels * expansion, 1)
        self.act = nn.GELU()
        self.pw2 = nn.Conv2d(channels * expansion, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.pw2(self.act(self.pw1(self.norm(self.dw(x)))))


def _conv_bn(cin: int, cout: int, stride: int, *, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


@MODELS.register_module()
class SegEncoder(nn.Module):
    """Four-stage CNN encoder returning one feature map per stage.

    Args:
        in_channels: input channels (3 for RGB, 1 for thermal or depth).
        channels: C_i of the four stages. Defaults to (32, 64, 128, 256).
        depths: blocks per stage. Defaults to (1, 2, 2, 1).
        kernel_size: depth-wise kernel of the blocks. Defaults to 5.

    Shapes:
        x: (B, in_channels, H, W).
        return: tuple of 4 maps (B, C_i, ceil(H / s_i), ceil(W / s_i)), s = (4, 8, 16, 32).
    """

    def __init__(self, *, in_channels: int = 3, channels: Sequence[int] = (32, 64, 128, 256),
                 depths: Sequence[int] = (1, 2, 2, 1), kernel_size: int = 5) -> None:
        super().__init__()
        if len(channels) != 4 or len(depths) != 4:
            raise ValueError(f'SegEncoder: channels and depths need 4 entries, got {channels}, {depths}')
        self.in_channels = in_channels
        self.channels = tuple(int(c) for c in channels)
        self.stem = nn.Sequential(_conv_bn(in_channels, self.channels[0] // 2, 2),
                                  _conv_bn(self.channels[0] // 2, self.channels[0], 2))
        stages = []
        for i, (c, d) in enumerate(zip(self.channels, depths, strict=True)):
            layers: list[nn.Module] = []
            if i > 0:
                layers.append(_conv_bn(self.channels[i - 1], c, 2, relu=False))
            layers.extend(_Block(c, kernel_size=kernel_size) for _ in range(d))
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)

    def stem_forward(self, x: Tensor) -> Tensor:
        """(B, in_channels, H, W) -> (B, C0, H/4, W/4)."""
        return self.stem(x)

    def stage_forward(self, i: int, x: Tensor) -> Tensor:
        """Run stage i on the previous stage's (rectified) output."""
        return self.stages[i](x)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """The four stage maps of a batch of images; see the class docstring."""
        feats = []
        h = self.stem_forward(x)
        for i in range(4):
            h = self.stage_forward(i, h)
            feats.append(h)
        return tuple(feats)

