"""Exact labels from the render: KITTI object fields and the near-field BEV occupancy grid.

KITTI fields of each thing (computed in image_2):
- bbox_2d: the tight box of the pixels the thing would cover if nothing occluded it (amodal, from the
  ray cast of its own parts), in pixel-centre coordinates.
- truncation: 1 - (area of the projected 3D box inside the image) / (its whole area).
- occlusion: from the visible fraction v = visible pixels / unoccluded pixels: 0 (v >= 0.8),
  1 (v >= 0.4), 2 otherwise.
- Things outside the camera image keep their class (the world is labelled all around, for the LiDAR):
  truncation 1, occlusion 3 (unknown), bbox_2d (0, 0, 0, 0).
- DontCare: things in the image farther than `DONTCARE_DISTANCE` or with a 2D box lower than
  `DONTCARE_HEIGHT` pixels.
- alpha = ry - atan2(x, z) of the bottom centre in the rectified camera frame, wrapped.

Occupancy: a (200, 200) uint8 grid of 0.1 m cells covering +-10 m around the LiDAR, forward up: row i
holds x = 10 - (i + 0.5) * 0.1, column j holds y = 10 - (j + 0.5) * 0.1 (so the left of the car is on
the left of the image). A cell holds the class of the part whose footprint covers its centre and that
reaches into the band 0.05 - 2.0 m above the ground (things drawn over static parts), else the ground
class (road, sidewalk, terrain). It is exact (not limited to what a sensor sees).
"""

from __future__ import annotations

import numpy as np

from omnifuse.datasets.sim.world import GROUND_Z, Snapshot, ground_class
from omnifuse.structures import Boxes3D, CameraModel, ObjectLabels
from omnifuse.structures.geometry import wrap_angle

__all__ = ['kitti_labels', 'occupancy_grid', 'occupancy_cell_centres', 'OCC_SIZE', 'OCC_RES', 'OCC_RANGE',
           'DONTCARE_DISTANCE', 'DONTCARE_HEIGHT']

OCC_SIZE = 200
OCC_RES = 0.1
OCC_RANGE = 10.0
OCC_BAND = (0.05, 2.0)
DONTCARE_DISTANCE = 80.0
DONTCARE_HEIGHT = 12.0


def kitti_labels(snap: Snapshot, camera: CameraModel, part_map: np.ndarray, object_pixels: np.ndarray,
                 object_bbox: np.ndarray, T_rect_lidar: np.ndarray) -> ObjectLabels:
    """KITTI fields of every thing of `snap` from the camera render.

    Args:
        snap: the scene snapshot (boxes (K, 7), LiDAR frame).
        camera: image_2.
        part_map: (H, W) int32 part index per pixel of the render (HIT_* elsewhere).
        object_pixels: (K,) unoccluded pixel count per thing.
        object_bbox: (K, 4) their tight boxes.
        T_rect_lidar: (4, 4) LiDAR -> rectified camera (for alpha).
    """
    K = len(snap.boxes)
    if K == 0:
        return ObjectLabels.empty()
    owner = snap.parts.obj
    seen = part_map[part_map >= 0]
    visible = np.bincount(owner[seen][owner[seen] >= 0], minlength=K)[:K] if len(seen) else np.zeros(K, int)
    boxes = Boxes3D(snap.boxes)
    proj = boxes.project_to_image(camera, clip=False)  # (K, 4), NaN behind
    area = (proj[:, 2] - proj[:, 0]) * (proj[:, 3] - proj[:, 1])
    cx = np.clip(proj[:, [0, 2]], 0, camera.width - 1)
    cy = np.clip(proj[:, [1, 3]], 0, camera.height - 1)
    inside = (cx[:, 1] - cx[:, 0]) * (cy[:, 1] - cy[:, 0])
    with np.errstate(invalid='ignore', divide='ignore'):
        truncation = np.where(np.isfinite(area) & (area > 0), 1 - inside / area, 1.0)
        frac = np.where(object_pixels > 0, visible / np.maximum(object_pixels, 1), 0.0)
    in_image = object_pixels > 0
    occlusion = np.where(frac >= 0.8, 0, np.where(frac >= 0.4, 1, 2))
    occlusion[~in_image] = 3
    truncation[~in_image] = 1.0
    bbox = np.where(in_image[:, None], np.nan_to_num(object_bbox), 0.0)
    cam = boxes.to_kitti_camera(T_rect_lidar)  # (K, 7) h w l x y z ry
    alpha = wrap_angle(cam[:, 6] - np.arctan2(cam[:, 3], cam[:, 5]))
    dist = np.linalg.norm(snap.boxes[:, :2], axis=1)
    height = bbox[:, 3] - bbox[:, 1] + 1
    names = list(snap.names)
    for k in range(K):
        if in_image[k] and (dist[k] > DONTCARE_DISTANCE or height[k] < DONTCARE_HEIGHT):
            names[k] = 'DontCare'
    return ObjectLabels(boxes, names, np.clip(truncation, 0, 1), occlusion.astype(np.int64), alpha, bbox)


def occupancy_cell_centres() -> tuple[np.ndarray, np.ndarray]:
    """(200, 200) x and y [m] of the cell centres, LiDAR frame (see the module docstring)."""
    c = OCC_RANGE - (np.arange(OCC_SIZE) + 0.5) * OCC_RES
    x, y = np.meshgrid(c, c, indexing='ij')
    return x, y


def occupancy_grid(snap: Snapshot) -> np.ndarray:
    """(200, 200) uint8 class per cell (see the module docstring)."""
    x, y = occupancy_cell_centres()
    grid = ground_class(x, y, snap.ego_xy)
    parts = snap.parts
    if not len(parts):
        return grid
    b = parts.boxes
    z_lo, z_hi = b[:, 2] - b[:, 5] / 2 - GROUND_Z, b[:, 2] + b[:, 5] / 2 - GROUND_Z
    reach = np.abs(b[:, :2]).max(1) - np.hypot(b[:, 3], b[:, 4]) / 2 <= OCC_RANGE
    use = reach & (z_hi >= OCC_BAND[0]) & (z_lo <= OCC_BAND[1])
    order = [i for i in np.nonzero(use)[0] if parts.obj[i] < 0] + [i for i in np.nonzero(use)[0] if parts.obj[i] >= 0]
    for i in order:
        c, s = np.cos(b[i, 6]), np.sin(b[i, 6])
        dx, dy = x - b[i, 0], y - b[i, 1]
        inside = (np.abs(c * dx + s * dy) <= b[i, 3] / 2) & (np.abs(-s * dx + c * dy) <= b[i, 4] / 2)
        grid[inside] = parts.cls[i]
    return grid
