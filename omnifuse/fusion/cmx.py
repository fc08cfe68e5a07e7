"""CMX (Zhang et al., T-ITS 2023) cross-modal blocks: feature rectification (CM-FRM) and fusion (FFM).

CM-FRM, after every encoder stage, on the RGB map R and the X map X (both (B, C, H, W)):
    channel weights  w_C = sigmoid(MLP([GAP(R||X); GMP(R||X)]))  (B, 2C)  -> split w_C^R, w_C^X (B, C)
    spatial weights  w_S = sigmoid(conv1x1(ReLU(conv1x1(R||X))))  (B, 2, H, W) -> split w_S^R, w_S^X
    R' = R + lambda_c * w_C^X * X + lambda_s * w_S^X * X
    X' = X + lambda_c * w_C^R * R + lambda_s * w_S^R * R        (lambda_c = lambda_s = 0.5)
The rectified maps continue in their own streams.

FFM, per stage, turns (R', X') into one map for the decoder:
    stage 1 (per stream s, tokens x_s (B, N, C), N = H*W):
        y_s, u_s = split(ReLU(Linear_s(x_s)), C -> 2C)
        efficient cross-attention: K_s, V_s = split(Linear(u_s)), heads of size d;
        context G_s = softmax_over_keys(K_s^T V_s / sqrt(d))   (d x d per head, linear in N)
        v_R = u_R(heads) @ G_X,   v_X = u_X(heads) @ G_R      (each stream queries the other)
        x'_s = LayerNorm(x_s + Linear([y_s || v_s]))
    stage 2: z = conv1x1([x'_R || x'_X])  (2C -> C);  out = BN(z + conv1x1(ReLU(dwconv3x3(z))))
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnifuse.registry import MODELS

__all__ = ['CMFRM', 'EfficientCrossAttention', 'FFM', 'efficient_context']


@MODELS.register_module()
class CMFRM(nn.Module):
    """Cross-modal feature rectification module.

    Args:
        channels: C of both inputs.
        reduction: hidden width divisor of the channel MLP and the spatial convs. Defaults to 1
            (the MLP is 4C -> 4C/r -> 2C).
        lambda_c, lambda_s: weights of the channel and spatial rectification. Defaults to 0.5.

    Shapes:
        rgb, x: (B, C, H, W).
        return: (rgb', x'), both (B, C, H, W).
    """

    def __init__(self, channels: int, *, reduction: int = 1, lambda_c: float = 0.5, lambda_s: float = 0.5) -> None:
        super().__init__()
        self.channels = channels
        self.lambda_c = lambda_c
        self.lambda_s = lambda_s
        hidden = max(4 * channels // reduction, 8)
        self.channel_mlp = nn.Sequential(nn.Linear(4 * channels, hidden), nn.ReLU(inplace=True),
                                         nn.Linear(hidden, 2 * channels))
        hidden_s = max(channels // reduction, 8)
        self.spatial = nn.Sequential(nn.Conv2d(2 * channels, hidden_s, 1), nn.ReLU(inplace=True),
                                     nn.Conv2d(hidden_s, 2, 1))

    def weights(self, rgb: Tensor, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The four rectification weights: w_C^R, w_C^X (B, C, 1, 1) and w_S^R, w_S^X (B, 1, H, W)."""
        cat = torch.cat([rgb, x], dim=1)  # (B, 2C, H, W)
        pooled = torch.cat([cat.mean(dim=(2, 3)), cat.amax(dim=(2, 3))], dim=1)  # (B, 4C)
        w_c = torch.sigmoid(self.channel_mlp(pooled))[:, :, None, None]  # (B, 2C, 1, 1)
        w_s = torch.sigmoid(self.spatial(cat))  # (B, 2, H, W)
        c = self.channels
        return w_c[:, :c], w_c[:, c:], w_s[:, 0:1], w_s[:, 1:2]

    def forward(self, rgb: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """Rectify each modality with the other's features: (rgb', x')."""
        wc_r, wc_x, ws_r, ws_x = self.weights(rgb, x)
        rgb_out = rgb + self.lambda_c * wc_x * x + self.lambda_s * ws_x * x
        x_out = x + self.lambda_c * wc_r * rgb + self.lambda_s * ws_r * rgb
        return rgb_out, x_out


def efficient_context(k: Tensor, v: Tensor) -> Tensor:
    """Global context softmax(K^T V / sqrt(d)), normalised over the key-channel axis.

    Args:
        k: (B, heads, N, d) keys.
        v: (B, heads, N, d) values.

    Returns:
        (B, heads, d, d) context G; column j sums to 1 over the rows (softmax over dim -2).
    """
    d = k.shape[-1]
    return torch.softmax(k.transpose(-2, -1) @ v / math.sqrt(d), dim=-2)


@MODELS.register_module()
class EfficientCrossAttention(nn.Module):
    """Cross-attention of two token sets in O(N d^2): each set queries the other's global context.

    Args:
        channels: C (split into `num_heads` heads of d = C / heads).
        num_heads: number of heads. Defaults to 1.

    Shapes:
        u_rgb, u_x: (B, N, C) tokens.
        return: (v_rgb, v_x), (B, N, C): v_rgb = u_rgb @ G_x, v_x = u_x @ G_rgb per head.
    """

    def __init__(self, channels: int, *, num_heads: int = 1) -> None:
        super().__init__()
        if channels % num_heads:
            raise ValueError(f'EfficientCrossAttention: {channels} channels do not split into {num_heads} heads')
        self.num_heads = num_heads
        self.kv_rgb = nn.Linear(channels, 2 * channels, bias=False)
        self.kv_x = nn.Linear(channels, 2 * channels, bias=False)

    def _heads(self, t: Tensor) -> Tensor:
        b, n, c = t.shape
        return t.reshape(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)  # (B, h, N, d)

    def forward(self, u_rgb: Tensor, u_x: Tensor) -> tuple[Tensor, Tensor]:
        """Each token set attends to the other's global context: (v_rgb, v_x)."""
        b, n, c = u_rgb.shape
        k_r, v_r = self.kv_rgb(u_rgb).chunk(2, dim=-1)
        k_x, v_x = self.kv_x(u_x).chunk(2, dim=-1)
        ctx_r = efficient_context(self._heads(k_r), self._heads(v_r))  # (B, h, d, d)
        ctx_x = efficient_context(self._heads(k_x), self._heads(v_x))
        out_r = self._heads(u_rgb) @ ctx_x  # (B, h, N, d): RGB queries the X context
        out_x = self._heads(u_x) @ ctx_r
        return (out_r.transpose(1, 2).reshape(b, n, c), out_x.transpose(1, 2).reshape(b, n, c))


@MODELS.register_module()
class FFM(nn.Module):
    """Feature fusion module: cross-attention exchange, then a convolutional mixing stage.

    Args:
        channels: C of both inputs and of the output.
        num_heads: heads of the cross-attention. Defaults to 1.

    Shapes:
        rgb, x: (B, C, H, W).
        return: (B, C, H, W) fused map.
    """

    def __init__(self, channels: int, *, num_heads: int = 1) -> None:
        super().__init__()
        self.proj_rgb = nn.Linear(channels, 2 * channels)
        self.proj_x = nn.Linear(channels, 2 * channels)
        self.attn = EfficientCrossAttention(channels, num_heads=num_heads)
        self.end_rgb = nn.Linear(2 * channels, channels)
        self.end_x = nn.Linear(2 * channels, channels)
        self.norm_rgb = nn.LayerNorm(channels)
        self.norm_x = nn.LayerNorm(channels)
        self.mix = nn.Conv2d(2 * channels, channels, 1, bias=False)
        self.branch = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 1, bias=False),
        )
        self.norm_out = nn.BatchNorm2d(channels)

    def exchange(self, rgb: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """Stage 1 on tokens: (B, N, C) each -> (B, N, C) each."""
        y_r, u_r = F.relu(self.proj_rgb(rgb)).chunk(2, dim=-1)
        y_x, u_x = F.relu(self.proj_x(x)).chunk(2, dim=-1)
        v_r, v_x = self.attn(u_r, u_x)
        rgb_out = self.norm_rgb(rgb + self.end_rgb(torch.cat([y_r, v_r], dim=-1)))
        x_out = self.norm_x(x + self.end_x(torch.cat([y_x, v_x], dim=-1)))
        return rgb_out, x_out

    def forward(self, rgb: Tensor, x: Tensor) -> Tensor:
        """Fuse the two maps into one (B, C, H, W) map."""
        b, c, h, w = rgb.shape
        t_r, t_x = self.exchange(rgb.flatten(2).transpose(1, 2), x.flatten(2).transpose(1, 2))  # (B, N, C)
        cat = torch.cat([t_r, t_x], dim=-1).transpose(1, 2).reshape(b, 2 * c, h, w)  # (B, 2C, H, W)
        z = self.mix(cat)
        return self.norm_out(z + self.branch(z))
