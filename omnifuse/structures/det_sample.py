"""The typed detection sample and detection predictions: what flows datasets -> detector -> evaluation.

    reader -> SensorFrame -> frame_to_results (dict) -> transforms -> PackDetInputs -> DetSample
    DetSample -> DetDataPreprocessor (batches each camera) -> LoGoNetDetector -> DetSample with `pred`
    DetSample.pred (DetPredictions) -> KittiMetric / WaymoMetric / the KITTI writer / apis.Detector

A packed item is `{'inputs': {'points': (N, C) float32 tensor, LiDAR frame}, 'data_samples': DetSample}`:
mmengine's `pseudo_collate` lists the samples of a batch, its `Evaluator` hands them to the metrics as they
are. Boxes follow the one convention of omnifuse.structures.boxes3d: rows (x, y, z, dx, dy, dz, yaw),
geometric centre, LiDAR frame, metres, yaw [rad] counter-clockwise about +z from +x.

A camera is its modality and its name: `cameras['camera']['image_2']`, `cameras['thermal']['front']` (the
ROS contract names the colour and the thermal camera both 'front'; they are two entries).

Only numpy is imported here: tensors are handled through their methods, so the package stays importable
without torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from omnifuse.errors import ShapeError
from omnifuse.structures.boxes3d import Boxes3D
from omnifuse.structures.calibration import CameraModel
from omnifuse.structures.kitti_labels import KittiLabels

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ['MODALITIES', 'SampleCamera', 'DetPredictions', 'DetSample']

# The image modalities of a sample, in the order the detector encodes them.
MODALITIES = ('camera', 'thermal')


def shape_of(value: Any) -> tuple[int, ...]:
    """The shape of a tensor or an array as a tuple of ints."""
    return tuple(int(d) for d in value.shape)


def _to_numpy(value: Any) -> np.ndarray:
    """A tensor (any device) or an array as a numpy array."""
    return value.detach().cpu().numpy() if hasattr(value, 'detach') else np.asarray(value)


def check_field(owner: str, name: str, value: Any, expected: str, ok: bool) -> None:
    """Raise ShapeError '`owner`.`name`: expected `expected`, got (shape)' unless `ok`."""
    if not ok:
        raise ShapeError(f'{owner}.{name}: expected {expected}, got {shape_of(value)}')


@dataclass(frozen=True)
class SampleCamera:
    """One image of a detection sample with its projection.

    Attributes:
        image: (C, H, W) tensor; C = 3 uint8 RGB for a colour camera, C = 1 float32 for a thermal camera.
        lidar2img: (4, 4) float64 LiDAR frame -> homogeneous pixels (u·d, v·d, d, 1) of this image, after every
            augmentation and resize of the pipeline.
        semantics: (H, W) int64 per-pixel class ids (255 = ignore) of this image, or None.
    """

    image: Tensor
    lidar2img: np.ndarray
    semantics: Tensor | None = None

    def __post_init__(self) -> None:
        check_field('SampleCamera', 'image', self.image, '(C, H, W) with C 1 or 3',
                    self.image.ndim == 3 and self.image.shape[0] in (1, 3))
        l2i = np.asarray(self.lidar2img, dtype=np.float64)
        check_field('SampleCamera', 'lidar2img', l2i, '(4, 4)', l2i.shape == (4, 4))
        object.__setattr__(self, 'lidar2img', l2i)
        if self.semantics is not None:
            expected = f'(H, W) = {shape_of(self.image)[1:]} as the image'
            check_field('SampleCamera', 'semantics', self.semantics, expected,
                        shape_of(self.semantics) == shape_of(self.image)[1:])


@dataclass(frozen=True)
class DetPredictions:
    """The detections of one frame: tensors on the model's device as the model returns them (`DetSample.pred`),
    or numpy arrays as `apis.Detector` and the exported `ExportedFrameDetector` return them (boxes float64 in
    the sensor's LiDAR frame, scores float32, labels int64, thresholded).

    Attributes:
        boxes: (K, 7) float rows (x, y, z, dx, dy, dz, yaw), LiDAR frame of the input points.
        scores: (K,) float confidences in [0, 1].
        labels: (K,) int64 indices into the detector's `class_names`.
    """

    boxes: Tensor | np.ndarray
    scores: Tensor | np.ndarray
    labels: Tensor | np.ndarray

    def __post_init__(self) -> None:
        check_field('DetPredictions', 'boxes', self.boxes, '(K, 7)',
                    self.boxes.ndim == 2 and self.boxes.shape[1] == 7)
        k = int(self.boxes.shape[0])
        check_field('DetPredictions', 'scores', self.scores, f'({k},) as boxes', shape_of(self.scores) == (k,))
        check_field('DetPredictions', 'labels', self.labels, f'({k},) as boxes', shape_of(self.labels) == (k,))

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def numpy(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """On the CPU: (boxes (K, 7) float64, scores (K,) as computed (float32), labels (K,) int64); numpy fields
        of those types are returned as they are (no copy)."""
        boxes, scores, labels = (_to_numpy(t) for t in (self.boxes, self.scores, self.labels))
        return boxes.astype(np.float64, copy=False), scores, labels.astype(np.int64, copy=False)

    def boxes3d(self) -> Boxes3D:
        """The boxes as a `Boxes3D` in the 'lidar' frame (float64, on the CPU)."""
        return Boxes3D(self.numpy()[0], 'lidar')


def empty_cameras() -> dict[str, dict[str, SampleCamera]]:
    """`{'camera': {}, 'thermal': {}}`: the cameras of a sample without images (a new dict each call)."""
    return {m: {} for m in MODALITIES}


def check_cameras(owner: str, cameras: Mapping[str, Mapping[str, SampleCamera]]) -> None:
    """Raise ShapeError '`owner`.cameras: ...' unless `cameras` is {modality: {name: SampleCamera}} with
    modalities from MODALITIES."""
    unknown = sorted(set(cameras) - set(MODALITIES))
    if unknown:
        raise ShapeError(f'{owner}.cameras: modalities are {list(MODALITIES)}, got {unknown}')
    for modality, by_name in cameras.items():
        for name, camera in by_name.items():
            if not isinstance(camera, SampleCamera):
                raise ShapeError(f'{owner}.cameras[{modality!r}][{name!r}]: expected a SampleCamera, got '
                                 f'{type(camera).__name__}')


@dataclass(frozen=True)
class DetSample:
    """One frame at the datasets -> detector boundary (made by `PackDetInputs`), and after the detector.

    Attributes:
        frame_id: the frame's id ('' when unknown).
        gt_boxes: (M, 7) float32 ground-truth boxes, LiDAR frame (after the pipeline's augmentations), or None
            for a sample without ground truth (training needs them).
        gt_labels: (M,) int64 class indices of `gt_boxes` (-1: a class the model does not detect), or None.
        cameras: {modality: {name: SampleCamera}}, modality 'camera' (colour) or 'thermal'; only the images
            the pipeline kept.
        aug_matrix: (4, 4) float64 global augmentation applied so far (augmented = aug_matrix · original).
        condition: the simulator's condition of the frame ('day', 'night', ...), 'unknown' elsewhere.
        main_camera: the camera whose calibration turns LiDAR boxes into KITTI labels (KITTI's image_2: P2,
            T_cam_lidar = R0_rect · Tr_velo_to_cam, the image size), or None when the frame has none.
        gt_kitti: the frame's ground truth as KITTI camera labels (for KittiMetric), or None.
        pred: the detector's predictions, None before the detector ran.
    """

    frame_id: str = ''
    gt_boxes: Tensor | None = None
    gt_labels: Tensor | None = None
    cameras: Mapping[str, Mapping[str, SampleCamera]] = field(default_factory=empty_cameras)
    aug_matrix: np.ndarray = field(default_factory=lambda: np.eye(4))
    condition: str = 'unknown'
    main_camera: CameraModel | None = None
    gt_kitti: KittiLabels | None = None
    pred: DetPredictions | None = None

    def __post_init__(self) -> None:
        if self.gt_boxes is not None:
            check_field('DetSample', 'gt_boxes', self.gt_boxes, '(M, 7)',
                        self.gt_boxes.ndim == 2 and self.gt_boxes.shape[1] == 7)
        if (self.gt_boxes is None) != (self.gt_labels is None):
            raise ShapeError('DetSample: gt_boxes and gt_labels go together (both or neither), got '
                             f'{"gt_boxes" if self.gt_labels is None else "gt_labels"} alone')
        if self.gt_labels is not None and self.gt_boxes is not None:
            m = int(self.gt_boxes.shape[0])
            check_field('DetSample', 'gt_labels', self.gt_labels, f'({m},) as gt_boxes',
                        shape_of(self.gt_labels) == (m,))
        check_cameras('DetSample', self.cameras)
        aug = np.asarray(self.aug_matrix, dtype=np.float64)
        check_field('DetSample', 'aug_matrix', aug, '(4, 4)', aug.shape == (4, 4))
        object.__setattr__(self, 'aug_matrix', aug)

    def camera_names(self, modality: str) -> list[str]:
        """Names of the cameras of `modality` ('camera' or 'thermal') this sample has images of."""
        return list(self.cameras.get(modality, {}))

    def to(self, device: Any) -> DetSample:
        """The sample with its ground-truth tensors on `device` (images move when they are batched)."""
        if self.gt_boxes is None or self.gt_labels is None:
            return self
        return dataclasses.replace(self, gt_boxes=self.gt_boxes.to(device), gt_labels=self.gt_labels.to(device))

    def with_predictions(self, pred: DetPredictions) -> DetSample:
        """The same sample carrying `pred`."""
        return dataclasses.replace(self, pred=pred)
