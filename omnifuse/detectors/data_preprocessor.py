"""Batch the packed samples for the detector: points stay a list, images are padded and normalised per camera.

A packed sample (omnifuse.datasets.transforms.PackDetInputs) is
    {'inputs': {'points': (N, C) float32 tensor}, 'data_samples': DetSample}
whose `cameras` hold one `SampleCamera` per image, by modality and name: 'camera' (3, H, W) uint8, 'thermal'
(1, H, W) float32, each with its `lidar2img` (4, 4) and optionally `semantics` (H, W) int64 class ids
(255 = ignore); omnifuse.structures.det_sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from mmengine.model import BaseDataPreprocessor
from torch import Tensor

from omnifuse.registry import MODELS
from omnifuse.structures.det_sample import MODALITIES, DetSample

__all__ = ['DetDataPreprocessor']


@MODELS.register_module()
class DetDataPreprocessor(BaseDataPreprocessor):
    """Move a pseudo-collated batch to the model's device and build per-camera image batches.

    Args:
        mean, std: RGB normalisation (0-255 scale).
        pad_divisor: images are zero-padded so that H and W are multiples of it.

    Output `inputs`: {'points': list of B (N_b, C) tensors, 'images': {modality: {camera name:
    {'img': (B, C, H, W), 'lidar2img': (B, 4, 4), 'img_hw': (B, 2), 'valid': (B,) bool}}}}.
    When any sample of the batch has semantic labels for a camera, its entry also holds 'semantics':
    (B, H, W) int64 class ids padded like 'img' (same H, W), 255 where padded or where a sample has no labels.
    """

    SEMANTIC_IGNORE = 255

    def __init__(self, *, mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375), pad_divisor: int = 32) -> None:
        super().__init__()
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.pad_divisor = pad_divisor

    def forward(self, data: dict, training: bool = False) -> dict[str, Any]:
        """See the class docstring."""
        samples: list[DetSample] = list(data.get('data_samples') or [])
        points = [p.to(self.device, non_blocking=True).float() for p in data['inputs']['points']]
        samples = [s.to(self.device) for s in samples]
        images: dict[str, dict[str, dict[str, Tensor]]] = {}
        for modality in MODALITIES:
            names = sorted({n for s in samples for n in s.camera_names(modality)})
            if names:
                images[modality] = {n: self._batch(samples, n, modality) for n in names}
        return {'inputs': {'points': points, 'images': images}, 'data_samples': samples}

    def _batch(self, samples: list[DetSample], name: str, modality: str) -> dict[str, Tensor]:
        views = [s.cameras.get(modality, {}).get(name) for s in samples]
        present = [v.image for v in views if v is not None]
        C = present[0].shape[0]
        d = self.pad_divisor
        H = max(im.shape[1] for im in present)
        W = max(im.shape[2] for im in present)
        H, W = -(-H // d) * d, -(-W // d) * d
        B = len(views)
        batch = torch.zeros((B, C, H, W), device=self.device)
        l2i = torch.zeros((B, 4, 4), device=self.device)
        hw = torch.zeros((B, 2), device=self.device)
        valid = torch.zeros(B, dtype=torch.bool, device=self.device)
        for b, view in enumerate(views):
            if view is None:
                l2i[b] = torch.eye(4)
                continue
            x = view.image.to(self.device).float().unsqueeze(0)  # (1, C, h, w)
            if modality == 'camera':
                x = (x - self.mean) / self.std
            else:  # thermal units differ between sources: standardise each image
                x = (x - x.mean()) / x.std().clamp(min=1e-3)
            batch[b, :, :x.shape[2], :x.shape[3]] = x[0]
            l2i[b] = torch.as_tensor(np.asarray(view.lidar2img, dtype=np.float32), device=self.device)
            hw[b] = torch.tensor([float(x.shape[2]), float(x.shape[3])])
            valid[b] = True
        out = {'img': batch, 'lidar2img': l2i, 'img_hw': hw, 'valid': valid}
        sems = [None if v is None else v.semantics for v in views]
        if any(m is not None for m in sems):
            labels = torch.full((B, H, W), self.SEMANTIC_IGNORE, dtype=torch.long, device=self.device)
            for b, m in enumerate(sems):
                if m is None:
                    continue
                labels[b, :m.shape[0], :m.shape[1]] = m.to(self.device).long()
            out['semantics'] = labels
        return out
