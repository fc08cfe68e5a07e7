"""Batching and normalisation of RGB-X segmentation inputs (an mmengine data preprocessor).

A dataset item is `{'inputs': {'rgb': (3, H, W) uint8, 'x': (C_x, H, W) float32 in [0, 1]},
'data_samples': SegSample}` (omnifuse.structures.seg_sample); mmengine's `pseudo_collate` turns a batch of
them into lists. The preprocessor pads every sample to the largest (H, W) of the batch (labels with
`ignore_index`), normalises RGB with mean/std, moves everything to the model's device and returns the
`SegSample`s with their `img_shape` (h, w), `x_valid` and padded `gt_sem_seg`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor
from torch import Tensor

from omnifuse.registry import MODELS
from omnifuse.structures.seg_sample import SegSample

__all__ = ['RGBXDataPreprocessor']


def _as_list(value: Any, n: int | None = None) -> list[Any]:
    if isinstance(value, Tensor) and n is not None and value.ndim >= 1 and value.shape[0] == n:
        return list(value)
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value] * (n or 1)


@MODELS.register_module()
class RGBXDataPreprocessor(BaseDataPreprocessor):
    """Pad, normalise and move an RGB-X batch.

    Args:
        mean, std: RGB normalisation in 0..255 units. Defaults to ImageNet's.
        x_channels: C_x of the X input (used when a batch has no X at all). Defaults to 1.
        ignore_index: label value of padded pixels. Defaults to 255.

    Shapes (output):
        inputs['rgb']: (B, 3, H, W) float32; inputs['x']: (B, C_x, H, W) float32;
        inputs['x_valid']: (B,) bool; data_samples: B `SegSample`s, gt_sem_seg (H, W) int64 if given.
    """

    def __init__(self, *, mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375), x_channels: int = 1,
                 ignore_index: int = 255) -> None:
        super().__init__()
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(3, 1, 1), persistent=False)
        self.x_channels = x_channels
        self.ignore_index = ignore_index

    def forward(self, data: dict, training: bool = False) -> dict:  # noqa: D102 - mmengine API
        inputs = data['inputs']
        rgb_list = _as_list(inputs['rgb'])
        if len(rgb_list) == 1 and isinstance(rgb_list[0], Tensor) and rgb_list[0].ndim == 4:
            rgb_list = list(rgb_list[0])
        n = len(rgb_list)
        x_list = _as_list(inputs.get('x'), n)
        samples = data.get('data_samples')
        sample_list: list[SegSample] = [SegSample() for _ in range(n)] if samples is None else list(samples)
        h = max(int(r.shape[-2]) for r in rgb_list)
        w = max(int(r.shape[-1]) for r in rgb_list)
        device = self.mean.device
        rgbs, xs, valid = [], [], []
        for i, r in enumerate(rgb_list):
            r = torch.as_tensor(r).to(device)
            rh, rw = r.shape[-2:]
            pad = (0, w - rw, 0, h - rh)
            rgbs.append(F.pad((r.float() - self.mean) / self.std, pad))
            xi = x_list[i]
            ok = xi is not None and bool(sample_list[i].x_valid)
            if xi is None:
                xi = torch.zeros(self.x_channels, rh, rw)
            xi = torch.as_tensor(xi).to(device=device, dtype=torch.float32)
            if xi.ndim == 2:
                xi = xi[None]
            xs.append(F.pad(xi, pad))
            valid.append(ok)
            gt = sample_list[i].gt_sem_seg
            if gt is not None:
                gt = F.pad(torch.as_tensor(gt).to(device=device, dtype=torch.int64), pad, value=self.ignore_index)
            sample_list[i] = dataclasses.replace(sample_list[i], img_shape=(int(rh), int(rw)), x_valid=ok,
                                                 gt_sem_seg=gt)
        return {'inputs': {'rgb': torch.stack(rgbs), 'x': torch.stack(xs),
                           'x_valid': torch.tensor(valid, dtype=torch.bool, device=device)},
                'data_samples': sample_list}
