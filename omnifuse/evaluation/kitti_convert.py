"""LiDAR-frame detections -> KITTI camera-label form, the way mmdet3d's KittiMetric prepares them.

A detector predicts omnifuse boxes (x, y, z, dx, dy, dz, yaw) in the LiDAR frame (geometric centre).
The KITTI evaluation needs camera labels: `lidar_to_kitti_camera` gives (h, w, l, x, y, z, ry); the 2D
box is the extent of the projected eight corners (`image_boxes`, every corner as it is) clipped to the image's
edge (`clip_image_boxes(..., to_edge=True)`); alpha = ry - atan2(y, x) of the
box position (LiDAR bottom centre), as mmdet3d writes it. Detections whose 2D box lies outside the
image or whose bottom centre lies outside the LiDAR range are dropped, as in mmdet3d.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from omnifuse.errors import ShapeError
from omnifuse.structures.boxes3d import clip_image_boxes, image_boxes, lidar_to_kitti_camera, meets_image
from omnifuse.structures.det_sample import DetPredictions
from omnifuse.structures.geometry import check_boxes
from omnifuse.structures.kitti_labels import KittiLabels, write_kitti_label

__all__ = ['lidar_detections_to_kitti', 'write_kitti_predictions', 'DEFAULT_LIDAR_RANGE']

DEFAULT_LIDAR_RANGE = (0.0, -40.0, -3.0, 70.4, 40.0, 0.0)


def lidar_detections_to_kitti(boxes: np.ndarray, scores: np.ndarray, names: Sequence[str], *,
                              T_cam_lidar: np.ndarray, P: np.ndarray, image_size: tuple[int, int],
                              lidar_range: Sequence[float] | None = DEFAULT_LIDAR_RANGE) -> KittiLabels:
    """Convert LiDAR-frame detections of one frame to KITTI camera labels.

    Args:
        boxes: (N, 7) boxes (x, y, z, dx, dy, dz, yaw), LiDAR frame, geometric centre.
        scores: (N,) detection scores.
        names: N class names.
        T_cam_lidar: (4, 4) LiDAR -> rectified camera (R0_rect · Tr_velo_to_cam).
        P: (3, 4) or (4, 4) projection of the rectified camera to the image (KITTI P2).
        image_size: (width, height) of the image [px].
        lidar_range: (xmin, ymin, zmin, xmax, ymax, zmax); detections whose bottom centre is not
            strictly inside are dropped. None keeps all.

    Returns:
        KittiLabels of the kept detections (truncated 0, occluded 0), in input order.
    """
    b = check_boxes(np.asarray(boxes, dtype=np.float64).reshape(-1, 7), 'boxes')
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    names_arr = np.asarray(list(names), dtype=str).reshape(-1)
    if not len(b) == len(scores) == len(names_arr):
        raise ShapeError(f'lidar_detections_to_kitti: {len(b)} boxes, {len(scores)} scores and '
                         f'{len(names_arr)} names')
    if len(b) == 0:
        return KittiLabels.empty()
    T = np.asarray(T_cam_lidar, dtype=np.float64)
    cam = lidar_to_kitti_camera(b, T)  # (N, 7) h w l x y z ry
    bbox = image_boxes(b, T, P, near=None)  # mmdet3d: every corner projected as it is
    width, height = image_size
    keep = meets_image(bbox, width, height)
    bottom = b[:, :3] - np.stack([np.zeros(len(b)), np.zeros(len(b)), b[:, 5] / 2], 1)
    if lidar_range is not None:
        lo, hi = np.asarray(lidar_range[:3]), np.asarray(lidar_range[3:])
        keep &= ((bottom > lo) & (bottom < hi)).all(1)
    bbox = clip_image_boxes(bbox, width, height, to_edge=True)
    alpha = -np.arctan2(-bottom[:, 1], bottom[:, 0]) + cam[:, 6]
    n = int(keep.sum())
    return KittiLabels(name=names_arr[keep], truncated=np.zeros(n), occluded=np.zeros(n, np.int64),
                       alpha=alpha[keep], bbox=bbox[keep], dimensions=cam[keep, 0:3], location=cam[keep, 3:6],
                       rotation_y=cam[keep, 6], score=scores[keep])


def write_kitti_predictions(path: str | Path, pred: DetPredictions, class_names: Sequence[str],
                            T_cam_lidar: np.ndarray, P: np.ndarray, image_size: tuple[int, int]) -> int:
    """Write one frame's LiDAR-frame detections as a 16-column KITTI result file.

    Args:
        path: the label file to write.
        pred: the detector's `DetPredictions` (boxes (N, 7) LiDAR frame, scores (N,), labels (N,) class
            indices; tensors, or numpy arrays from the torch-free runtime).
        class_names: names of the class indices.
        T_cam_lidar: (4, 4) LiDAR -> rectified camera.
        P: (3, 4) projection of the rectified camera (KITTI P2).
        image_size: (width, height) [px].

    Returns:
        the number of detections written: those whose 2D box meets the image and whose bottom centre lies in
        the LiDAR range (`lidar_detections_to_kitti`, as mmdet3d writes KITTI results); the caller says how
        many were left out.
    """
    boxes, scores, labels = pred.numpy()
    names = [class_names[int(i)] for i in labels]
    labels_kitti = lidar_detections_to_kitti(boxes, scores, names, T_cam_lidar=np.asarray(T_cam_lidar),
                                             P=np.asarray(P), image_size=image_size)
    write_kitti_label(path, labels_kitti, with_score=True)
    return len(labels_kitti)
