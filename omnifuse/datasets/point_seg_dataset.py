"""Per-point LiDAR segmentation dataset over a KITTI-layout folder (the simulator's output).

    <root>/[training/]velodyne/<id>.bin          float32 x y z intensity (N, 4), LiDAR frame
    <root>/[training/]velodyne_labels/<id>.bin   uint8 class id of every point (N,) (sim classes.py)
    <root>/[training/]image_2/<id>.png           colour image of the camera the model fuses
    <root>/[training/]calib/<id>.txt             KITTI calib (P2, R0_rect, Tr_velo_to_cam)
    <root>/[training/]meta/<id>.json             optional, {'condition': 'day' | 'night' | ...}

Each item holds the points cropped to `point_range` and randomly subsampled to `max_points`, their labels,
the (resized) image and the camera matrix `lidar2img` of the resized image, and a per-point `in_fov` mask
computed with the true calibration (for scores inside and outside the camera's view).

Robustness test: `calib_error=(deg, metres)` perturbs the camera extrinsics the model is given (not the
`in_fov` mask): T_cam_lidar' = dT · T_cam_lidar with dT a rotation of exactly `deg` degrees about a random
axis and a translation of exactly `metres` in a random direction (camera frame), drawn per frame from a
generator seeded by (calib_error_seed, frame index), so every model sees the same perturbations.

Training augmentation (`augment=True`): rotation about z, mirror y -> -y, global scaling. The camera matrix
follows the points (lidar2img' = lidar2img · A^-1), so image and points stay registered.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from omnifuse.datasets.frame_dataset import FrameFolderDataset
from omnifuse.datasets.kitti import read_rgb_image
from omnifuse.errors import FormatError
from omnifuse.registry import DATASETS
from omnifuse.structures import CameraModel
from omnifuse.structures.det_sample import SampleCamera, empty_cameras
from omnifuse.structures.seg_sample import PointSegSample

__all__ = ['PointSegDataset', 'perturb_extrinsics', 'scaled_lidar2img', 'read_point_labels']


def read_point_labels(path: Any, num_points: int) -> np.ndarray:
    """velodyne_labels/<id>.bin: (N,) uint8 class ids; FormatError when N differs from the scan's."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise FormatError(f'missing per-point label file {path}')
    labels = np.fromfile(path, dtype=np.uint8)
    if labels.shape[0] != num_points:
        raise FormatError(f'{path}: {labels.shape[0]} labels for {num_points} points in the scan')
    return labels


def perturb_extrinsics(T_cam_lidar: np.ndarray, rot_deg: float, trans_m: float,
                       rng: np.random.Generator) -> np.ndarray:
    """T_cam_lidar with an extrinsic error of exactly `rot_deg` degrees and `trans_m` metres.

    The error dT (rotation about a uniformly random axis, translation along a uniformly random
    direction, both in the camera frame) is applied on the camera side: dT · T_cam_lidar, (4, 4).
    """
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    a = math.radians(rot_deg)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    R = np.eye(3) + math.sin(a) * K + (1 - math.cos(a)) * K @ K  # Rodrigues
    dT = np.eye(4)
    dT[:3, :3] = R
    dT[:3, 3] = trans_m * direction
    return dT @ np.asarray(T_cam_lidar, dtype=np.float64)


def scaled_lidar2img(camera: CameraModel, scale: float, T_cam_lidar: np.ndarray | None = None) -> np.ndarray:
    """(4, 4) LiDAR -> homogeneous pixels of the image resized by `scale` (optionally other extrinsics)."""
    P = camera.P.copy()
    P[:2] *= scale
    P4 = np.eye(4)
    P4[:3] = P
    return P4 @ (camera.T_cam_lidar if T_cam_lidar is None else T_cam_lidar)


@DATASETS.register_module()
class PointSegDataset(FrameFolderDataset):
    """Point clouds with per-point labels, plus the camera image, for LiDAR(-camera) segmentation.

    Args:
        data_root: the KITTI-layout root (or its split folder).
        split: sub-folder holding the data. Defaults to 'training'.
        image_set: ImageSets name or file selecting frames; None = every scan.
        class_names: the K class names (metainfo).
        point_range: (x0, y0, z0, x1, y1, z1) metres, LiDAR frame; points outside are dropped.
        max_points: points kept per frame (random subset, deterministic per frame outside training).
        camera: calibrated camera whose image is fused. Defaults to 'image_2'.
        load_image: read the image (False for LiDAR-only models; `in_fov` is still computed).
        image_scale: resize factor of the image (the camera matrix follows).
        label_dir: folder of the per-point labels. Defaults to 'velodyne_labels'.
        ignore_labels: class ids turned into `ignore_index` (e.g. 0 'unlabeled').
        ignore_index: label of points not scored. Defaults to 255.
        calib_error: None, or (degrees, metres) of extrinsic error injected into the camera (see module doc).
        calib_error_seed: seed of the injected errors.
        augment: random rotation/mirror/scaling (training).
        rot_range: half-range of the random rotation about z [rad].
        scale_range: (low, high) of the random global scaling.
        seed: seed of the augmentation and subsampling generator.

    Item: {'inputs': {'points': (N, 4) float32, LiDAR frame}, 'data_samples': PointSegSample
    (omnifuse.structures.seg_sample: frame_id, condition, gt_pts_seg (N,) int64, in_fov (N,) bool, and when the
    image is loaded `cameras['camera'][camera]` = SampleCamera(image (3, H, W) uint8 resized, lidar2img (4, 4)
    float64 LiDAR frame -> pixels of the resized image))}.
    """

    def __init__(self, data_root: str, *, split: str = 'training', image_set: str | None = None,
                 class_names: Sequence[str] = (),
                 point_range: Sequence[float] = (-20.0, -20.0, -3.0, 40.0, 20.0, 3.0),
                 max_points: int = 20000, camera: str = 'image_2', load_image: bool = True, image_scale: float = 0.5,
                 label_dir: str = 'velodyne_labels', ignore_labels: Sequence[int] = (0,),
                 ignore_index: int = 255,
                 calib_error: Sequence[float] | None = None, calib_error_seed: int = 0, augment: bool = False,
                 rot_range: float = math.pi / 4, scale_range: Sequence[float] = (0.95, 1.05),
                 seed: int = 0) -> None:
        super().__init__(data_root, split=split, image_set=image_set, class_names=class_names)
        if not (self.reader.data_dir / label_dir).is_dir():
            missing = str(self.reader.data_dir / label_dir)
            raise FileNotFoundError(2, 'No such per-point label directory', missing)
        if len(point_range) != 6:
            raise FormatError(f'PointSegDataset: point_range needs 6 numbers, got {tuple(point_range)}')
        if calib_error is not None and len(calib_error) != 2:
            raise FormatError(f'PointSegDataset: calib_error must be (degrees, metres), got {calib_error!r}')
        self.point_range = tuple(float(v) for v in point_range)
        self.max_points = int(max_points)
        self.camera = camera
        self.load_image = load_image
        self.image_scale = float(image_scale)
        self.label_dir = label_dir
        self.ignore_labels = tuple(int(v) for v in ignore_labels)
        self.ignore_index = int(ignore_index)
        self.calib_error = None if calib_error is None else (float(calib_error[0]), float(calib_error[1]))
        self.calib_error_seed = int(calib_error_seed)
        self.augment = augment
        self.rot_range = float(rot_range)
        self.scale_range = (float(scale_range[0]), float(scale_range[1]))
        self.seed = int(seed)
        self._rng = np.random.default_rng(seed)

    # ---- numpy item ----
    def load(self, index: int) -> dict[str, Any]:
        """Numpy item: 'points' (N, 4) float32, 'labels' (N,) int64, 'in_fov' (N,) bool, 'image' (H, W, 3)
        uint8 or None, 'lidar2img' (4, 4) float64, 'frame_id', 'condition'."""
        frame_id = self.frame_id(index)
        points = self.reader.read_points(frame_id)[:, :4]
        calib = self.reader.read_calib(frame_id)
        label_path = self.reader.path(self.label_dir, frame_id, '.bin')
        labels = read_point_labels(label_path, len(points)).astype(np.int64)
        camera = calib.camera(self.camera)
        image = None
        image_path = self.reader.path(self.camera, frame_id, '.png')
        if self.load_image or camera.width <= 0 or camera.height <= 0:
            full = read_rgb_image(image_path)
            if camera.width <= 0 or camera.height <= 0:
                import dataclasses

                camera = dataclasses.replace(camera, width=int(full.shape[1]), height=int(full.shape[0]))
            if self.load_image:
                image = self._resize(full)
        uv, depth = camera.project(points)
        in_fov = camera.in_image(uv, depth)
        T = camera.T_cam_lidar
        if self.calib_error is not None:
            rng = np.random.default_rng([self.calib_error_seed, index])
            T = perturb_extrinsics(T, self.calib_error[0], self.calib_error[1], rng)
        lidar2img = scaled_lidar2img(camera, self.image_scale, T)
        for k in self.ignore_labels:
            labels[labels == k] = self.ignore_index
        rng = self._rng if self.augment else np.random.default_rng([self.seed, index])
        if self.augment:
            points, lidar2img = self._augment(points, lidar2img, rng)
        keep = self._in_range(points)
        keep_idx = np.nonzero(keep)[0]
        if len(keep_idx) > self.max_points:
            keep_idx = np.sort(rng.choice(keep_idx, self.max_points, replace=False))
        return {'points': np.ascontiguousarray(points[keep_idx], dtype=np.float32),
                'labels': labels[keep_idx],
                'in_fov': in_fov[keep_idx], 'image': image, 'lidar2img': lidar2img, 'frame_id': frame_id,
                'condition': self.condition(frame_id)}

    def _resize(self, image: np.ndarray) -> np.ndarray:
        if self.image_scale == 1.0:
            return image
        import cv2

        h, w = image.shape[:2]
        size = (int(round(w * self.image_scale)), int(round(h * self.image_scale)))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)

    def _in_range(self, points: np.ndarray) -> np.ndarray:
        lo, hi = np.array(self.point_range[:3]), np.array(self.point_range[3:])
        return np.all((points[:, :3] >= lo) & (points[:, :3] < hi), axis=1)

    def _augment(self, points: np.ndarray, lidar2img: np.ndarray, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Rotate about z, maybe mirror y, scale; the camera matrix follows (lidar2img · A^-1)."""
        theta = rng.uniform(-self.rot_range, self.rot_range)
        c, s = math.cos(theta), math.sin(theta)
        A = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        if rng.random() < 0.5:
            A = A @ np.diag([1.0, -1.0, 1.0])
        A = A * rng.uniform(*self.scale_range)
        out = points.copy()
        out[:, :3] = points[:, :3] @ A.T
        A4 = np.eye(4)
        A4[:3, :3] = A
        return out, lidar2img @ np.linalg.inv(A4)

    # ---- mmengine item ----
    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        item = self.load(index)
        cameras = empty_cameras()
        if item['image'] is not None:
            image = torch.from_numpy(np.ascontiguousarray(item['image'].transpose(2, 0, 1)))
            cameras['camera'][self.camera] = SampleCamera(image=image, lidar2img=item['lidar2img'])
        sample = PointSegSample(frame_id=item['frame_id'], condition=item['condition'],
                                gt_pts_seg=torch.from_numpy(item['labels']), in_fov=torch.from_numpy(item['in_fov']),
                                cameras=cameras)
        return {'inputs': {'points': torch.from_numpy(item['points'])}, 'data_samples': sample}
