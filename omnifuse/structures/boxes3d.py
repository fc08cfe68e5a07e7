"""Oriented 3D boxes and their KITTI conversions.

The one box convention of omnifuse: a row `(x, y, z, dx, dy, dz, yaw)` in the LiDAR frame
(x forward, y left, z up; metres). (x, y, z) is the geometric centre, dx the length along the
heading, dy the width, dz the height; yaw [rad] is about +z from +x, counter-clockwise, wrapped
to [-pi, pi).

KITTI labels live in the rectified camera frame (x right, y down, z forward) as `h w l x y z ry`
with (x, y, z) the bottom centre. The conversion (the only place it is written):
    centre_lidar = inv(R0_rect · Tr_velo_to_cam) · (x, y - h/2, z)
    (dx, dy, dz) = (l, w, h);  yaw = -ry - pi/2 (wrapped)

The 2D box of a 3D box in an image is the extent of its eight projected corners (`image_boxes`, the one
corner projection), cut to the image by `clip_image_boxes` (the one clipping rule, with two upper bounds:
the last pixel, W - 1 x H - 1, for labels, tracks and pictures, as KITTI's annotations; the image edge,
W x H, for detection result files, as mmdet3d writes them, so that the KITTI AP stays comparable).
`meets_image` says whether such a box overlaps the image at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from omnifuse.errors import ShapeError
from omnifuse.structures import geometry
from omnifuse.structures.calibration import CameraModel

__all__ = ['Boxes3D', 'kitti_camera_to_lidar', 'lidar_to_kitti_camera', 'image_boxes', 'clip_image_boxes',
           'meets_image']


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


def image_boxes(boxes: np.ndarray, T_cam_lidar: np.ndarray, P: np.ndarray, *, near: float | None = 0.1
                ) -> np.ndarray:
    """(N, 4) image boxes (x1, y1, x2, y2) [px], the extent of the eight projected corners, not clipped.

    Args:
        boxes: (N, 7) boxes, LiDAR frame.
        T_cam_lidar: (4, 4) LiDAR -> (rectified) camera.
        P: (3, 4) (or (4, 4)) projection of that camera to the image.
        near: corners closer than `near` [m] in front of the camera are moved to that depth, so that a box
            straddling the image plane keeps the outline of its visible part; boxes with every corner that
            close or behind get NaN rows. None: the plain projection of every corner (mmdet3d's KITTI
            conversion; a box behind the camera then gets a meaningless box, which the caller drops).
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
    if len(b) == 0:
        return np.zeros((0, 4))
    P3 = np.asarray(P, dtype=np.float64)[:3]
    cam = _apply(np.asarray(T_cam_lidar, dtype=np.float64), geometry.box_corners(b).reshape(-1, 3)).reshape(-1, 8, 3)
    all_behind = None
    if near is not None:
        all_behind = (cam[:, :, 2] <= near).all(1)
        cam[:, :, 2] = np.maximum(cam[:, :, 2], near)
    hom = cam @ P3[:, :3].T + P3[:, 3]
    uv = hom[:, :, :2] / hom[:, :, 2:3]
    box = np.concatenate([uv.min(1), uv.max(1)], 1)
    if all_behind is not None:
        box[all_behind] = np.nan
    return box


def clip_image_boxes(boxes: np.ndarray, width: int, height: int, *, to_edge: bool = False) -> np.ndarray:
    """(N, 4) image boxes (x1, y1, x2, y2) cut to a `width` x `height` image: to its last pixel (x <= W - 1,
    y <= H - 1; KITTI's annotations), or with `to_edge` to its edge (x <= W, y <= H; mmdet3d's KITTI result
    files). NaN rows stay NaN. Returns a new array."""
    out = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    last_x, last_y = (width, height) if to_edge else (width - 1, height - 1)
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, last_x)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, last_y)
    return out


def meets_image(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N,) bool: the (N, 4) unclipped image boxes overlap the `width` x `height` image (False for NaN rows)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return (b[:, 0] < width) & (b[:, 1] < height) & (b[:, 2] > 0) & (b[:, 3] > 0)


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
        """2D image boxes of the projected corners (`image_boxes`, `near` 0.1 m).

        Corners behind the camera are clamped to a small positive depth in front of it, so that a box
        that straddles the image plane still gets the part of its outline that is visible.

        Args:
            camera: the camera to project into.
            clip: clip to the image's last pixel (`clip_image_boxes`; needs camera.width/height).

        Returns:
            (N, 4) boxes (x1, y1, x2, y2) in pixels; rows of boxes entirely behind the camera are NaN.
        """
        if len(self) == 0:
            return np.zeros((0, 4))
        box = image_boxes(self.data, camera.T_cam_lidar, camera.P)
        if clip and camera.width > 0:
            box = clip_image_boxes(box, camera.width, camera.height)
        return box

    def transformed(self, T_dst_src: np.ndarray, dst: str) -> Boxes3D:
        """Re-express in frame `dst`. T_dst_src: (4, 4), a rotation about z plus a translation."""
        T = np.asarray(T_dst_src, dtype=np.float64)
        out = self.data.copy()
        out[:, :3] = _apply(T, out[:, :3])
        out[:, 6] = geometry.wrap_angle(out[:, 6] + np.arctan2(T[1, 0], T[0, 0]))
        return Boxes3D(out, dst)
