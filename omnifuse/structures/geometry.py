"""Pure geometry on 3D boxes `(x, y, z, dx, dy, dz, yaw)` (see boxes3d.py for the convention).

Corner order of `box_corners` (LiDAR frame, seen from above, x forward):

        4 -------- 5          top face:    4..7 (z = z + dz/2)
       /|         /|          bottom face: 0..3 (z = z - dz/2)
      7 -------- 6 .          0, 4: front-left   (+dx/2, +dy/2)
      | |        | |          1, 5: front-right  (+dx/2, -dy/2)
      . 0 -------- 1          2, 6: rear-right   (-dx/2, -dy/2)
      |/         |/           3, 7: rear-left    (-dx/2, +dy/2)
      3 -------- 2

Functions take numpy arrays (float64 recommended) unless their name ends in `_torch`.
"""

from __future__ import annotations

import numpy as np

from omnifuse.errors import ShapeError

__all__ = ['box_corners', 'bev_corners', 'wrap_angle', 'check_boxes']

_BEV_SIGNS = np.array([[0.5, 0.5], [0.5, -0.5], [-0.5, -0.5], [-0.5, 0.5]])


def check_boxes(boxes: np.ndarray, name: str = 'boxes') -> np.ndarray:
    """Return `boxes` as a (N, 7) array, raising ShapeError with `name` otherwise."""
    arr = np.asarray(boxes)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, 7)
    if arr.ndim != 2 or arr.shape[1] != 7:
        raise ShapeError(f'{name}: expected (N, 7) boxes (x, y, z, dx, dy, dz, yaw), got shape {arr.shape}')
    return arr


def wrap_angle(angle: np.ndarray | float) -> np.ndarray:
    """Wrap angles [rad] to [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


def bev_corners(boxes: np.ndarray) -> np.ndarray:
    """BEV footprint corners of each box.

    Args:
        boxes: (N, 7) boxes.

    Returns:
        (N, 4, 2) corners (x, y) in the order front-left, front-right, rear-right, rear-left,
        which is clockwise seen from above (+z).
    """
    boxes = check_boxes(boxes)
    local = _BEV_SIGNS[None] * boxes[:, None, 3:5]  # (N, 4, 2)
    c, s = np.cos(boxes[:, 6]), np.sin(boxes[:, 6])
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # (N, 2, 2)
    return np.einsum('nij,nkj->nki', rot, local) + boxes[:, None, 0:2]


def box_corners(boxes: np.ndarray) -> np.ndarray:
    """The eight corners of each box, in the order drawn in the module docstring.

    Args:
        boxes: (N, 7) boxes.

    Returns:
        (N, 8, 3) corners in the boxes' frame.
    """
    boxes = check_boxes(boxes)
    bev = bev_corners(boxes)  # (N, 4, 2)
    z0 = (boxes[:, 2] - boxes[:, 5] / 2)[:, None, None]
    z1 = (boxes[:, 2] + boxes[:, 5] / 2)[:, None, None]
    bottom = np.concatenate([bev, np.broadcast_to(z0, bev.shape[:2] + (1,))], -1)
    top = np.concatenate([bev, np.broadcast_to(z1, bev.shape[:2] + (1,))], -1)
    return np.concatenate([bottom, top], 1)
