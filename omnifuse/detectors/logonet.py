"""The assembled two-stage LiDAR–camera(–thermal) detector, an mmengine `BaseModel`.

    points ─ LiDAR encoder (voxels/pillars → sparse levels + BEV) ─┬─ BEV neck ─ centre head ─ proposals
                                                   │              │(image_bev)                 │
    images ─ image encoder(s) ─────────────────────┴──────────────┴─ LoGoRoIHead (RoI-grid 6³ + GoF/LoF/FDA)
                                                                                               └─ boxes, scores

`roi_head=None` gives a one-stage model (proposals are the output). Image encoders are optional; a
configured modality missing at run time gives zero image features (never an error).

`image_aux` adds, in training only, a per-pixel semantic loss on each image encoder's map (a 1x1 conv head
per modality): it makes the image features carry class meaning early, which the second-stage fusion alone
teaches slowly. Inference never runs those heads.

`image_bev` (a `PointImageBEV` config) also gives the first stage image evidence: image features lifted to
the LiDAR BEV through the points and concatenated to the LiDAR BEV before the neck, so proposals no longer
come from the LiDAR alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor, nn

from omnifuse.detectors.centre_head import Proposals
from omnifuse.ops.features import ImageFeatures
from omnifuse.ops.timing import stage
from omnifuse.registry import MODELS
from omnifuse.structures.det_sample import DetPredictions, DetSample

__all__ = ['LoGoNetDetector']


@MODELS.register_module()
class LoGoNetDetector(BaseModel):
    """Two-stage detector with LoGoNet fusion.

    Args:
        class_names: detected classes, in label order.
        lidar_encoder: config of a LiDAR encoder (SecondLidarEncoder or PillarLidarEncoder).
        bev_neck: config of the BEV neck (BevNeck); its in_channels default to the encoder's BEV channels.
        dense_head: config of the first-stage head (CentreHead); in_channels/num_classes/point_range are filled in.
        roi_head: config of the second stage (LoGoRoIHead), or None for one stage.
        image_encoder: config of the camera encoder (ImageEncoder), or None.
        thermal_encoder: config of the thermal encoder (ImageEncoder with in_channels=1), or None.
        data_preprocessor: config of the preprocessor (DetDataPreprocessor by default).
        image_bev: None, or a PointImageBEV config (type may be omitted); image_channels and point_range
            are filled in, and the neck's in_channels default to the LiDAR BEV's plus its out_channels.
        image_aux: None, or the auxiliary image-semantics loss, dict(num_classes=13, loss_weight=0.5,
            ignore_index=255): a 1x1 Conv2d head per configured image modality on its encoder's map; in
            mode 'loss' it adds 'loss_img_sem_<modality>' = loss_weight · cross-entropy between the head's
            logits, bilinearly upsampled to the padded image size, and the batch's per-pixel labels
            (inputs['images'][modality][name]['semantics'], (B, H, W) int64). Without labels the loss is
            zero (heads kept in the graph). Never run at inference.

    `forward(inputs, data_samples, mode)` takes the batch of `DetDataPreprocessor` (data_samples: B `DetSample`s,
    omnifuse.structures.det_sample). Mode 'predict' returns the B samples, each with `pred` = `DetPredictions`
    (boxes (K, 7) LiDAR frame, scores (K,), labels (K,) int64 indices into class_names); without data_samples,
    B new `DetSample`s that hold only `pred`.
    """

    def __init__(self, *, class_names: Sequence[str], lidar_encoder: dict, bev_neck: dict, dense_head: dict,
                 roi_head: dict | None = None, image_encoder: dict | None = None,
                 thermal_encoder: dict | None = None, data_preprocessor: dict | Any = None,
                 image_aux: dict | None = None, image_bev: dict | None = None, init_cfg: dict | None = None) -> None:
        pre = data_preprocessor or dict(type='DetDataPreprocessor')
        if isinstance(pre, dict):  # BaseModel would look in mmengine's root registry, not omnifuse's
            pre = MODELS.build(pre)
        super().__init__(data_preprocessor=pre, init_cfg=init_cfg)
        self.class_names = tuple(class_names)
        self.lidar_encoder = MODELS.build(lidar_encoder)
        self.image_encoder = MODELS.build(image_encoder) if image_encoder else None
        self.thermal_encoder = MODELS.build(thermal_encoder) if thermal_encoder else None
        self.image_bev: nn.Module | None = None
        if image_bev:
            if not self.image_channels:
                raise ValueError('image_bev needs an image_encoder or a thermal_encoder')
            ib = dict(image_bev)
            ib.setdefault('type', 'PointImageBEV')
            ib.setdefault('image_channels', self.image_channels)
            ib.setdefault('point_range', self.lidar_encoder.point_range)
            self.image_bev = MODELS.build(ib)
        neck_cfg = dict(bev_neck)
        neck_cfg.setdefault('in_channels', self.lidar_encoder.bev_channels
                            + (self.image_bev.out_channels if self.image_bev is not None else 0))
        self.bev_neck = MODELS.build(neck_cfg)
        head_cfg = dict(dense_head)
        head_cfg.setdefault('in_channels', self.bev_neck.out_channels)
        head_cfg.setdefault('num_classes', len(self.class_names))
        head_cfg.setdefault('point_range', self.lidar_encoder.point_range)
        self.dense_head = MODELS.build(head_cfg)
        self.roi_head = None
        if roi_head:
            cfg = dict(roi_head)
            cfg.setdefault('level_channels', {})
            cfg.setdefault('image_channels', self.image_channels)
            for name, c in cfg['level_channels'].items():
                have = self.lidar_encoder.channels.get(name)
                if have != c:
                    raise ValueError(f'roi_head.level_channels[{name!r}] = {c}, but the LiDAR encoder gives '
                                     f'{have} (its levels: {self.lidar_encoder.channels})')
            if cfg.get('bev_channels', 0) and cfg['bev_channels'] != self.bev_neck.out_channels:
                raise ValueError(f'roi_head.bev_channels = {cfg["bev_channels"]}, the BEV neck gives '
                                 f'{self.bev_neck.out_channels}')
            self.roi_head = MODELS.build(cfg)
        self.image_aux_heads: nn.ModuleDict | None = None
        self.image_aux_weight = 0.0
        self.image_aux_ignore = 255
        if image_aux:
            aux = dict(image_aux)
            unknown = set(aux) - {'num_classes', 'loss_weight', 'ignore_index'}
            if unknown or 'num_classes' not in aux:
                raise ValueError(f'image_aux: expected num_classes (required), loss_weight, ignore_index; '
                                 f'got {sorted(aux)}')
            if not self.image_channels:
                raise ValueError('image_aux needs an image_encoder or a thermal_encoder')
            n = int(aux['num_classes'])
            self.image_aux_weight = float(aux.get('loss_weight', 1.0))
            self.image_aux_ignore = int(aux.get('ignore_index', 255))
            self.image_aux_heads = nn.ModuleDict({m: nn.Conv2d(c, n, 1)
                                                  for m, c in self.image_channels.items()})

    @property
    def image_channels(self) -> dict[str, int]:
        """Channels of each configured image modality."""
        out = {}
        if self.image_encoder is not None:
            out['camera'] = self.image_encoder.out_channels
        if self.thermal_encoder is not None:
            out['thermal'] = self.thermal_encoder.out_channels
        return out

    # ---- stages ----
    def _encode_images(self, images: Mapping[str, Mapping[str, Mapping[str, Tensor]]]
                       ) -> dict[str, ImageFeatures | None]:
        out: dict[str, ImageFeatures | None] = {}
        for modality, encoder in (('camera', self.image_encoder), ('thermal', self.thermal_encoder)):
            if encoder is None:
                continue
            cams = images.get(modality) or {}
            maps, meta = {}, {}
            for name, cam in cams.items():
                if not bool(cam['valid'].any()):
                    continue
                img = cam['img']
                if img.shape[1] != encoder.in_channels:  # e.g. RGB-encoded thermal: average to one channel
                    img = (img.mean(1, keepdim=True) if encoder.in_channels == 1
                           else img.expand(-1, encoder.in_channels, -1, -1))
                maps[name] = encoder(img)
                meta[name] = {k: cam[k] for k in ('lidar2img', 'img_hw', 'valid')}
            out[modality] = ImageFeatures(maps, meta, encoder.out_stride, encoder.out_channels) if maps else None
        return out

    def image_aux_loss(self, images: Mapping[str, Mapping[str, Mapping[str, Tensor]]],
                       features: Mapping[str, ImageFeatures | None]) -> dict[str, Tensor]:
        """{'loss_img_sem_<modality>': weighted pixel cross-entropy} for each modality with an aux head.

        Args:
            images: the preprocessor's inputs['images']; a camera entry's 'semantics' is (B, H, W) int64
                labels aligned with its padded 'img' (255 = ignore).
            features: _encode_images' output ((B, C, h, w) maps at the encoder's stride).
        The mean is over every labelled pixel of every camera of the modality; no labelled pixel gives an
        exact zero that still depends on the head's parameters.
        """
        losses: dict[str, Tensor] = {}
        if self.image_aux_heads is None:
            return losses
        for modality, head in self.image_aux_heads.items():
            total = sum(p.sum() for p in head.parameters()) * 0.0  # keeps the head in the graph (DDP)
            assert isinstance(total, Tensor)  # the head has parameters
            feats = features.get(modality)
            count = 0
            if feats is not None:
                for name, fmap in feats.maps.items():
                    labels = (images.get(modality) or {}).get(name, {}).get('semantics')
                    if labels is None:
                        continue
                    labels = labels.to(fmap.device).long()
                    n = int((labels != self.image_aux_ignore).sum())
                    if n == 0:
                        continue
                    logits = F.interpolate(head(fmap), size=labels.shape[-2:], mode='bilinear',
                                           align_corners=False)
                    total = total + F.cross_entropy(logits, labels, ignore_index=self.image_aux_ignore,
                                                    reduction='sum')
                    count += n
            losses[f'loss_img_sem_{modality}'] = self.image_aux_weight * total / max(count, 1)
        return losses

    def _first_stage(self, points: Sequence[Tensor], images: Mapping[str, ImageFeatures | None] | None = None
                     ) -> tuple[Any, Tensor, Tensor, Tensor]:
        lidar = self.lidar_encoder(points)
        bev_in = lidar.bev
        if self.image_bev is not None:
            with stage('image_bev'):
                flat, pbatch = self._flat_points(points)
                img_bev = self.image_bev(flat, pbatch, len(points), images or {}, tuple(bev_in.shape[-2:]))
            bev_in = torch.cat([bev_in, img_bev.to(bev_in.dtype)], 1)
        with stage('bev_neck'):
            bev = self.bev_neck(bev_in)
        with stage('dense_head'):
            heat, reg = self.dense_head(bev)
        return lidar, bev, heat, reg

    @staticmethod
    def _flat_points(points: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        flat = torch.cat([p[:, :3] for p in points])
        batch = torch.cat([torch.full((p.shape[0],), b, dtype=torch.long, device=p.device)
                           for b, p in enumerate(points)])
        return flat, batch

    # ---- BaseModel API ----
    def forward(self, inputs: dict, data_samples: Sequence[DetSample] | None = None, mode: str = 'tensor') -> Any:
        """mode 'loss' -> dict of losses; 'predict' -> data samples with predictions; 'tensor' -> raw maps."""
        points = inputs['points']
        with stage('image_backbone'):
            images = self._encode_images(inputs.get('images') or {})
        lidar, bev, heat, reg = self._first_stage(points, images)
        if mode == 'tensor':
            return heat, reg
        if mode == 'loss':
            if data_samples is None:
                raise ValueError("LoGoNetDetector.forward: mode 'loss' needs data_samples")
            gt_boxes, gt_labels = [], []
            for s in data_samples:
                if s.gt_boxes is None or s.gt_labels is None:
                    raise ValueError(f"LoGoNetDetector.forward: mode 'loss' needs ground truth; frame "
                                     f'{s.frame_id!r} has no gt_boxes')
                gt_boxes.append(s.gt_boxes.to(reg.dtype))
                gt_labels.append(s.gt_labels.long())
            with stage('dense_loss'):
                losses = self.dense_head.loss(heat, reg, gt_boxes, gt_labels)
            if self.image_aux_heads is not None:
                with stage('image_aux_loss'):
                    losses.update(self.image_aux_loss(inputs.get('images') or {}, images))
            if self.roi_head is not None:
                with stage('nms'):
                    proposals = self.dense_head.decode(heat.detach(), reg.detach())
                with stage('roi_sampling'):
                    rois, rbatch, _, ious, matched = self.roi_head.sample_rois(proposals, gt_boxes, gt_labels)
                if rois.shape[0] < 2:  # batch norm needs two RoIs; keep every parameter in the graph
                    zero = sum(p.sum() for p in self.roi_head.parameters()) * 0.0
                    losses.update({'loss_roi_score': zero, 'loss_roi_reg': zero})
                    return losses
                flat, pbatch = self._flat_points(points)
                with stage('roi_head'):
                    score, residual = self.roi_head(rois, rbatch, lidar, bev, flat, pbatch, images)
                losses.update(self.roi_head.loss(score, residual, rois, ious, matched))
            return losses
        if mode == 'predict':
            with stage('nms'):
                proposals = self.dense_head.decode(heat, reg)
            if self.roi_head is not None and len(proposals):
                flat, pbatch = self._flat_points(points)
                with stage('roi_head'):
                    score, residual = self.roi_head(proposals.boxes, proposals.batch, lidar, bev, flat, pbatch,
                                                    images)
                with stage('nms'):
                    proposals = self.roi_head.refine(proposals, score, residual)
            return self._attach(proposals, data_samples, len(points), self._has_voxels(lidar, len(points)))
        raise ValueError(f'LoGoNetDetector.forward: mode must be loss, predict or tensor, got {mode!r}')

    @staticmethod
    def _has_voxels(lidar: Any, batch_size: int) -> Tensor:
        """(B,) bool: the sample has at least one occupied voxel (a scan with no point in range, e.g. a
        blocked or mis-mounted LiDAR, must give no detections rather than the heads' biases on an empty map)."""
        first = next(iter(lidar.levels.values()))
        out = torch.zeros(batch_size, dtype=torch.bool, device=first.coords.device)
        out[first.coords[:, 0].long()] = True
        return out

    @staticmethod
    def _attach(proposals: Proposals, data_samples: Sequence[DetSample] | None, batch_size: int,
                has_voxels: Tensor | None = None) -> list[DetSample]:
        """The B samples with their predictions (`DetSample.pred`)."""
        samples = list(data_samples) if data_samples is not None else [DetSample() for _ in range(batch_size)]
        out = []
        for b, sample in enumerate(samples):
            sel = proposals.batch == b
            if has_voxels is not None and not bool(has_voxels[b]):
                sel = torch.zeros_like(sel)
            out.append(sample.with_predictions(DetPredictions(proposals.boxes[sel].detach(),
                                                              proposals.scores[sel].detach(),
                                                              proposals.labels[sel].detach())))
        return out
