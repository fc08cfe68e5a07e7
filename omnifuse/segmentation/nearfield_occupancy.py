"""Near-field semantic occupancy from ultrasonic sensors and cameras (bird's-eye view).

    image ──ImageEncoder──IPMCameraToBEV──┐
                                          ├─UltrasonicCameraFusion─trunk─┬─stage 1: occupied / free
    ultrasonic raster──UltrasonicEncoder──┘                              └─stage 2: class of occupied cells

Stage 2 sees the stage-1 probability, and its class is used only where stage 1 says occupied.
Labels: 0 = free, 1..K = the occupied classes (config order), 255 = ignore.

Data flow (issue 22): `NearFieldOccupancyDataset` items {'inputs': {...}, 'data_samples': OccupancySample} are
listed by `pseudo_collate`; `OccupancyDataPreprocessor` stacks the inputs and moves inputs and samples to the
device; 'predict' returns the samples with `OccupancyPredictions` in `pred` (read by `OccupancyMetric`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor, BaseModel
from torch import Tensor, nn

from omnifuse.encoders.camera_bev import IPMCameraToBEV
from omnifuse.encoders.image import ImageEncoder
from omnifuse.encoders.ultrasonic import UltrasonicEncoder
from omnifuse.fusion.ultrasonic_bev import UltrasonicCameraFusion
from omnifuse.registry import MODELS
from omnifuse.structures.seg_sample import OccupancyPredictions, OccupancySample

__all__ = ['NearFieldOccupancyNet', 'OccupancyDataPreprocessor', 'IGNORE_INDEX']

IGNORE_INDEX = 255


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


@MODELS.register_module()
class OccupancyDataPreprocessor(BaseDataPreprocessor):
    """Batch a `pseudo_collate`d list of occupancy items and move it to the model's device.

    inputs: every key's per-frame tensors stacked to (B, ...) (a key that is already a batched tensor, or None,
    stays); data_samples: the `OccupancySample`s with their gt_labels on the device (B empty samples when none).
    """

    def forward(self, data: dict, training: bool = False) -> dict:  # noqa: D102 - mmengine API
        inputs: dict[str, Any] = {}
        for key, value in data['inputs'].items():
            if isinstance(value, (list, tuple)):
                value = None if any(v is None for v in value) else torch.stack([torch.as_tensor(v) for v in value])
            inputs[key] = value
        inputs = self.cast_data(inputs)
        samples = data.get('data_samples')
        if samples is None:
            n = next((len(v) for v in inputs.values() if v is not None), 0)
            samples = [OccupancySample() for _ in range(n)]
        return {'inputs': inputs, 'data_samples': [s.to(self.device) for s in samples]}


@MODELS.register_module()
class NearFieldOccupancyNet(BaseModel):
    """Two-stage BEV occupancy network; either modality can be switched off or missing.

    Args:
        occupied_classes: names of the occupied classes (label k+1 is occupied_classes[k]).
        use_camera, use_ultrasonic: which inputs the model has (camera-only, ultrasonic-only, fused).
        resolution, extent: the output grid (default 0.1 m over ±10 m: 200 × 200).
        ground_z: ground height in the LiDAR frame [m].
        width: channel width of the BEV trunk.
        class_weights: stage-2 cross-entropy weight of each occupied class (rare classes such as
            pedestrians need more, or stage 2 learns to say "vehicle" everywhere); None = equal.
        data_preprocessor: config or module. Defaults to OccupancyDataPreprocessor.

    Shapes (inputs dict):
        image: (B, 3, H, W) float in [0, 1] (optional); lidar2img: (B, 4, 4) for that image size;
        camera_valid: (B,) bool, False where the camera is missing/dead;
        ultrasonic: (B, 3, G, G) raster (see omnifuse.encoders.ultrasonic).
    data_samples: B `OccupancySample`s, gt_labels (G, G) long (loss). 'predict' returns them with
    `pred` = OccupancyPredictions(labels (G, G) long).
    """

    def __init__(self, *, occupied_classes: Sequence[str], use_camera: bool = True, use_ultrasonic: bool = True,
                 resolution: float = 0.1, extent: float = 10.0, ground_z: float = -1.73, width: int = 32,
                 image_channels: int = 32, class_weights: Sequence[float] | None = None,
                 data_preprocessor: Mapping[str, Any] | nn.Module | None = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='OccupancyDataPreprocessor')
        if isinstance(data_preprocessor, Mapping):
            data_preprocessor = MODELS.build(dict(data_preprocessor))
        super().__init__(data_preprocessor=data_preprocessor)
        if not (use_camera or use_ultrasonic):
            raise ValueError('NearFieldOccupancyNet needs use_camera or use_ultrasonic')
        self.occupied_classes = tuple(occupied_classes)
        self.use_camera = use_camera
        self.use_ultrasonic = use_ultrasonic
        self.grid_size = int(round(2 * extent / resolution))
        cam_c = us_c = 0
        if use_camera:
            self.image_encoder = ImageEncoder(in_channels=3, stem_channels=16, channels=(24, 32, 48),
                                              blocks=(1, 1, 1), out_channels=image_channels, out_stride=8)
            self.to_bev = IPMCameraToBEV(in_channels=image_channels, out_channels=width, resolution=resolution,
                                         extent=extent, stride=2, ground_z=ground_z)
            cam_c = width
        if use_ultrasonic:
            self.ultrasonic_encoder = UltrasonicEncoder(channels=(16, width), stride=2)
            us_c = width
        self.fusion = UltrasonicCameraFusion(ultrasonic_channels=us_c, camera_channels=cam_c, out_channels=width)
        # A small encoder-decoder over the half-resolution grid for context (1 m at stride 4 cells).
        self.down = nn.Sequential(_block(width, 2 * width, 2), _block(2 * width, 2 * width))
        self.up = nn.Sequential(_block(3 * width, width), _block(width, width))
        self.occupied_head = nn.Conv2d(width, 1, 1)
        self.class_head = nn.Sequential(_block(width + 1, width), nn.Conv2d(width, len(self.occupied_classes), 1))
        weights = torch.ones(len(self.occupied_classes)) if class_weights is None else torch.tensor(
            [float(w) for w in class_weights])
        if weights.shape != (len(self.occupied_classes),):
            raise ValueError(f'class_weights needs {len(self.occupied_classes)} values, got {tuple(weights.shape)}')
        self.register_buffer('class_weights', weights, persistent=False)

    def _logits(self, inputs: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        cam_bev = us_feat = None
        if self.use_camera and inputs.get('image') is not None:
            image = inputs['image']
            feats = self.image_encoder(image)
            cam_bev, _ = self.to_bev(feats, inputs['lidar2img'], tuple(image.shape[-2:]))
            valid = inputs.get('camera_valid')
            if valid is not None:
                cam_bev = cam_bev * valid.to(cam_bev.dtype).view(-1, 1, 1, 1)
        if self.use_ultrasonic and inputs.get('ultrasonic') is not None:
            us_feat = self.ultrasonic_encoder(inputs['ultrasonic'])
        x = self.fusion(us_feat, cam_bev)  # (B, C, G/2, G/2)
        y = self.down(x)
        y = F.interpolate(y, size=x.shape[-2:], mode='bilinear', align_corners=False)
        x = self.up(torch.cat([x, y], 1))
        occ = self.occupied_head(x)  # (B, 1, G/2, G/2)
        cls = self.class_head(torch.cat([x, torch.sigmoid(occ)], 1))  # (B, K, G/2, G/2)
        size = (self.grid_size, self.grid_size)
        return (F.interpolate(occ, size=size, mode='bilinear', align_corners=False)[:, 0],
                F.interpolate(cls, size=size, mode='bilinear', align_corners=False))

    def forward(self, inputs: dict[str, Tensor], data_samples: Sequence[OccupancySample] | None = None,
                mode: str = 'tensor') -> dict[str, Tensor] | Tensor | list[OccupancySample]:
        """mode 'loss' -> dict of losses; 'predict' -> the samples with `pred`; 'tensor' -> occupied logits."""
        occ, cls = self._logits(inputs)
        if mode == 'tensor':
            return occ
        if mode == 'predict':
            labels = self.predict_labels(occ, cls)
            samples = data_samples if data_samples is not None else [OccupancySample() for _ in range(len(labels))]
            return [sample.with_predictions(OccupancyPredictions(labels[i])) for i, sample in enumerate(samples)]
        if mode != 'loss':
            raise ValueError(f'unknown mode {mode!r} (expected loss, predict or tensor)')
        if not data_samples or any(s.gt_labels is None for s in data_samples):
            raise ValueError("NearFieldOccupancyNet: mode 'loss' needs data_samples with gt_labels")
        return self.loss(occ, cls, torch.stack([torch.as_tensor(s.gt_labels) for s in data_samples]))

    @staticmethod
    def predict_labels(occ: Tensor, cls: Tensor) -> Tensor:
        """(B, G, G) labels: 0 where stage 1 says free, else 1 + the stage-2 class."""
        return torch.where(occ > 0, cls.argmax(1) + 1, torch.zeros_like(occ, dtype=torch.long))

    def loss(self, occ: Tensor, cls: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """Stage-1 focal-free BCE on every labelled cell, stage-2 CE on occupied cells."""
        valid = labels != IGNORE_INDEX
        occupied = (labels > 0) & valid
        target = occupied.to(occ.dtype)
        # Occupied cells are a few percent of the grid: weight them up so the trunk does not learn "all free".
        pos_weight = torch.tensor(4.0, device=occ.device, dtype=occ.dtype)
        bce = F.binary_cross_entropy_with_logits(occ, target, pos_weight=pos_weight, reduction='none')
        loss_occ = (bce * valid).sum() / valid.sum().clamp(min=1)
        if occupied.any():
            loss_cls = F.cross_entropy(cls.permute(0, 2, 3, 1)[occupied], labels[occupied] - 1,
                                       weight=self.class_weights.to(cls.dtype))
        else:
            loss_cls = cls.sum() * 0
        return {'loss_occupied': loss_occ, 'loss_class': loss_cls}
