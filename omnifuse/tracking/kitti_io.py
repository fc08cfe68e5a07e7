"""KITTI tracking rows <-> tracker input and output (the conversions `omnifuse track` and `detect --track` share).

Detections come as `KittiTrackRows` (AB3DMOT detection files, KITTI object result files) in the rectified
camera frame; the tracker works on LiDAR-frame `ObjectLabels`; its `Tracks` go back to KITTI tracking
result rows. The camera <-> LiDAR box conversion is `omnifuse.structures.boxes3d` (with `T_rect_lidar`,
i.e. R0_rect · Tr_velo_to_cam of the sequence's calibration).

Without a calibration, `NOMINAL_T_RECT_LIDAR` stands in: the axis permutation camera (x right, y down,
z forward) -> LiDAR (x forward, y left, z up) without the few-centimetre offsets and sub-degree rotations
of a real calibration. Boxes go out through the same matrix they came in with, so the written camera-frame
boxes are exact either way; only "up" is off by those fractions of a degree while tracking.
"""

from __future__ import annotations

import numpy as np

from omnifuse.structures.boxes3d import Boxes3D
from omnifuse.structures.calibration import CameraModel
from omnifuse.structures.frame import ObjectLabels
from omnifuse.structures.geometry import wrap_angle
from omnifuse.structures.kitti_labels import KittiLabels
from omnifuse.structures.kitti_tracking import KittiTrackRows
from omnifuse.structures.tracks import Tracks

__all__ = ['NOMINAL_T_RECT_LIDAR', 'KITTI_IMAGE_SIZE', 'rows_to_detections', 'tracks_to_rows']

NOMINAL_T_RECT_LIDAR = np.array([[0.0, -1.0, 0.0, 0.0],
                                 [0.0, 0.0, -1.0, 0.0],
                                 [1.0, 0.0, 0.0, 0.0],
                                 [0.0, 0.0, 0.0, 1.0]])
KITTI_IMAGE_SIZE = (1242, 375)  # width, height of image_2 (sequences differ by a few pixels)


def rows_to_detections(rows: KittiTrackRows, T_rect_lidar: np.ndarray) -> ObjectLabels:
    """The rows of one frame as tracker input (LiDAR-frame boxes; names, scores and 2D boxes kept)."""
    lab = rows.labels
    cam = np.concatenate([lab.dimensions, lab.location, lab.rotation_y[:, None]], 1)
    boxes = Boxes3D.from_kitti_camera(cam, T_rect_lidar)
    scores = np.where(np.isfinite(lab.score), lab.score, 1.0)
    return ObjectLabels(boxes, [str(n) for n in lab.name], lab.truncated, lab.occluded, lab.alpha, lab.bbox, scores)


def tracks_to_rows(tracks: Tracks, frame: int, T_rect_lidar: np.ndarray, *,
                   camera: CameraModel | None = None, last_bbox: dict[int, np.ndarray] | None = None,
                   image_size: tuple[int, int] = KITTI_IMAGE_SIZE) -> KittiTrackRows:
    """One frame of tracks as KITTI tracking result rows.

    The image box of a track is the matched detection's; for a coasting track (no box this frame) it is the
    3D box projected with `camera` (clipped to `image_size` when the camera has no size), else the last
    known box from `last_bbox` (track id -> box, updated here), else -1s. Truncation and occlusion are
    unknown (-1); alpha = ry - atan2(x, z).

    Args:
        tracks: the tracker's output for this frame.
        frame: the frame index written in every row.
        T_rect_lidar: (4, 4) LiDAR -> rectified camera.
        camera: image_2, to project coasting tracks.
        last_bbox: per track id the last image box written, kept across frames by the caller.
        image_size: (width, height) to clip projections to when `camera` has none.
    """
    n = len(tracks)
    if n == 0:
        return KittiTrackRows.empty()
    cam = tracks.boxes.to_kitti_camera(T_rect_lidar)  # (h, w, l, x, y, z, ry)
    bbox = tracks.bbox_2d.copy()
    missing = ~np.isfinite(bbox).all(1)
    if missing.any() and camera is not None:
        proj = tracks.boxes[np.nonzero(missing)[0]].project_to_image(camera, clip=camera.width > 0)
        if camera.width <= 0:
            proj[:, [0, 2]] = proj[:, [0, 2]].clip(0, image_size[0] - 1)
            proj[:, [1, 3]] = proj[:, [1, 3]].clip(0, image_size[1] - 1)
        bbox[missing] = proj
        missing = ~np.isfinite(bbox).all(1)
    if last_bbox is not None:
        for i in range(n):
            tid = int(tracks.ids[i])
            if missing[i] and tid in last_bbox:
                bbox[i] = last_bbox[tid]
            elif not missing[i]:
                last_bbox[tid] = bbox[i].copy()
        missing = ~np.isfinite(bbox).all(1)
    bbox[missing] = -1.0
    alpha = wrap_angle(cam[:, 6] - np.arctan2(cam[:, 3], cam[:, 5]))
    labels = KittiLabels(name=np.asarray(tracks.names, str), truncated=np.full(n, -1.0), occluded=np.full(n, -1),
                         alpha=alpha, bbox=bbox, dimensions=cam[:, 0:3], location=cam[:, 3:6],
                         rotation_y=cam[:, 6], score=tracks.scores)
    return KittiTrackRows(np.full(n, int(frame), np.int64), tracks.ids, labels)
