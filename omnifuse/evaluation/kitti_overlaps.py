"""Overlaps of the KITTI evaluation, computed once for every detection/ground-truth pair of a frame.

The official evaluation measures three overlaps between a detection d and a ground-truth object g:

- bbox: IoU of the image boxes, `iw * ih / (area_d + area_g - iw * ih)` when both `iw` and `ih` are
  positive (continuous areas, no +1 pixel), else 0. For DontCare regions it uses the intersection over
  the detection's area instead.
- bev: rotated IoU of the footprints in the rectified camera's x-z plane: centre (x, z), length l along
  the heading, width w, heading angle ry (the heading direction is (cos ry, -sin ry) in (x, z)).
- 3d: the BEV intersection times the overlap of the vertical extents [y - h, y] (y points down and
  is the bottom), divided by `vol_d + vol_g - intersection` with vol = l * w * h.

The footprints are handed to `omnifuse.structures.geometry` as boxes (x, y) = (x_cam, z_cam) with
yaw = -ry: the map (x_cam, z_cam) -> (x, y) keeps the heading (cos ry, -sin ry) as (cos yaw, sin yaw),
so the rectangles are exactly the official ones, and the clipping there is exact in float64.

All functions work on flat arrays of pairs, so one call covers every frame of a dataset.
"""

from __future__ import annotations

import numpy as np

from omnifuse.structures.geometry import bev_corners, polygon_intersection_area

__all__ = ['frame_pairs', 'image_overlap', 'bev_3d_overlap', 'camera_bev_boxes']


def frame_pairs(frame_a: np.ndarray, frame_b: np.ndarray, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Every index pair (i, j) with frame_a[i] == frame_b[j].

    Args:
        frame_a: (A,) int frame ids, sorted ascending.
        frame_b: (B,) int frame ids, sorted ascending.
        num_frames: number of frames (ids are < num_frames).

    Returns:
        (P,) i and (P,) j, grouped by frame, i-major within a frame.
    """
    count_a = np.bincount(frame_a, minlength=num_frames)
    count_b = np.bincount(frame_b, minlength=num_frames)
    start_a = np.cumsum(count_a) - count_a
    start_b = np.cumsum(count_b) - count_b
    per = count_a * count_b
    total = int(per.sum())
    frame = np.repeat(np.arange(num_frames), per)
    q = np.arange(total) - np.repeat(np.cumsum(per) - per, per)
    cb = count_b[frame]
    return start_a[frame] + q // cb, start_b[frame] + q % cb


def image_overlap(boxes_a: np.ndarray, boxes_b: np.ndarray, *, over_a: bool = False) -> np.ndarray:
    """Row-aligned overlap of image boxes, the official formula.

    Args:
        boxes_a: (P, 4) boxes (x1, y1, x2, y2) [px].
        boxes_b: (P, 4) boxes, same layout.
        over_a: divide the intersection by the area of a (DontCare test) instead of the union.

    Returns:
        (P,) float64 overlaps; 0 where the boxes do not overlap with positive width and height.
    """
    iw = np.minimum(boxes_a[:, 2], boxes_b[:, 2]) - np.maximum(boxes_a[:, 0], boxes_b[:, 0])
    ih = np.minimum(boxes_a[:, 3], boxes_b[:, 3]) - np.maximum(boxes_a[:, 1], boxes_b[:, 1])
    hit = (iw > 0) & (ih > 0)
    inter = iw[hit] * ih[hit]
    area_a = (boxes_a[hit, 2] - boxes_a[hit, 0]) * (boxes_a[hit, 3] - boxes_a[hit, 1])
    if over_a:
        denom = area_a
    else:
        area_b = (boxes_b[hit, 2] - boxes_b[hit, 0]) * (boxes_b[hit, 3] - boxes_b[hit, 1])
        denom = area_a + area_b - inter
    out = np.zeros(len(boxes_a))
    with np.errstate(divide='ignore', invalid='ignore'):
        out[hit] = inter / denom
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def camera_bev_boxes(dimensions: np.ndarray, location: np.ndarray, rotation_y: np.ndarray) -> np.ndarray:
    """KITTI camera boxes as footprint boxes for `omnifuse.structures.geometry`.

    Args:
        dimensions: (N, 3) (h, w, l) [m].
        location: (N, 3) bottom centre (x, y, z), rectified camera frame [m].
        rotation_y: (N,) ry [rad].

    Returns:
        (N, 7) boxes (x_cam, z_cam, 0, l, w, 1, -ry): their x-y footprint is the x-z footprint of the
        camera box (see the module docstring).
    """
    n = len(location)
    return np.stack([location[:, 0], location[:, 2], np.zeros(n), dimensions[:, 2], dimensions[:, 1],
                     np.ones(n), -rotation_y], 1)


def bev_3d_overlap(dims_a: np.ndarray, loc_a: np.ndarray, ry_a: np.ndarray,
                   dims_b: np.ndarray, loc_b: np.ndarray, ry_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-aligned BEV IoU and 3D IoU of KITTI camera boxes, as the official evaluation defines them.

    Args:
        dims_a: (P, 3) (h, w, l) of boxes a [m].
        loc_a: (P, 3) bottom centres of boxes a, rectified camera frame [m].
        ry_a: (P,) ry of boxes a [rad].
        dims_b: (P, 3) the same for boxes b.
        loc_b: (P, 3) the same for boxes b.
        ry_b: (P,) the same for boxes b.

    Returns:
        bev: (P,) float64 footprint IoU in the x-z plane.
        iou3d: (P,) float64 3D IoU.
    """
    p = len(loc_a)
    bev, iou3d = np.zeros(p), np.zeros(p)
    if p == 0:
        return bev, iou3d
    la, wa, ha = np.abs(dims_a[:, 2]), np.abs(dims_a[:, 1]), dims_a[:, 0]
    lb, wb, hb = np.abs(dims_b[:, 2]), np.abs(dims_b[:, 1]), dims_b[:, 0]
    # Only footprints whose circumscribed circles meet can intersect: clip just those.
    reach = 0.5 * (np.hypot(la, wa) + np.hypot(lb, wb))
    dist2 = (loc_a[:, 0] - loc_b[:, 0]) ** 2 + (loc_a[:, 2] - loc_b[:, 2]) ** 2
    cand = np.flatnonzero(dist2 < reach * reach * (1 + 1e-9) + 1e-12)
    if len(cand) == 0:
        return bev, iou3d
    box_a = camera_bev_boxes(dims_a[cand], loc_a[cand], ry_a[cand])
    box_b = camera_bev_boxes(dims_b[cand], loc_b[cand], ry_b[cand])
    inter = polygon_intersection_area(bev_corners(box_a), bev_corners(box_b))
    area_a = dims_a[cand, 2] * dims_a[cand, 1]
    area_b = dims_b[cand, 2] * dims_b[cand, 1]
    with np.errstate(divide='ignore', invalid='ignore'):
        bev_c = np.where(inter > 0, inter / (area_a + area_b - inter), 0.0)
        ya, yb = loc_a[cand, 1], loc_b[cand, 1]
        iw = np.minimum(ya, yb) - np.maximum(ya - ha[cand], yb - hb[cand])
        inc = iw * inter
        vol_a = area_a * ha[cand]
        vol_b = area_b * hb[cand]
        iou3d_c = np.where((inter > 0) & (iw > 0), inc / (vol_a + vol_b - inc), 0.0)
    bev[cand] = np.nan_to_num(bev_c, nan=0.0, posinf=0.0, neginf=0.0)
    iou3d[cand] = np.nan_to_num(iou3d_c, nan=0.0, posinf=0.0, neginf=0.0)
    return bev, iou3d
