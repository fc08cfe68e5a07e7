"""Data transforms of the detection pipeline (mmengine style: each is a callable dict -> dict).

The results dict of one frame (made by omnifuse.datasets.det_dataset.frame_to_results):
    points      (N, C) float32, LiDAR frame (x y z intensity ...)
    gt_boxes    (M, 7) float64 boxes, LiDAR frame;  gt_names: M class names;  gt_labels: (M,) int64 (-1 unknown)
    images      {camera name: (H, W, 3) uint8 RGB};  thermal: {name: (H, W) float32/uint16}
    semantics   optional {'camera' | 'thermal': {name: (H, W) uint8 class ids, 255 = ignore}}, keyed as `cams`
                 (modality + name), same size as that camera's image
    cams        {'camera' | 'thermal': {name: {'lidar2img': (4, 4) LiDAR -> pixels, 'P': (3, 4) projection,
                 'img_hw': (h, w)}}}: a camera is its modality and its name (the ROS contract calls the colour
                 and the thermal camera both 'front'); `images` go with cams['camera'], `thermal` with
                 cams['thermal'] (`CAMS_OF_FIELD`)
    aug_matrix  (4, 4) the global augmentation applied so far (augmented = aug_matrix · original)
    frame_id, meta (condition ...), gt_kitti (the frame's labels in KITTI camera form, for the metric)

Global augmentations move points and boxes and update every camera's `lidar2img` so that projecting an
augmented point still lands on the same pixel: lidar2img' = lidar2img · A⁻¹.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from omnifuse.datasets.beams import selection_from_degrees
from omnifuse.errors import FormatError
from omnifuse.registry import TRANSFORMS
from omnifuse.structures.calibration import CameraModel
from omnifuse.structures.det_sample import MODALITIES, DetSample, SampleCamera
from omnifuse.structures.kitti_labels import KittiLabels

__all__ = ['BeamSubsample', 'GlobalRotScaleFlip', 'RandomObjectScale', 'RandomTilt', 'PointRangeFilter',
           'ObjectRangeFilter', 'ObjectNameFilter',
           'PointShuffle', 'RandomDropModality', 'ImageResize', 'ExtrinsicNoise', 'PackDetInputs',
           'apply_global_transform', 'all_cams', 'CAMS_OF_FIELD']


# Which calibration store of `cams` belongs to each image field of the results dict.
CAMS_OF_FIELD = {'images': 'camera', 'thermal': 'thermal'}


def all_cams(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every camera entry of `results['cams']`, colour and thermal."""
    return [cam for store in (results.get('cams') or {}).values() for cam in store.values()]


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2 * np.pi) - np.pi


def _follow_with_cameras(results: dict[str, Any], A: np.ndarray) -> dict[str, Any]:
    """After the scene moved by the (4, 4) `A`: lidar2img' = lidar2img · A⁻¹ for every camera, and
    `aug_matrix` composed with A."""
    A_inv = np.linalg.inv(A)
    for cam in all_cams(results):
        cam['lidar2img'] = np.asarray(cam['lidar2img'], dtype=np.float64) @ A_inv
    results['aug_matrix'] = A @ np.asarray(results.get('aug_matrix', np.eye(4)), dtype=np.float64)
    return results


def apply_global_transform(results: dict[str, Any], *, angle: float = 0.0, scale: float = 1.0,
                           flip_y: bool = False) -> dict[str, Any]:
    """Flip y (y -> -y), then rotate by `angle` about +z, then scale, consistently on every geometric field.

    Points (x, y, z), boxes (centre, size, yaw), each camera's lidar2img and `aug_matrix` are updated.
    """
    F = np.diag([1.0, -1.0 if flip_y else 1.0, 1.0, 1.0])
    c, s = math.cos(angle), math.sin(angle)
    R = np.array([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    A = np.diag([scale, scale, scale, 1.0]) @ R @ F  # (4, 4)
    pts = results['points']
    xyz = pts[:, :3].astype(np.float64) @ A[:3, :3].T
    results['points'] = np.concatenate([xyz.astype(pts.dtype), pts[:, 3:]], 1)
    boxes = np.asarray(results.get('gt_boxes', np.zeros((0, 7))), dtype=np.float64).reshape(-1, 7).copy()
    if len(boxes):
        boxes[:, :3] = boxes[:, :3] @ A[:3, :3].T
        boxes[:, 3:6] *= scale
        yaw = -boxes[:, 6] if flip_y else boxes[:, 6]
        boxes[:, 6] = _wrap(yaw + angle)
    results['gt_boxes'] = boxes
    return _follow_with_cameras(results, A)


@TRANSFORMS.register_module()
class GlobalRotScaleFlip:
    """Random global flip (y -> -y), rotation about +z and scaling (see `apply_global_transform`).

    Args:
        rot_range: (min, max) rotation [rad].
        scale_range: (min, max) scale factor.
        flip_prob: probability of the y flip.
        seed: seed of this transform's generator (None: fresh entropy).
    """

    def __init__(self, *, rot_range: Sequence[float] = (-math.pi / 4, math.pi / 4),
                 scale_range: Sequence[float] = (0.95, 1.05), flip_prob: float = 0.5, seed: int | None = None) -> None:
        self.rot_range = tuple(rot_range)
        self.scale_range = tuple(scale_range)
        self.flip_prob = flip_prob
        self.rng = np.random.default_rng(seed)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        """Rotate, scale and maybe flip the points, boxes and camera projections of one sample."""
        (rot_lo, rot_hi), (scale_lo, scale_hi) = self.rot_range, self.scale_range
        angle = float(self.rng.uniform(rot_lo, rot_hi))
        scale = float(self.rng.uniform(scale_lo, scale_hi))
        flip = bool(self.rng.random() < self.flip_prob)
        return apply_global_transform(results, angle=angle, scale=scale, flip_y=flip)


@TRANSFORMS.register_module()
class RandomTilt:
    """Random small pitch and roll of the whole scene, and a shift of its height: a LiDAR mounted not quite
    level, on a road that is not quite flat (KITTI sequence 0000: pitch +0.6 deg, roll -0.5 deg, and
    -0.6..+1.8 deg of pitch from scan to scan, measured by `omnifuse gap`).

    Points, box centres and every camera's lidar2img move together (lidar2img' = lidar2img · A⁻¹); boxes
    keep their yaw and size (a 7-DoF box cannot tilt; at 2 degrees its corners move < 2 cm per metre).

    Args:
        max_deg: pitch and roll each uniform in [-max_deg, max_deg] degrees.
        z_range: (min, max) shift of the height [m].
        seed: seed of this transform's generator (None: fresh entropy).
    """

    def __init__(self, *, max_deg: float = 2.0, z_range: Sequence[float] = (-0.1, 0.1),
                 seed: int | None = None) -> None:
        if max_deg < 0 or z_range[0] > z_range[1]:
            raise ValueError(f'RandomTilt: max_deg must be >= 0 and z_range (min, max), got {max_deg}, {z_range}')
        self.max_deg = float(max_deg)
        self.z_range = tuple(float(v) for v in z_range)
        self.rng = np.random.default_rng(seed)

    def matrix(self) -> np.ndarray:
        """A fresh random (4, 4) tilt + height shift."""
        pitch, roll = np.deg2rad(self.rng.uniform(-self.max_deg, self.max_deg, size=2))
        cp, sp, cr, sr = math.cos(pitch), math.sin(pitch), math.cos(roll), math.sin(roll)
        Ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])  # pitch: about +y
        Rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])  # roll: about +x
        A = np.eye(4)
        A[:3, :3] = Ry @ Rx
        z_lo, z_hi = self.z_range
        A[2, 3] = self.rng.uniform(z_lo, z_hi)
        return A

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        """Tilt and lift the points, box centres and camera projections of one sample by one random matrix."""
        A = self.matrix()
        pts = results['points']
        xyz = pts[:, :3].astype(np.float64) @ A[:3, :3].T + A[:3, 3]
        results['points'] = np.concatenate([xyz.astype(pts.dtype), pts[:, 3:]], 1)
        boxes = np.asarray(results.get('gt_boxes', np.zeros((0, 7))), dtype=np.float64).reshape(-1, 7).copy()
        if len(boxes):
            boxes[:, :3] = boxes[:, :3] @ A[:3, :3].T + A[:3, 3]
        results['gt_boxes'] = boxes
        return _follow_with_cameras(results, A)


@TRANSFORMS.register_module()
class RandomObjectScale:
    """Random per-object resizing: each labelled object and the points inside its box are scaled about the
    box's bottom centre, by one factor along its length and width and another along its height.

    It makes the size regression read the object's extent from its points instead of a class prior (a
    sim-trained model gave real KITTI vans car sizes: 1.0 m too short, 0.4 m too low, while it sized the
    simulator's vans right); the object-level scaling of "Train in Germany, Test in the USA" (Wang et al.,
    CVPR 2020) and OpenPCDet's `random_local_scaling`. The bottom stays on the ground; points of the enlarged
    box that were outside the original (ground, neighbours) are left as they are.

    Args:
        xy_range: (min, max) factor on length and width.
        z_range: (min, max) factor on height.
        prob: probability that an object is resized.
        seed: seed of this transform's generator (None: fresh entropy).
    """

    def __init__(self, *, xy_range: Sequence[float] = (0.85, 1.15), z_range: Sequence[float] = (0.85, 1.15),
                 prob: float = 1.0, seed: int | None = None) -> None:
        if not (0 < xy_range[0] <= xy_range[1] and 0 < z_range[0] <= z_range[1] and 0 <= prob <= 1):
            raise ValueError(f'RandomObjectScale: xy_range and z_range must be (min, max) > 0 and prob in [0, 1], '
                             f'got {xy_range}, {z_range}, {prob}')
        self.xy_range = tuple(float(v) for v in xy_range)
        self.z_range = tuple(float(v) for v in z_range)
        self.prob = float(prob)
        self.rng = np.random.default_rng(seed)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        """Resize each labelled object of one sample (box and the points inside it only)."""
        from omnifuse.structures.geometry import points_in_boxes

        boxes = np.asarray(results.get('gt_boxes', np.zeros((0, 7))), dtype=np.float64).reshape(-1, 7).copy()
        if len(boxes) == 0:
            return results
        pts = results['points']
        xyz = pts[:, :3].astype(np.float64)
        inside = points_in_boxes(xyz, boxes)  # (P, M)
        owned = inside.sum(1) == 1  # points shared by two boxes are left where they are
        for j in range(len(boxes)):
            if self.rng.random() >= self.prob:
                continue
            s_xy = float(self.rng.uniform(self.xy_range[0], self.xy_range[1]))
            s_z = float(self.rng.uniform(self.z_range[0], self.z_range[1]))
            x, y, z, dx, dy, dz, yaw = boxes[j]
            bottom = z - dz / 2
            m = inside[:, j] & owned
            c, s = math.cos(yaw), math.sin(yaw)
            local = xyz[m] - (x, y, 0.0)
            u = c * local[:, 0] + s * local[:, 1]
            v = -s * local[:, 0] + c * local[:, 1]
            u, v = u * s_xy, v * s_xy
            xyz[m, 0] = x + c * u - s * v
            xyz[m, 1] = y + s * u + c * v
            xyz[m, 2] = bottom + (local[:, 2] - bottom) * s_z
            boxes[j, 3:5] *= s_xy
            boxes[j, 5] = dz * s_z
            boxes[j, 2] = bottom + dz * s_z / 2
        results['points'] = np.concatenate([xyz.astype(pts.dtype), pts[:, 3:]], 1)
        results['gt_boxes'] = boxes
        return results


def _in_range(xyz: np.ndarray, point_range: Sequence[float], dims: int) -> np.ndarray:
    lo = np.asarray(point_range[:dims])
    hi = np.asarray(point_range[3:3 + dims])
    return np.asarray(((xyz[:, :dims] >= lo) & (xyz[:, :dims] < hi)).all(1))


@TRANSFORMS.register_module()
class BeamSubsample:
    """Make a sparser LiDAR out of a denser one: keep every `keep_every`-th beam (laser ring).

    Each point's beam is the one whose elevation is nearest the point's elevation seen from the sensor
    (`beam_index`), so the scan must still be in the LiDAR frame with the sensor at the origin: put this
    first in a pipeline. Beams are numbered from the top (0) down; beam b is kept when
    b % keep_every == offset. With the default HDL-64E elevations, keep_every=4 leaves a 16-beam LiDAR with
    the HDL-64E's vertical field (1.3-2.0 deg between beams), keep_every=2 a 32-beam one.

    Args:
        keep_every: keep one beam in this many (1 keeps all).
        offset: which beam of each group to keep, 0 <= offset < keep_every.
        elevations_deg: the beam elevations [deg]; None = the HDL-64E of KITTI and of omnifuse's simulator.
    """

    def __init__(self, *, keep_every: int = 4, offset: int = 0, elevations_deg: Sequence[float] | None = None) -> None:
        self.selection = selection_from_degrees(elevations_deg, keep_every, offset)
        self.keep_every = self.selection.keep_every
        self.offset = self.selection.offset
        self.elevations = np.asarray(self.selection.elevations)  # beam 0 = top

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        """Keep the points of the kept beams."""
        if self.keep_every == 1:
            return results
        pts = results['points']
        results['points'] = pts[self.selection.keep(pts)]
        return results


@TRANSFORMS.register_module()
class PointRangeFilter:
    """Keep the points inside `point_range` (x0, y0, z0, x1, y1, z1), LiDAR frame."""

    def __init__(self, *, point_range: Sequence[float]) -> None:
        self.point_range = tuple(point_range)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        """Drop the points outside `point_range`."""
        pts = results['points']
        results['points'] = pts[_in_range(pts, self.point_range, 3)]
        return results


def _select_objects(results: dict[str, Any], keep: np.ndarray) -> None:
    results['gt_boxes'] = np.asarray(results['gt_boxes']).reshape(-1, 7)[keep]
    if 'gt_labels' in results:
        results['gt_labels'] = np.asarray(results['gt_labels'])[keep]
    if 'gt_names' in results:
        results['gt_names'] = [n for n, k in zip(results['gt_names'], keep, strict=True) if k]


@TRANSFORMS.register_module()
class ObjectRangeFilter:
    """Keep the boxes whose BEV centre is inside `point_range`."""

    def __init__(self, *, point_range: Sequence[float]) -> None:
        self.point_range = tuple(point_range)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        """Drop the boxes (and their names and labels) whose BEV centre is outside `point_range`."""
        boxes = np.asarray(results.get('gt_boxes', np.zeros((0, 7)))).reshape(-1, 7)
        _select_objects(results, _in_range(boxes, self.point_range, 2))
        return results


@TRANSFORMS.register_module()
class ObjectNameFilter:
    """Keep the boxes of `classes` and set gt_labels to their index in `classes`.

    Args:
        classes: the class names, in label order.
        rename: names changed before the filter, e.g. {'Van': 'Car'} to train vans as vehicles (KITTI's Car
            protocol counts a Car detection on a Van as neither hit nor false positive).
    """

    def __init__(self, *, classes: Sequence[str], rename: Mapping[str, str] | None = None) -> None:
        self.classes = tuple(classes)
        self.rename = dict(rename or {})
        unknown = sorted(set(self.rename.values()) - set(self.classes))
        if unknown:
            raise ValueError(f'ObjectNameFilter: rename targets {unknown} are not among the classes {self.classes}')

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        """Rename, keep the boxes of `classes` and set their labels."""
        names = [self.rename.get(n, n) for n in results.get('gt_names', [])]
        if self.rename:
            results['gt_names'] = names
        results['gt_labels'] = np.array([self.classes.index(n) if n in self.classes else -1 for n in names],
                                        dtype=np.int64)
        _select_objects(results, results['gt_labels'] >= 0)
        return results


@TRANSFORMS.register_module()
class PointShuffle:
    """Shuffle the point order (hard voxelisation keeps the first points of a voxel)."""

    def __init__(self, *, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        """Permute the points at random."""
        results['points'] = results['points'][self.rng.permutation(len(results['points']))]
        return results


@TRANSFORMS.register_module()
class RandomDropModality:
    """Drop the camera and/or thermal images with some probability (or always, for robustness tests).

    Args:
        camera_prob: probability of dropping every colour image.
        thermal_prob: probability of dropping every thermal image.
        seed: generator seed.
    """

    def __init__(self, *, camera_prob: float = 0.0, thermal_prob: float = 0.0, seed: int | None = None) -> None:
        self.camera_prob = camera_prob
        self.thermal_prob = thermal_prob
        self.rng = np.random.default_rng(seed)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        """Drop the camera and / or thermal images of this sample at random."""
        for field, prob in (('images', self.camera_prob), ('thermal', self.thermal_prob)):
            if results.get(field) and self.rng.random() < prob:
                results[field] = {}
                if results.get('semantics'):  # the labels of a dropped image go with it
                    results['semantics'] = {m: v for m, v in results['semantics'].items() if m != CAMS_OF_FIELD[field]}
        return results


@TRANSFORMS.register_module()
class ImageResize:
    """Resize every colour (and thermal) image by `scale`; lidar2img is scaled to match.

    An image's semantic labels (results['semantics'][modality][name]) are resized with it, nearest neighbour, to exactly
    the image's new size (so only ids of the source appear).
    """

    def __init__(self, *, scale: float = 0.5, thermal: bool = True) -> None:
        self.scale = float(scale)
        self.thermal = thermal

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        """Resize the images (and semantics) and scale their lidar2img."""
        import cv2

        if self.scale == 1.0:
            return results
        fields = ('images', 'thermal') if self.thermal else ('images',)
        S = np.diag([self.scale, self.scale, 1.0, 1.0])
        if results.get('semantics'):  # resized into new dicts: the caller's label maps stay as they were
            results['semantics'] = {m: dict(v) for m, v in results['semantics'].items()}
        for field in fields:
            modality = CAMS_OF_FIELD[field]
            sems = (results.get('semantics') or {}).get(modality) or {}
            for name, img in list(results.get(field, {}).items()):
                h, w = img.shape[:2]
                size = (max(1, round(w * self.scale)), max(1, round(h * self.scale)))
                results[field][name] = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)
                sem = sems.get(name)
                if sem is not None:
                    # nearest with pixel-centre alignment, as the image's INTER_LINEAR (INTER_NEAREST is
                    # top-left aligned: up to half a pixel off the image)
                    sems[name] = cv2.resize(sem, size, interpolation=cv2.INTER_NEAREST_EXACT)
                cam = results['cams'][modality][name]
                cam['lidar2img'] = S @ np.asarray(cam['lidar2img'], dtype=np.float64)
                cam['P'] = S[:3, :3] @ np.asarray(cam['P'], dtype=np.float64)
                cam['img_hw'] = (size[1], size[0])
        return results


@TRANSFORMS.register_module()
class ExtrinsicNoise:
    """Perturb each camera's extrinsics by a fixed rotation error and translation error (robustness tests).

    The LiDAR->camera transform gains a rotation of `rot_deg` about a random axis and a translation of
    `trans_m` in a random direction (seeded), applied in the camera frame: lidar2img' = P4 · E · T_cam_lidar
    = P4 · E · P4⁻¹ · lidar2img, with P4 the camera's projection (cams[name]['P'], (3, 4)) made 4x4.
    As a training augmentation: `prob` applies it to that fraction of samples and `uniform` draws each
    error's magnitudes uniformly up to rot_deg / trans_m. Put it before any image resize.
    """

    def __init__(self, *, rot_deg: float = 1.0, trans_m: float = 0.2, seed: int = 0, prob: float = 1.0,
                 uniform: bool = False) -> None:
        self.rot = math.radians(rot_deg)
        self.trans = trans_m
        self.prob = float(prob)
        self.uniform = bool(uniform)
        self.rng = np.random.default_rng(seed)

    def _error(self) -> np.ndarray:
        axis = self.rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        rot, trans = self.rot, self.trans
        if self.uniform:  # training augmentation: any error up to the given magnitudes
            rot, trans = rot * self.rng.uniform(), trans * self.rng.uniform()
        K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        R = np.eye(3) + math.sin(rot) * K + (1 - math.cos(rot)) * K @ K
        t = self.rng.normal(size=3)
        E = np.eye(4)
        E[:3, :3] = R
        E[:3, 3] = t / np.linalg.norm(t) * trans
        return E

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        """Perturb every camera's lidar2img (with probability `prob`)."""
        if self.prob < 1.0 and self.rng.uniform() >= self.prob:
            return results
        for cam in all_cams(results):
            l2i = np.asarray(cam['lidar2img'], dtype=np.float64)
            P4 = np.eye(4)
            P4[:3] = np.asarray(cam['P'], dtype=np.float64)
            cam['lidar2img'] = P4 @ self._error() @ np.linalg.inv(P4) @ l2i
        return results


@TRANSFORMS.register_module()
class PackDetInputs:
    """Pack a results dict into {'inputs': {'points': (N, C) float32}, 'data_samples': DetSample}.

    The `DetSample` (omnifuse.structures.det_sample) gets gt_boxes (M, 7) float32 and gt_labels (M,) int64
    (-1 for every box when no `ObjectNameFilter` set labels), one `SampleCamera` per kept image under its
    modality and name (`images` -> 'camera' as (3, H, W) uint8, `thermal` -> 'thermal' as (1, H, W) float32,
    each with its `lidar2img` from `cams` and its semantics (H, W) int64 when the results have them),
    aug_matrix, the condition, the main camera's calibration for the KITTI metric (T_cam_lidar, P,
    image_size) when known, and gt_kitti as `KittiLabels`.

    Args:
        main_camera: name of the camera whose calibration the results' T_cam_lidar / P / image_size are
            (informational: frame_to_results picks it).
    """

    def __init__(self, *, main_camera: str = 'image_2') -> None:
        self.main_camera = main_camera

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        """Pack one sample: {'inputs': {'points'}, 'data_samples': DetSample}."""
        import torch

        frame_id = str(results.get('frame_id', ''))
        boxes = np.asarray(results.get('gt_boxes', np.zeros((0, 7))), dtype=np.float32).reshape(-1, 7)
        labels = np.asarray(results['gt_labels'] if 'gt_labels' in results else np.full(len(boxes), -1),
                            dtype=np.int64)
        sems = results.get('semantics') or {}
        cameras: dict[str, dict[str, SampleCamera]] = {m: {} for m in MODALITIES}
        for field, modality in CAMS_OF_FIELD.items():
            for name, im in (results.get(field) or {}).items():
                if field == 'images':
                    image = torch.from_numpy(np.ascontiguousarray(im.transpose(2, 0, 1)))  # (3, H, W)
                else:
                    image = torch.from_numpy(np.asarray(im, dtype=np.float32)[None].copy())  # (1, H, W)
                cam = (results.get('cams') or {}).get(modality, {}).get(name)
                if cam is None:
                    raise FormatError(f'frame {frame_id}: {field}[{name!r}] has no calibration '
                                      f"cams[{modality!r}][{name!r}]")
                sem = (sems.get(modality) or {}).get(name)
                cameras[modality][name] = SampleCamera(
                    image, cam['lidar2img'],
                    None if sem is None else torch.from_numpy(np.asarray(sem, dtype=np.int64)))
        main = None
        if all(k in results for k in ('T_cam_lidar', 'P', 'image_size')):
            w, h = (int(v) for v in np.asarray(results['image_size']).reshape(-1)[:2])
            main = CameraModel(results['P'], results['T_cam_lidar'], w, h)
        gt_kitti = results.get('gt_kitti')
        if gt_kitti is not None and not isinstance(gt_kitti, KittiLabels):
            gt_kitti = KittiLabels.from_mapping(gt_kitti, source=f'frame {frame_id} gt_kitti')
        sample = DetSample(frame_id=frame_id, gt_boxes=torch.from_numpy(boxes), gt_labels=torch.from_numpy(labels),
                           cameras=cameras,
                           aug_matrix=np.asarray(results.get('aug_matrix', np.eye(4)), dtype=np.float64),
                           condition=str((results.get('meta') or {}).get('condition', 'unknown')),
                           main_camera=main, gt_kitti=gt_kitti)
        points = torch.from_numpy(np.ascontiguousarray(results['points'], dtype=np.float32))
        return {'inputs': {'points': points}, 'data_samples': sample}
