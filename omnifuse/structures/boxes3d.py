"""Oriented 3D boxes and their KITTI conversions.

The one box convention of omnifuse: a row `(x, y, z, dx, dy, dz, yaw)` in the LiDAR frame
(x forward, y left, z up; metres). (x, y, z) is the geometric centre, dx the length along the
heading, dy the width, dz the height; yaw [rad] is about +z from +x, counter-clockwise, wrapped
to [-pi, pi).

KITTI labels live in the rectified camera frame (x right, y down, z forward) as `h w l x y z ry`
with (x, y, z) the bottom centre. The conversion (the only place it is written):
    centre_lidar = inv(R0_rect · Tr_velo_to_cam) · (x, y - h/2, z)
    (dx, dy, dz) = (l, w, h);  yaw = -ry - pi/2 (wrapped)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from omnifuse.errors import ShapeError
from omnifuse.structures import geometry
from omnifuse.structures.calibration import CameraModel

__all__ = ['Boxes3D', 'kitti_camera_to_lidar', 'lidar_to_kitti_camera']


def _apply(T: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    return xyz @ T[:3, :3].T + T[:3, 3]


def kitti_camera_to_lidar(camera_boxes: np.ndarray, T_rect_lidar: np.ndarray) -> np.ndarray:
    """KITTI camera boxes to LiDAR boxes.

    Args:
        camera_boxes: (N, 7) rows in KITTI label order (h, w, l, x, y, z, ry), rectified camera
            frame, (x, y, z) the bottom centre.
        T_rect_lidar: (4, 4) LiDAR -> rectified camera (R0_rect · Tr_velo_to_cam).

    Returns:
        (N, 7) float64 boxes in the LiDAR frame.
    """
    cam = np.asarray(camera_boxes, dtype=np.float64).reshape(-1, 7)
    h, w, length = cam[:, 0], cam[:, 1], cam[:, 2]
    centre_cam = np.stack([cam[:, 3], cam[:, 4] - h / 2, cam[:, 5]], 1)
    centre = _apply(np.linalg.inv(T_rect_lidar), centre_cam)
    yaw = geometry.wrap_angle(-cam[:, 6] - np.pi / 2)
    return np.concatenate([centre, np.stack([length, w, h, yaw], 1)], 1)


def lidar_to_kitti_camera(boxes: np.ndarray, T_rect_lidar: np.ndarray) -> np.ndarray:
    """Inverse of `kitti_camera_to_lidar`: (N, 7) LiDAR boxes -> (N, 7) (h, w, l, x, y, z, ry)."""
    b = geometry.check_boxes(np.asarray(boxes, dtype=np.float64))
    centre_cam = _apply(T_rect_lidar, b[:, :3])
    bottom = centre_cam + np.stack([np.zeros(len(b)), b[:, 5] / 2, np.zeros(len(b))], 1)
    ry = geometry.wrap_angle(-b[:, 6] - np.pi / 2)
    return np.concatenate([b[:, 5:6], b[:, 4:5], b[:, 3:4], bottom, ry[:, None]], 1)


@dataclass(frozen=True)
class Boxes3D:
    """Oriented 3D boxes in one named frame.

    Attributes:
        data: (N, 7) float64 rows (x, y, z, dx, dy, dz, yaw); centre [m], yaw [rad] about +z,
            0 along +x, counter-clockwise positive.
        frame: the frame of the rows, e.g. 'lidar'.
    """

    data: np.ndarray
    frame: str = 'lidar'

    def __post_init__(self) -> None:
        arr = np.asarray(self.data, dtype=np.float64)
        if arr.size == 0:
            arr = arr.reshape(0, 7)
        if arr.ndim != 2 or arr.shape[1] != 7:
            raise ShapeError(f'Boxes3D expects (N, 7) rows (x, y, z, dx, dy, dz, yaw), got {arr.shape}')
        object.__setattr__(self, 'data', arr)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int | slice | np.ndarray | Sequence[int]) -> Boxes3D:
        return Boxes3D(self.data[index].reshape(-1, 7), self.frame)

    @property
    def centers(self) -> np.ndarray:
        """(N, 3) geometric centres."""
        return self.data[:, :3]

    @property
    def bottom_centers(self) -> np.ndarray:
        """(N, 3) centres of the bottom faces."""
        out = self.data[:, :3].copy()
        out[:, 2] -= self.data[:, 5] / 2
        return out

    @classmethod
    def from_kitti_camera(cls, camera_boxes: np.ndarray, T_rect_lidar: np.ndarray) -> Boxes3D:
        """From KITTI label fields (h, w, l, x, y, z, ry) per row; see the module docstring."""
        return cls(kitti_camera_to_lidar(camera_boxes, T_rect_lidar), 'lidar')

    def to_kitti_camera(self, T_rect_lidar: np.ndarray) -> np.ndarray:
        """(N, 7) KITTI label fields (h, w, l, x, y, z, ry)."""
        return lidar_to_kitti_camera(self.data, T_rect_lidar)

    def corners(self) -> np.ndarray:
        """(N, 8, 3) corners (order in omnifuse.structures.geometry)."""
        return geometry.box_corners(self.data)

    def project_to_image(self, camera: CameraModel, clip: bool = True) -> np.ndarray:
        """2D image boxes of the projected corners.

        Corners behind the camera are clamped to a small positive depth in front of it, so that a box
        that straddles the image plane still gets the part of its outline that is visible.

        Args:
            camera: the camera to project into.
            clip: clip to the image size (needs camera.width/height).

        Returns:
            (N, 4) boxes (x1, y1, x2, y2) in pixels; rows of boxes entirely behind the camera are NaN.
        """
        if len(self) == 0:
            return np.zeros((0, 4))
        corners = self.corners().reshape(-1, 3)
        cam = _apply(camera.T_cam_lidar, corners).reshape(-1, 8, 3)
        behind = cam[:, :, 2] <= 0.1
        all_behind = behind.all(1)
        cam[:, :, 2] = np.maximum(cam[:, :, 2], 0.1)
        hom = cam @ camera.P[:, :3].T + camera.P[:, 3]
        uv = hom[:, :, :2] / hom[:, :, 2:3]
        box = np.concatenate([uv.min(1), uv.max(1)], 1)
        if clip and camera.width > 0:
            box[:, [0, 2]] = box[:, [0, 2]].clip(0, camera.width - 1)
            box[:, [1, 3]] = box[:, [1, 3]].clip(0, camera.height - 1)
        box[all_behind] = np.nan
        return box

    def transformed(self, T_dst_src: np.ndarray, dst: str) -> Boxes3D:
        """Re-express in frame `dst`. T_dst_src: (4, 4), a rotation about z plus a translation."""
        T = np.asarray(T_dst_src, dtype=np.float64)
        out = self.data.copy()
        out[:, :3] = _apply(T, out[:, :3])
        out[:, 6] = geometry.wrap_angle(out[:, 6] + np.arctan2(T[1, 0], T[0, 0]))
        return Boxes3D(out, dst)
