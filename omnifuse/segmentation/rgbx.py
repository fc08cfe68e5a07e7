"""CMX RGB-X semantic segmentor: two encoder streams, CM-FRM after every stage, FFM per stage, MLP decoder.

X is a one-or-more channel image registered to the RGB camera: thermal (normalised to [0, 1]) or
LiDAR depth rendered into the camera (depth / max_depth, 0 = no return); the config chooses which
(`modality`). `modality='rgb'` builds the single-stream RGB-only baseline with the same encoder and
decoder. A sample whose X is missing (`x_valid` False) gets a learned fill value instead of its X
input; `x_drop_prob` drops X at random during training so that this path is learned.

mmengine protocol: `forward(inputs, data_samples, mode)` with mode 'loss' (dict of losses),
'predict' (the `SegSample`s with `pred` = SegPredictions, sem_seg (h, w) int64, and gt_sem_seg cut to the
same (h, w); omnifuse.structures.seg_sample) or 'tensor' ((B, K, H, W) logits).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor, nn

from omnifuse.encoders.image_seg import SegEncoder  # noqa: F401  (registers SegEncoder)
from omnifuse.fusion.cmx import CMFRM, FFM
from omnifuse.registry import MODELS
from omnifuse.segmentation.data_preprocessor import RGBXDataPreprocessor  # noqa: F401  (registers it)
from omnifuse.segmentation.mlp_decoder import AllMLPDecoder
from omnifuse.structures.seg_sample import SegPredictions, SegSample

__all__ = ['CMXSegmentor', 'predict_labels', 'preprocessed_pair']

MODALITIES = ('thermal', 'depth', 'rgb')


@MODELS.register_module()
class CMXSegmentor(BaseModel):
    """RGB-X segmentor with CMX rectification and fusion (or the RGB-only baseline).

    Args:
        num_classes: K.
        class_names: K names (kept for tools and metrics). Defaults to 'class_<i>'.
        modality: 'thermal', 'depth' (RGB + X with CMX) or 'rgb' (RGB only).
        x_channels: C_x of the X input. Defaults to 1.
        backbone: config of each stream's encoder (its `in_channels` is set per stream).
            Defaults to dict(type='SegEncoder').
        num_heads: heads of the FFM cross-attention per stage. Defaults to (1, 1, 2, 4).
        lambda_c, lambda_s: CM-FRM weights. Defaults to 0.5.
        frm_reduction: CM-FRM hidden-width divisor (4C -> 4C/r -> 2C). Defaults to 4 (the paper uses 1;
            4 keeps the checkpoint small at no measurable cost in speed).
        decoder_dim: width of the all-MLP decoder. Defaults to 128.
        ignore_index: label not scored by the loss. Defaults to 255.
        x_drop_prob: probability of treating a training sample's X as missing. Defaults to 0.
        class_weight: optional K loss weights.
        data_preprocessor: config or module. Defaults to RGBXDataPreprocessor(x_channels=x_channels).

    Shapes:
        inputs['rgb']: (B, 3, H, W) normalised; inputs['x']: (B, C_x, H, W); inputs['x_valid']: (B,) bool.
        'tensor' output: (B, K, H, W) logits.
    """

    def __init__(self, *, num_classes: int, class_names: Sequence[str] | None = None, modality: str = 'thermal',
                 x_channels: int = 1, backbone: Mapping[str, Any] | None = None,
                 num_heads: Sequence[int] = (1, 1, 2, 4), lambda_c: float = 0.5, lambda_s: float = 0.5,
                 frm_reduction: int = 4, decoder_dim: int = 128, ignore_index: int = 255,
                 x_drop_prob: float = 0.0, class_weight: Sequence[float] | None = None,
                 data_preprocessor: Mapping[str, Any] | nn.Module | None = None,
                 init_cfg: Mapping[str, Any] | None = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='RGBXDataPreprocessor', x_channels=x_channels, ignore_index=ignore_index)
        if isinstance(data_preprocessor, Mapping):
            data_preprocessor = MODELS.build(dict(data_preprocessor))
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if modality not in MODALITIES:
            raise ValueError(f'CMXSegmentor: modality must be one of {MODALITIES}, got {modality!r}')
        self.num_classes = num_classes
        self.class_names = tuple(class_names) if class_names is not None else tuple(
            f'class_{i}' for i in range(num_classes))
        if len(self.class_names) != num_classes:
            raise ValueError(f'CMXSegmentor: {len(self.class_names)} class names for {num_classes} classes')
        self.modality = modality
        self.x_channels = x_channels
        self.ignore_index = ignore_index
        self.x_drop_prob = x_drop_prob
        backbone_cfg = dict(backbone or dict(type='SegEncoder'))
        self.rgb_encoder = MODELS.build(dict(backbone_cfg, in_channels=3))
        channels = tuple(self.rgb_encoder.channels)
        self.use_x = modality != 'rgb'
        if self.use_x:
            self.x_encoder = MODELS.build(dict(backbone_cfg, in_channels=x_channels))
            self.x_missing = nn.Parameter(torch.zeros(1, x_channels, 1, 1))
            self.frms = nn.ModuleList(CMFRM(c, reduction=frm_reduction, lambda_c=lambda_c, lambda_s=lambda_s)
                                      for c in channels)
            self.ffms = nn.ModuleList(FFM(c, num_heads=h) for c, h in zip(channels, num_heads, strict=True))
        self.decoder = AllMLPDecoder(channels, num_classes, embed_dim=decoder_dim)
        if class_weight is not None:
            self.register_buffer('class_weight', torch.tensor(class_weight, dtype=torch.float32), persistent=False)
        else:
            self.class_weight = None

    # ---- features ----
    def extract_feat(self, rgb: Tensor, x: Tensor | None = None, x_valid: Tensor | None = None) -> list[Tensor]:
        """Fused (or RGB-only) features of the four stages, (B, C_i, H / s_i, W / s_i)."""
        h_r = self.rgb_encoder.stem_forward(rgb)
        if not self.use_x:
            feats = []
            for i in range(4):
                h_r = self.rgb_encoder.stage_forward(i, h_r)
                feats.append(h_r)
            return feats
        b = rgb.shape[0]
        if x is None:
            x = rgb.new_zeros(b, self.x_channels, *rgb.shape[-2:])
            x_valid = torch.zeros(b, dtype=torch.bool, device=rgb.device)
        if x_valid is None:
            x_valid = torch.ones(b, dtype=torch.bool, device=rgb.device)
        if self.training and self.x_drop_prob > 0:
            x_valid = x_valid & (torch.rand(b, device=rgb.device) >= self.x_drop_prob)
        keep = x_valid.to(x.dtype).view(b, 1, 1, 1)
        x = x * keep + self.x_missing * (1 - keep)  # missing X -> learned fill value
        h_x = self.x_encoder.stem_forward(x)
        fused = []
        for i in range(4):
            h_r = self.rgb_encoder.stage_forward(i, h_r)
            h_x = self.x_encoder.stage_forward(i, h_x)
            h_r, h_x = self.frms[i](h_r, h_x)  # rectified maps continue in their streams
            fused.append(self.ffms[i](h_r, h_x))
        return fused

    def _logits(self, inputs: Mapping[str, Tensor]) -> Tensor:
        rgb = inputs['rgb']
        logits = self.decoder(self.extract_feat(rgb, inputs.get('x'), inputs.get('x_valid')))
        return F.interpolate(logits, size=rgb.shape[-2:], mode='bilinear', align_corners=False)  # (B, K, H, W)

    # ---- mmengine entry point ----
    def forward(self, inputs: Mapping[str, Tensor], data_samples: Sequence[SegSample] | None = None,
                mode: str = 'tensor') -> Any:
        """See the module docstring for the three modes."""
        if mode not in ('loss', 'predict', 'tensor'):
            raise ValueError(f'CMXSegmentor: unknown mode {mode!r} (loss, predict or tensor)')
        if mode == 'loss' and (not data_samples or any(s.gt_sem_seg is None for s in data_samples)):
            raise ValueError('CMXSegmentor: mode="loss" needs a gt_sem_seg in every data sample')
        logits = self._logits(inputs)
        if mode == 'tensor':
            return logits
        if mode == 'loss':
            assert data_samples is not None  # checked above
            gt = torch.stack([torch.as_tensor(s.gt_sem_seg).to(logits.device) for s in data_samples])
            loss = F.cross_entropy(logits, gt.long(), weight=self.class_weight, ignore_index=self.ignore_index)
            return {'loss_ce': loss}
        pred = logits.argmax(dim=1)  # (B, H, W)
        out = []
        samples = data_samples or [SegSample() for _ in range(len(pred))]
        for i, sample in enumerate(samples):
            h, w = sample.img_shape or tuple(pred.shape[-2:])
            gt_crop = None if sample.gt_sem_seg is None else torch.as_tensor(sample.gt_sem_seg)[:h, :w]
            out.append(dataclasses.replace(sample, gt_sem_seg=gt_crop, pred=SegPredictions(pred[i, :h, :w])))
        return out


def predict_labels(model: CMXSegmentor, rgb: np.ndarray, x: np.ndarray | None = None) -> np.ndarray:
    """Segment one image.

    Args:
        model: a CMXSegmentor (put in eval mode here).
        rgb: (H, W, 3) uint8 RGB.
        x: (H, W) or (H, W, C_x) float X registered to `rgb` (normalised as in training), or None.

    Returns:
        (H, W) int64 class ids.
    """
    model.eval()
    with torch.no_grad():
        result = model(**preprocessed_pair(model, rgb, x), mode='predict')
    return result[0].pred.sem_seg.cpu().numpy().astype(np.int64)


def preprocessed_pair(model: CMXSegmentor, rgb: np.ndarray, x: np.ndarray | None = None) -> dict:
    """The model's preprocessed batch of one pair (the shared numpy layout `rgbx_batch`, which the exported graph
    takes too, through the model's data preprocessor): `model(**batch, mode=...)`."""
    from omnifuse.datasets.rgbx_seg import rgbx_batch

    batch = rgbx_batch(rgb, x, x_channels=model.x_channels)
    valid = bool(batch['x_valid'][0])
    data = {'inputs': {'rgb': [torch.from_numpy(batch['rgb'][0])],
                       'x': [torch.from_numpy(batch['x'][0]) if valid else None]},
            'data_samples': [SegSample(x_valid=valid)]}
    return model.data_preprocessor(data, False)
