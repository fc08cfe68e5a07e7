"""All-MLP decoder (SegFormer style): per-stage linear embedding, upsample to stride 4, fuse, classify."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnifuse.registry import MODELS

__all__ = ['AllMLPDecoder']


@MODELS.register_module()
class AllMLPDecoder(nn.Module):
    """Decode multi-scale features into per-pixel class logits at the first stage's resolution.

    Args:
        in_channels: C_i of the input stages (first = highest resolution).
        num_classes: K.
        embed_dim: width E of the per-stage embeddings. Defaults to 128.
        dropout: dropout before the classifier. Defaults to 0.1.

    Shapes:
        feats: sequence of (B, C_i, H_i, W_i), H_0 the largest.
        return: (B, K, H_0, W_0) logits.
    """

    def __init__(self, in_channels: Sequence[int], num_classes: int, *, embed_dim: int = 128,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.embed = nn.ModuleList(nn.Conv2d(c, embed_dim, 1) for c in in_channels)  # a Linear per pixel
        self.fuse = nn.Sequential(nn.Conv2d(embed_dim * len(in_channels), embed_dim, 1, bias=False),
                                  nn.BatchNorm2d(embed_dim), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(embed_dim, num_classes, 1)

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        """(B, K, H_0, W_0) logits of the multi-scale features."""
        size = feats[0].shape[-2:]
        ups = [F.interpolate(e(f), size=size, mode='bilinear', align_corners=False) if i else e(f)
               for i, (e, f) in enumerate(zip(self.embed, feats, strict=True))]
        return self.classifier(self.dropout(self.fuse(torch.cat(ups, dim=1))))  # (B, K, H_0, W_0)
