"""Sensor calibration: cameras, thermal cameras and ultrasonic sensors around one LiDAR.

Frames: the LiDAR frame (x forward, y left, z up) is the reference. A camera maps LiDAR points to
pixels with `P @ T_cam_lidar @ [x, y, z, 1]`, where `T_cam_lidar` (4x4) takes LiDAR coordinates
into the (rectified) camera frame (x right, y down, z forward) and `P` (3x4) projects. For KITTI,
`T_cam_lidar = R0_rect · Tr_velo_to_cam` and `P = P2` for image_2.

The KITTI calib text (`P0..P3`, `R0_rect`, `Tr_velo_to_cam`, `Tr_imu_to_velo`) is read and written
as is. omnifuse adds optional lines for its other sensors, in the same `key: values` form:

    cam_<name>_P: 12 floats          cam_<name>_T: 12 floats (3x4 of T_cam_lidar)   cam_<name>_size: w h
    thermal_<name>_P / _T / _size    the same for thermal cameras
    us_<name>: x y z yaw half_angle min_range max_range   (LiDAR frame, m and rad)
    image_2_size: w h                (KITTI's image_2 size, when known)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from omnifuse.errors import FormatError, ShapeError

__all__ = ['CameraModel', 'UltrasonicSensor', 'Calibration']


@dataclass(frozen=True)
class CameraModel:
    """A pinhole camera (colour or thermal) rigidly mounted relative to the LiDAR.

    Attributes:
        P: (3, 4) projection matrix from the camera frame to pixels.
        T_cam_lidar: (4, 4) LiDAR frame -> camera frame (x right, y down, z forward).
        width, height: image size in pixels (0 when unknown).
    """

    P: np.ndarray
    T_cam_lidar: np.ndarray
    width: int = 0
    height: int = 0

    def __post_init__(self) -> None:
        P = np.asarray(self.P, dtype=np.float64)
        T = np.asarray(self.T_cam_lidar, dtype=np.float64)
        if P.shape == (3, 3):
            P = np.concatenate([P, np.zeros((3, 1))], 1)
        if P.shape != (3, 4):
            raise ShapeError(f'CameraModel.P: expected (3, 4) or (3, 3), got {P.shape}')
        if T.shape == (3, 4):
            T = np.concatenate([T, [[0, 0, 0, 1]]], 0)
        if T.shape != (4, 4):
            raise ShapeError(f'CameraModel.T_cam_lidar: expected (4, 4) or (3, 4), got {T.shape}')
        # A NaN or a singular projection does not fail later: it silently projects nothing (every fused
        # model then goes blind while reporting ok). Refuse it here, where every source passes.
        if not np.isfinite(P).all():
            raise FormatError(f'CameraModel.P: not finite: {P.tolist()}')
        if not np.isfinite(T).all():
            raise FormatError(f'CameraModel.T_cam_lidar: not finite: {T.tolist()}')
        if abs(np.linalg.det(P[:, :3])) < 1e-12:
            raise FormatError(f'CameraModel.P: its left 3x3 (the intrinsics) is singular: {P.tolist()}')
        object.__setattr__(self, 'P', P)
        object.__setattr__(self, 'T_cam_lidar', T)

    @property
    def lidar2img(self) -> np.ndarray:
        """(4, 4) LiDAR -> homogeneous pixels (u*d, v*d, d, 1)."""
        P4 = np.eye(4)
        P4[:3] = self.P
        return P4 @ self.T_cam_lidar

    @property
    def K(self) -> np.ndarray:
        """(3, 3) intrinsic part of P."""
        return self.P[:, :3]

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project LiDAR-frame points into the image.

        Args:
            points: (N, >=3) points, LiDAR frame (only x, y, z are used).

        Returns:
            uv: (N, 2) pixel coordinates (meaningless where depth <= 0).
            depth: (N,) depth along the optical axis [m]; positive in front of the camera.
        """
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] < 3:
            raise ShapeError(f'project: expected (N, >=3) points, got {pts.shape}')
        hom = pts[:, :3] @ self.lidar2img[:3, :3].T + self.lidar2img[:3, 3]  # (N, 3)
        depth = hom[:, 2]
        with np.errstate(divide='ignore', invalid='ignore'):
            uv = hom[:, :2] / depth[:, None]
        return uv, depth

    def lift(self, uv: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Inverse of `project`: pixels and depths back to LiDAR-frame points, (N, 3)."""
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        depth = np.asarray(depth, dtype=np.float64).reshape(-1)
        hom = np.concatenate([uv * depth[:, None], depth[:, None]], 1)  # (N, 3)
        cam = np.linalg.solve(self.K, (hom - self.P[:, 3]).T).T  # rectified camera frame
        T_lidar_cam = np.linalg.inv(self.T_cam_lidar)
        return cam @ T_lidar_cam[:3, :3].T + T_lidar_cam[:3, 3]

    def in_image(self, uv: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """(N,) bool: in front of the camera and inside the image bounds."""
        if self.width <= 0 or self.height <= 0:
            raise ShapeError('in_image: the camera has no image size (width/height are 0)')
        ok = depth > 0
        with np.errstate(invalid='ignore'):
            ok &= (uv[:, 0] >= 0) & (uv[:, 0] < self.width) & (uv[:, 1] >= 0) & (uv[:, 1] < self.height)
        return ok


@dataclass(frozen=True)
class UltrasonicSensor:
    """One ultrasonic transducer on the body, LiDAR frame.

    Attributes:
        x, y, z: position [m]; yaw: boresight direction about +z [rad].
        half_angle: half opening of the cone [rad]; min_range, max_range: [m].
    """

    x: float
    y: float
    z: float
    yaw: float
    half_angle: float = math.radians(35.0)
    min_range: float = 0.15
    max_range: float = 5.5


# The keys of KITTI *tracking* calib files, which write them without the colon ("R_rect 0.9999 ...").
_TRACKING_KEYS = {'R_rect': 'R0_rect', 'Tr_velo_cam': 'Tr_velo_to_cam', 'Tr_imu_velo': 'Tr_imu_to_velo'}
_NO_COLON_KEYS = tuple(_TRACKING_KEYS)


def _matrix(values: Iterable[float], shape: tuple[int, int], key: str, source: str) -> np.ndarray:
    arr = np.asarray(list(values), dtype=np.float64)
    if arr.size != shape[0] * shape[1]:
        raise FormatError(f'{source}: field {key!r} needs {shape[0] * shape[1]} numbers, found {arr.size}')
    if not np.isfinite(arr).all():
        raise FormatError(f'{source}: field {key!r} holds a NaN or inf: {arr.tolist()}')
    return arr.reshape(shape)


def _camera(P: np.ndarray, T: np.ndarray, width: int, height: int, what: str, source: str) -> CameraModel:
    try:
        return CameraModel(P, T, width, height)
    except FormatError as exc:  # a singular projection: name the file and the field
        raise FormatError(f'{source}: {what}: {exc}') from None


def _homogeneous(m34: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[: m34.shape[0], : m34.shape[1]] = m34
    return out


@dataclass
class Calibration:
    """All sensor calibrations of one frame.

    Attributes:
        cameras: colour cameras by name (KITTI's image_2 is 'image_2').
        thermal: thermal cameras by name.
        ultrasonic: ultrasonic sensors by name.
        kitti: the raw KITTI matrices when read from a KITTI calib file
            ('P0'..'P3' (3, 4), 'R0_rect' (3, 3), 'Tr_velo_to_cam' (3, 4), 'Tr_imu_to_velo' (3, 4)).
    """

    cameras: dict[str, CameraModel] = field(default_factory=dict)
    thermal: dict[str, CameraModel] = field(default_factory=dict)
    ultrasonic: dict[str, UltrasonicSensor] = field(default_factory=dict)
    kitti: dict[str, np.ndarray] = field(default_factory=dict)

    # ---- KITTI rectified-camera <-> LiDAR (used by the label conversion) ----
    @property
    def T_rect_lidar(self) -> np.ndarray:
        """(4, 4) LiDAR -> rectified reference camera (R0_rect · Tr_velo_to_cam)."""
        if 'R0_rect' not in self.kitti or 'Tr_velo_to_cam' not in self.kitti:
            if 'image_2' in self.cameras:
                return self.cameras['image_2'].T_cam_lidar
            raise FormatError('calibration has neither R0_rect/Tr_velo_to_cam nor an image_2 camera')
        return _homogeneous(self.kitti['R0_rect']) @ _homogeneous(self.kitti['Tr_velo_to_cam'])

    def camera(self, name: str) -> CameraModel:
        """The colour or thermal camera called `name` (FormatError naming the known ones if absent)."""
        if name in self.cameras:
            return self.cameras[name]
        if name in self.thermal:
            return self.thermal[name]
        known = sorted(self.cameras) + sorted(self.thermal)
        raise FormatError(f'calibration has no camera {name!r}; it has {known}')

    # ---- KITTI text ----
    @classmethod
    def from_kitti_text(cls, text: str, source: str = '<calib>') -> Calibration:
        """Parse a KITTI calib file (and omnifuse's extra sensor lines).

        Raises:
            FormatError: naming `source` and the missing or malformed field.
        """
        fields: dict[str, list[float]] = {}
        for lineno, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line:
                continue
            first = line.split(maxsplit=1)[0]
            if ':' not in line and first in _NO_COLON_KEYS:  # KITTI tracking calib: "R_rect 0.9999 ..."
                key, rest = first, line[len(first):]
            elif ':' not in line:
                raise FormatError(f'{source}:{lineno}: expected "key: values" (or a KITTI tracking line '
                                  f'"{" / ".join(_NO_COLON_KEYS)} values"), got {line[:60]!r}')
            else:
                key, rest = line.split(':', 1)
            try:
                fields[key.strip()] = [float(v) for v in rest.split()]
            except ValueError:
                raise FormatError(f'{source}:{lineno}: field {key.strip()!r} has a non-numeric value') from None
        if not fields:
            raise FormatError(f'{source}: the calibration file is empty (expected KITTI lines such as '
                              '"P2: ..." and "Tr_velo_to_cam: ...")')
        # KITTI tracking calib files (and some tools) write R_rect / Tr_velo_cam / Tr_imu_velo instead.
        spelled: dict[str, str] = {}  # our key -> the file's, for error messages
        for old, new in _TRACKING_KEYS.items():
            if old in fields and new not in fields:
                fields[new] = fields.pop(old)
                spelled[new] = old
        kitti: dict[str, np.ndarray] = {}
        for key in ('P0', 'P1', 'P2', 'P3'):
            if key in fields:
                kitti[key] = _matrix(fields[key], (3, 4), key, source)
        if 'R0_rect' in fields:
            kitti['R0_rect'] = _matrix(fields['R0_rect'], (3, 3), spelled.get('R0_rect', 'R0_rect'), source)
        for key in ('Tr_velo_to_cam', 'Tr_imu_to_velo'):
            if key in fields:
                kitti[key] = _matrix(fields[key], (3, 4), spelled.get(key, key), source)
        calib = cls(kitti=kitti)
        if 'P2' in kitti:
            for key in ('R0_rect', 'Tr_velo_to_cam'):
                if key not in kitti:
                    raise FormatError(f'{source}: missing field {key!r} '
                                      '(KITTI calib needs P2, R0_rect, Tr_velo_to_cam; '
                                      'tracking calib files name the last two R_rect, Tr_velo_cam)')
            w, h = (int(v) for v in fields.get('image_2_size', [0, 0]))
            calib.cameras['image_2'] = _camera(kitti['P2'], calib.T_rect_lidar, w, h, "field 'P2'", source)
        for key, values in fields.items():
            for prefix, store in (('cam_', calib.cameras), ('thermal_', calib.thermal)):
                if key.startswith(prefix) and key.endswith('_P'):
                    name = key[len(prefix):-2]
                    if f'{prefix}{name}_T' not in fields:
                        raise FormatError(f'{source}: field {prefix}{name}_P has no matching {prefix}{name}_T')
                    T = _matrix(fields[f'{prefix}{name}_T'], (3, 4), f'{prefix}{name}_T', source)
                    size = fields.get(f'{prefix}{name}_size', [0, 0])
                    store[name] = _camera(_matrix(values, (3, 4), key, source), T, int(size[0]), int(size[1]),
                                          f'field {key!r}', source)
            if key.startswith('us_'):
                if len(values) != 7:
                    raise FormatError(f'{source}: field {key!r} needs 7 numbers '
                                      f'(x y z yaw half_angle min max), found {len(values)}')
                calib.ultrasonic[key[3:]] = UltrasonicSensor(*values)
        return calib

    @classmethod
    def from_kitti_file(cls, path: str | Path) -> Calibration:
        """Read a KITTI calib .txt file."""
        path = Path(path)
        return cls.from_kitti_text(path.read_text(), source=str(path))

    def to_kitti_text(self) -> str:
        """KITTI calib text, plus omnifuse's extra sensor lines (round-trips through from_kitti_text)."""
        def fmt(a: np.ndarray) -> str:
            return ' '.join(f'{v:.12e}' for v in np.asarray(a).reshape(-1))

        lines = []
        kitti = dict(self.kitti)
        if 'image_2' in self.cameras and 'P2' not in kitti:
            cam = self.cameras['image_2']
            kitti['P2'] = cam.P
            kitti['R0_rect'] = np.eye(3)
            kitti['Tr_velo_to_cam'] = cam.T_cam_lidar[:3]
        for key in ('P0', 'P1', 'P2', 'P3'):
            if key in kitti or 'P2' in kitti:
                lines.append(f'{key}: {fmt(kitti.get(key, kitti["P2"]))}')
        for key, default in (('R0_rect', np.eye(3)), ('Tr_velo_to_cam', None), ('Tr_imu_to_velo', None)):
            value = kitti.get(key, default)
            if value is not None:
                lines.append(f'{key}: {fmt(value)}')
        if 'image_2' in self.cameras and self.cameras['image_2'].width:
            cam = self.cameras['image_2']
            lines.append(f'image_2_size: {cam.width} {cam.height}')
        for prefix, store in (('cam_', self.cameras), ('thermal_', self.thermal)):
            for name, cam in store.items():
                if prefix == 'cam_' and name == 'image_2':
                    continue
                lines.append(f'{prefix}{name}_P: {fmt(cam.P)}')
                lines.append(f'{prefix}{name}_T: {fmt(cam.T_cam_lidar[:3])}')
                lines.append(f'{prefix}{name}_size: {cam.width} {cam.height}')
        for name, us in self.ultrasonic.items():
            vals = (us.x, us.y, us.z, us.yaw, us.half_angle, us.min_range, us.max_range)
            lines.append(f'us_{name}: ' + ' '.join(f'{v:.12e}' for v in vals))
        return '\n'.join(lines) + '\n'

    # ---- mmdet3d info matrices ----
    @classmethod
    def from_mmdet3d(cls, images: Mapping[str, Mapping[str, Any]], source: str = '<info>',
                     lidar2cam_key: str = 'lidar2cam') -> Calibration:
        """Build from an mmdet3d v1.x info's `images` dict ({'CAM2': {'cam2img', 'lidar2cam', ...}}).

        `cam2img` may be 3x3, 3x4 or 4x4; `lidar2cam` is 4x4 (KITTI: R0_rect · Tr_velo_to_cam).
        Cameras keep mmdet3d's names ('CAM0'..'CAM4'); 'CAM2' is also reachable as 'image_2'.
        """
        calib = cls()
        for name, cam in images.items():
            if not isinstance(cam, Mapping) or 'cam2img' not in cam:
                continue
            P = np.asarray(cam['cam2img'], dtype=np.float64)
            P = P[:3, :4] if P.shape == (4, 4) else P
            T: np.ndarray
            if lidar2cam_key in cam:
                T = np.asarray(cam[lidar2cam_key], dtype=np.float64)
            elif 'lidar2img' in cam:
                # lidar2img = cam2img(4x4) · lidar2cam, so lidar2cam follows when cam2img is invertible.
                K4 = np.eye(4)
                K4[:P.shape[0], :P.shape[1]] = P
                T = np.linalg.solve(K4, np.asarray(cam['lidar2img'], dtype=np.float64).reshape(4, 4))
            else:
                continue  # mmdet3d KITTI infos give only cam2img for the cameras other than CAM2
            w = int(cam.get('width', 0) or 0)
            h = int(cam.get('height', 0) or 0)
            model = CameraModel(P, T, w, h)
            calib.cameras[name] = model
            if name == 'CAM2':
                calib.cameras['image_2'] = model
        return calib
