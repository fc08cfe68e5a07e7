"""Per-pixel surface attributes of a camera render (shared by the colour and the thermal camera)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from omnifuse.datasets.sim import classes as C
from omnifuse.datasets.sim.raycast import HIT_GROUND, Hits, RayGrid, face_normals
from omnifuse.datasets.sim.world import Snapshot, ground_class, lane_marking

__all__ = ['Surface', 'surface']


@dataclass
class Surface:
    """What each pixel sees.

    Attributes:
        cls: (H, W) uint8 semantic class (sky where nothing is hit).
        part: (H, W) int32 part index, HIT_GROUND or HIT_NONE.
        on_part: (H, W) bool the pixel sees a part.
        xyz: (H, W, 3) float32 hit point, LiDAR frame (0 where nothing is hit).
        dist: (H, W) float32 distance from the optical centre [m] (inf for sky).
        normal: (H, W, 3) float32 outward normal, LiDAR frame.
        local: (H, W, 3) float32 hit point in the part's box frame (0 off parts).
        half: (H, W, 3) float32 half-size of the part hit (0 off parts).
        face: (H, W) int8 entering face (2 * axis + 1 for the + face).
        marking: (H, W) bool painted road line.
        elevation: (H, W) float32 ray elevation [rad].
    """

    cls: np.ndarray
    part: np.ndarray
    on_part: np.ndarray
    xyz: np.ndarray
    dist: np.ndarray
    normal: np.ndarray
    local: np.ndarray
    half: np.ndarray
    face: np.ndarray
    marking: np.ndarray
    elevation: np.ndarray


def surface(hits: Hits, grid: RayGrid, snap: Snapshot) -> Surface:
    """Derive the per-pixel surface attributes from the hits of a pinhole render."""
    parts = snap.parts
    H, W = hits.t.shape
    finite = np.isfinite(hits.t)
    t0 = np.where(finite, hits.t, np.float32(0))
    xyz = grid.origin.astype(np.float32) + t0[..., None] * grid.dirs
    xyz[~finite] = 0
    dist = np.where(finite, hits.t * grid.norms, np.inf).astype(np.float32)
    cls = np.full((H, W), C.SKY, np.uint8)
    on_part = hits.part >= 0
    if len(parts):
        cls[on_part] = parts.cls[hits.part[on_part]]
    ground = hits.part == HIT_GROUND
    gx, gy = xyz[ground, 0], xyz[ground, 1]
    cls[ground] = ground_class(gx, gy, snap.ego_xy)
    marking = np.zeros((H, W), bool)
    marking[ground] = lane_marking(gx, gy, snap.ego_xy)
    local = np.zeros((H, W, 3), np.float32)
    half = np.zeros((H, W, 3), np.float32)
    if on_part.any():
        p = hits.part[on_part]
        box = parts.boxes[p].astype(np.float32)
        rel = xyz[on_part] - box[:, :3]
        c, s = np.cos(box[:, 6]), np.sin(box[:, 6])
        local[on_part] = np.stack([c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1], rel[:, 2]], 1)
        half[on_part] = box[:, 3:6] / 2
    normal = face_normals(hits.face, hits.part, parts.boxes)
    elevation = grid.ray_elevation
    return Surface(cls, hits.part, on_part, xyz, dist, normal, local, half, hits.face, marking, elevation)
