"""The typed samples and predictions of the segmentation families: what flows datasets -> model -> metric.

    RGB-X (CMX) segmentation:
        RGBXSegDataset -> {'inputs': {'rgb': (3, H, W) uint8, 'x': (C_x, H, W) float32}, 'data_samples': SegSample}
        -> RGBXDataPreprocessor (pads, sets img_shape / x_valid) -> CMXSegmentor
        -> SegSample.pred = SegPredictions -> SegMetric / predict_labels
    Point segmentation:
        PointSegDataset -> {'inputs': {'points': (N, 4) float32}, 'data_samples': PointSegSample (its camera in
        `cameras`, a SampleCamera as in DetSample)} -> PointSegDataPreprocessor (pads and normalises the images)
        -> PointSegmentor -> PointSegSample.pred = PointSegPredictions -> PointSegMetric
    Near-field BEV occupancy:
        NearFieldOccupancyDataset -> {'inputs': {'image', 'lidar2img', 'camera_valid', 'ultrasonic'},
        'data_samples': OccupancySample} -> OccupancyDataPreprocessor (stacks, moves) -> NearFieldOccupancyNet
        -> OccupancySample.pred = OccupancyPredictions -> OccupancyMetric

mmengine's `pseudo_collate` lists the samples of a batch, its `Evaluator` hands the model's samples to the
metrics as they are. The model inputs stay tensors in `inputs` (the exported graphs take the same layout); a
camera image with its projection is a `SampleCamera` under `cameras[modality][name]`, as in DetSample.

Only numpy is imported here (tensors are handled through their methods), as in det_sample.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from omnifuse.errors import ShapeError
from omnifuse.structures.det_sample import SampleCamera, check_cameras, check_field, empty_cameras, shape_of

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ['OccupancyPredictions', 'OccupancySample', 'PointSegPredictions', 'PointSegSample', 'SegPredictions',
           'SegSample']


@dataclass(frozen=True)
class SegPredictions:
    """The per-pixel prediction of one image.

    Attributes:
        sem_seg: (H, W) int64 class ids of the image (its valid, unpadded part).
    """

    sem_seg: Tensor

    def __post_init__(self) -> None:
        check_field('SegPredictions', 'sem_seg', self.sem_seg, '(H, W)', self.sem_seg.ndim == 2)


@dataclass(frozen=True)
class SegSample:
    """One image of RGB-X segmentation at the datasets -> segmentor boundary (made by `RGBXSegDataset`).

    Attributes:
        frame_id: the frame's id ('' when unknown).
        condition: the simulator's condition of the frame ('day', 'night', ...), None when unknown.
        x_valid: False when the X stream (thermal, depth) is missing: the model fills it.
        gt_sem_seg: (H, W) int64 class ids (255 = ignore) of the (scaled) colour image, or None.
        img_shape: (h, w) of the image before the batch padding; set by `RGBXDataPreprocessor`, None before.
        pred: the segmentor's prediction, None before it ran.
    """

    frame_id: str = ''
    condition: str | None = None
    x_valid: bool = True
    gt_sem_seg: Tensor | None = None
    img_shape: tuple[int, int] | None = None
    pred: SegPredictions | None = None

    def __post_init__(self) -> None:
        if self.gt_sem_seg is not None:
            check_field('SegSample', 'gt_sem_seg', self.gt_sem_seg, '(H, W)', self.gt_sem_seg.ndim == 2)
        if self.img_shape is not None and len(self.img_shape) != 2:
            raise ShapeError(f'SegSample.img_shape: expected (h, w), got {self.img_shape!r}')

    def with_predictions(self, pred: SegPredictions) -> SegSample:
        """The same sample carrying `pred`."""
        return dataclasses.replace(self, pred=pred)


@dataclass(frozen=True)
class PointSegPredictions:
    """The per-point prediction of one scan.

    Attributes:
        labels: (N,) int64 class ids of the scan's points (the fused head, or its mean with the image head).
        labels_2d: (N,) int64 class ids of the image head, -1 for points outside the image; None for a
            LiDAR-only model.
    """

    labels: Tensor
    labels_2d: Tensor | None = None

    def __post_init__(self) -> None:
        check_field('PointSegPredictions', 'labels', self.labels, '(N,)', self.labels.ndim == 1)
        if self.labels_2d is not None:
            n = int(self.labels.shape[0])
            check_field('PointSegPredictions', 'labels_2d', self.labels_2d, f'({n},) as labels',
                        shape_of(self.labels_2d) == (n,))


@dataclass(frozen=True)
class PointSegSample:
    """One scan of point segmentation at the datasets -> segmentor boundary (made by `PointSegDataset`).

    Attributes:
        frame_id: the frame's id ('' when unknown).
        condition: the simulator's condition of the frame ('day', 'night', ...), None when unknown.
        gt_pts_seg: (N,) int64 class ids (255 = ignore) of the scan's points (after cropping and subsampling),
            or None.
        in_fov: (N,) bool, the point projects into the camera image (true calibration), or None.
        cameras: {modality: {name: SampleCamera}} as in DetSample: the fused colour camera under
            `cameras['camera'][name]` (image (3, H, W) uint8 after the dataset's resize, lidar2img (4, 4) LiDAR
            frame -> pixels of that image, after augmentation and any injected calibration error); empty for a
            LiDAR-only item.
        pred: the segmentor's prediction, None before it ran.
    """

    frame_id: str = ''
    condition: str | None = None
    gt_pts_seg: Tensor | None = None
    in_fov: Tensor | None = None
    cameras: Mapping[str, Mapping[str, SampleCamera]] = field(default_factory=empty_cameras)
    pred: PointSegPredictions | None = None

    def __post_init__(self) -> None:
        if self.gt_pts_seg is not None:
            check_field('PointSegSample', 'gt_pts_seg', self.gt_pts_seg, '(N,)', self.gt_pts_seg.ndim == 1)
        if self.in_fov is not None:
            n = None if self.gt_pts_seg is None else int(self.gt_pts_seg.shape[0])
            ok = self.in_fov.ndim == 1 and (n is None or shape_of(self.in_fov) == (n,))
            check_field('PointSegSample', 'in_fov', self.in_fov, '(N,)' if n is None else f'({n},) as gt_pts_seg', ok)
        check_cameras('PointSegSample', self.cameras)

    def camera_names(self, modality: str) -> list[str]:
        """Names of the cameras of `modality` ('camera' or 'thermal') this sample has images of."""
        return list(self.cameras.get(modality, {}))

    def to(self, device: Any) -> PointSegSample:
        """The sample with its label tensors on `device` (images move when they are batched)."""
        return dataclasses.replace(self, gt_pts_seg=None if self.gt_pts_seg is None else self.gt_pts_seg.to(device),
                                   in_fov=None if self.in_fov is None else self.in_fov.to(device))

    def with_predictions(self, pred: PointSegPredictions) -> PointSegSample:
        """The same sample carrying `pred`."""
        return dataclasses.replace(self, pred=pred)


@dataclass(frozen=True)
class OccupancyPredictions:
    """The BEV occupancy prediction of one frame.

    Attributes:
        labels: (G, G) int64 group labels (0 free, 1.. the model's occupied classes), BEVGrid image layout.
    """

    labels: Tensor | np.ndarray

    def __post_init__(self) -> None:
        check_field('OccupancyPredictions', 'labels', self.labels, '(G, G)',
                    self.labels.ndim == 2 and self.labels.shape[0] == self.labels.shape[1])


@dataclass(frozen=True)
class OccupancySample:
    """One frame of near-field occupancy at the datasets -> model boundary (made by `NearFieldOccupancyDataset`).

    `NearFieldOccupancyDataset.sample` makes it with numpy arrays (the torch-free CLI / deploy path reads it);
    its `__getitem__` with tensors.

    Attributes:
        frame_id: the frame's id ('' when unknown).
        condition: the simulator's condition of the frame ('day', 'night', ...), None when unknown.
        ultrasonic_note: what no ultrasonic sensor of the calibration explains in the frame's readings ('' when
            nothing).
        gt_labels: (G, G) int64 group labels (0 free, 1.. occupied groups, 255 = ignore), or None when the frame
            has no truth grid.
        pred: the model's prediction, None before it ran.
    """

    frame_id: str = ''
    condition: str | None = None
    ultrasonic_note: str = ''
    gt_labels: Tensor | np.ndarray | None = None
    pred: OccupancyPredictions | None = None

    def __post_init__(self) -> None:
        if self.gt_labels is not None:
            check_field('OccupancySample', 'gt_labels', self.gt_labels, '(G, G)',
                        self.gt_labels.ndim == 2 and self.gt_labels.shape[0] == self.gt_labels.shape[1])

    def to(self, device: Any) -> OccupancySample:
        """The sample with its truth as a tensor on `device` (a numpy truth is wrapped, not copied)."""
        if self.gt_labels is None:
            return self
        import torch

        return dataclasses.replace(self, gt_labels=torch.as_tensor(self.gt_labels).to(device))

    def with_predictions(self, pred: OccupancyPredictions) -> OccupancySample:
        """The same sample carrying `pred`."""
        return dataclasses.replace(self, pred=pred)
