"""Vectorised ray casting of oriented boxes and the ground plane, shared by every optical sensor.

A sensor is a `RayGrid`: one origin and an (H, W) grid of ray directions in the LiDAR frame, where a
point on the ray is `origin + t * dirs[r, c]`. For a pinhole camera the directions have unit depth
(t is the depth along the optical axis); for the spinning LiDAR they are unit vectors (t is the range).

`cast` intersects every ray with the ground plane analytically and with every box by the slab method.
There is no loop over rays: each box is tested against the sub-grid of rays that can reach it (its
conservative pixel/angle rectangle), all rays of the sub-grid at once, and a depth buffer keeps the
nearest hit. The loop runs over boxes only (a few hundred per scene).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from omnifuse.structures.geometry import bev_corners, box_corners

__all__ = ['RayGrid', 'Hits', 'cast', 'pinhole_grid', 'spherical_grid', 'HIT_GROUND', 'HIT_NONE',
           'face_normals']

HIT_NONE = -1    # the ray hits nothing (sky)
HIT_GROUND = -2  # the ray hits the ground plane


@dataclass
class RayGrid:
    """Rays of one sensor, LiDAR frame.

    Attributes:
        origin: (3,) ray origin.
        dirs: (H, W, 3) float32 directions.
        kind: 'pinhole' (t = depth) or 'spherical' (t = range).
        K: (3, 3) intrinsics (pinhole only); R: (3, 3) camera -> LiDAR rotation (pinhole only).
        elevation: (H,) beam elevations [rad], descending (spherical only).
        azimuth0, azimuth_step: azimuth of column 0 and the step [rad] (spherical only).
    """

    origin: np.ndarray
    dirs: np.ndarray
    kind: str
    K: np.ndarray | None = None
    R: np.ndarray | None = None
    elevation: np.ndarray | None = None
    azimuth0: float = -math.pi
    azimuth_step: float = 0.0

    @functools.cached_property
    def norms(self) -> np.ndarray:
        """(H, W) float32 length of each direction (1 for the LiDAR)."""
        return np.linalg.norm(self.dirs, axis=-1).astype(np.float32)

    @functools.cached_property
    def ray_elevation(self) -> np.ndarray:
        """(H, W) float32 elevation of each ray [rad]."""
        return np.arcsin(np.clip(self.dirs[..., 2] / self.norms, -1, 1)).astype(np.float32)

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W)."""
        return self.dirs.shape[0], self.dirs.shape[1]

    def windows(self, box: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Row/column windows [r0, r1) x [c0, c1) of the rays that may hit `box` (7,)."""
        H, W = self.shape
        if self.kind == 'pinhole':
            assert self.K is not None and self.R is not None, 'a pinhole grid has K and R'
            cam = (box_corners(box[None])[0] - self.origin) @ self.R  # (8, 3) camera frame
            if (cam[:, 2] <= 1e-3).all():
                return []
            if (cam[:, 2] <= 1e-3).any():
                return [(0, H, 0, W)]
            uvw = cam @ self.K.T
            u, v = uvw[:, 0] / uvw[:, 2], uvw[:, 1] / uvw[:, 2]
            c0, c1 = max(0, math.ceil(u.min())), min(W, math.floor(u.max()) + 1)
            r0, r1 = max(0, math.ceil(v.min())), min(H, math.floor(v.max()) + 1)
            return [(r0, r1, c0, c1)] if r0 < r1 and c0 < c1 else []
        return self._spherical_windows(box)

    def _spherical_windows(self, box: np.ndarray) -> list[tuple[int, int, int, int]]:
        H, W = self.shape
        poly = bev_corners(box[None])[0] - self.origin[:2]  # (4, 2)
        # Distance from the origin to the footprint (0 when inside), and to its farthest corner.
        edges = np.roll(poly, -1, 0) - poly
        proj = np.clip(-(poly * edges).sum(1) / np.maximum((edges ** 2).sum(1), 1e-12), 0, 1)
        r_min = float(np.linalg.norm(poly + proj[:, None] * edges, axis=1).min())
        r_max = float(np.linalg.norm(poly, axis=1).max())
        cross = edges[:, 1] * poly[:, 0] - edges[:, 0] * poly[:, 1]  # edge x (origin - corner)
        inside = bool(np.all(cross >= 0) or np.all(cross <= 0))
        z0 = box[2] - box[5] / 2 - self.origin[2]
        z1 = box[2] + box[5] / 2 - self.origin[2]
        if inside or r_min < 1e-3:
            return [(0, H, 0, W)]
        el_hi = math.atan2(z1, r_min if z1 > 0 else r_max)
        el_lo = math.atan2(z0, r_min if z0 < 0 else r_max)
        el = self.elevation  # descending
        assert el is not None, 'a spherical grid has beam elevations'
        r0 = int(np.searchsorted(-el, -el_hi - 1e-9, side='left'))
        r1 = int(np.searchsorted(-el, -el_lo + 1e-9, side='right'))
        if r0 >= r1:
            return []
        az = np.arctan2(poly[:, 1], poly[:, 0])
        rel = np.remainder(az - az[0] + math.pi, 2 * math.pi) - math.pi
        lo, hi = az[0] + rel.min(), az[0] + rel.max()
        span = math.ceil((hi - lo) / self.azimuth_step) + 2
        if span >= W:
            return [(r0, r1, 0, W)]
        c0 = math.floor((lo - self.azimuth0) / self.azimuth_step) % W
        c1 = c0 + span
        if c1 <= W:
            return [(r0, r1, c0, c1)]
        return [(r0, r1, c0, W), (r0, r1, 0, c1 - W)]


def pinhole_grid(P: np.ndarray, T_cam_lidar: np.ndarray, width: int, height: int) -> RayGrid:
    """Rays of a pinhole camera with projection `P` (3, 4) and extrinsics `T_cam_lidar` (4, 4).

    P = K [I | t] (KITTI's P2 has a non-zero t): the optical centre is at -t in the camera frame.
    Pixel (r, c) is the ray through pixel centre (u, v) = (c, r).
    """
    K = np.asarray(P, float)[:, :3]
    t = np.linalg.solve(K, np.asarray(P, float)[:, 3])
    T_lidar_cam = np.linalg.inv(T_cam_lidar)
    R = T_lidar_cam[:3, :3]
    origin = T_lidar_cam[:3, :3] @ (-t) + T_lidar_cam[:3, 3]
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    pix = np.stack([u, v, np.ones_like(u)], -1)  # (H, W, 3)
    rays_cam = pix @ np.linalg.inv(K).T  # unit depth
    dirs = (rays_cam @ R.T).astype(np.float32)
    return RayGrid(origin, dirs, 'pinhole', K=K, R=R)


def spherical_grid(elevation: np.ndarray, n_azimuth: int, origin: np.ndarray | None = None) -> RayGrid:
    """Rays of a spinning LiDAR: beams at `elevation` (H,) [rad, descending] x `n_azimuth` columns over 360 deg.

    Column c has azimuth -pi + c * 2pi / n_azimuth (about +z, 0 along +x).
    """
    el = np.asarray(elevation, dtype=np.float64)
    step = 2 * math.pi / n_azimuth
    az = -math.pi + np.arange(n_azimuth) * step
    ce, se = np.cos(el)[:, None], np.sin(el)[:, None]
    dirs = np.stack([ce * np.cos(az)[None], ce * np.sin(az)[None], np.broadcast_to(se, (len(el), n_azimuth))], -1)
    return RayGrid(np.zeros(3) if origin is None else np.asarray(origin, float), dirs.astype(np.float32),
                   'spherical', elevation=el, azimuth0=-math.pi, azimuth_step=step)


@dataclass
class Hits:
    """Nearest hit of every ray.

    Attributes:
        t: (H, W) float32 ray parameter of the hit (depth or range), inf where nothing is hit.
        part: (H, W) int32 index of the hit part, HIT_GROUND or HIT_NONE.
        face: (H, W) int8 entering face of the part: 2*axis + (1 if the +axis face else 0).
        object_pixels: (K,) int64 pixels each thing would cover alone, ignoring every other
            occluder (only when `cast(..., n_objects=K)`).
        object_bbox: (K, 4) float64 (c_min, r_min, c_max, r_max) of those pixels, NaN when none.
    """

    t: np.ndarray
    part: np.ndarray
    face: np.ndarray
    object_pixels: np.ndarray | None = None
    object_bbox: np.ndarray | None = None

    def points(self, grid: RayGrid) -> np.ndarray:
        """(H, W, 3) float32 hit points, LiDAR frame (inf/nan where nothing is hit)."""
        with np.errstate(invalid='ignore'):
            return grid.origin.astype(np.float32) + self.t[..., None] * grid.dirs


def cast(grid: RayGrid, boxes: np.ndarray, *, ground_z: float | None, max_t: float = np.inf,
         owner: np.ndarray | None = None, n_objects: int = 0) -> Hits:
    """Cast every ray of `grid` against `boxes` (M, 7) and the ground plane z = ground_z.

    Args:
        grid: the rays.
        boxes: (M, 7) boxes, LiDAR frame.
        ground_z: height of the ground plane (None: no ground).
        max_t: hits beyond this ray parameter are dropped.
        owner: (M,) thing index of each box (-1 for none); with n_objects, counts each thing's
            unoccluded pixels (union of its boxes' footprints) into `Hits.object_pixels`.
        n_objects: number of things.

    Returns:
        The nearest hit per ray.
    """
    H, W = grid.shape
    t = np.full((H, W), np.inf, np.float32)
    part = np.full((H, W), HIT_NONE, np.int32)
    face = np.zeros((H, W), np.int8)
    o = grid.origin
    if ground_z is not None:
        dz = grid.dirs[..., 2]
        with np.errstate(divide='ignore', invalid='ignore'):
            tg = ((ground_z - o[2]) / dz).astype(np.float32)
        ok = (dz < 0) & (tg > 0) & (tg <= max_t)
        t[ok] = tg[ok]
        part[ok] = HIT_GROUND
        face[ok] = 5
    counts = np.zeros(max(n_objects, 0), np.int64)
    masks: dict[int, list[tuple[tuple[int, int, int, int], np.ndarray]]] = {}
    for k, box in enumerate(np.asarray(boxes, np.float64)):
        for win in grid.windows(box):
            r0, r1, c0, c1 = win
            d = grid.dirs[r0:r1, c0:c1]
            hit, th, aux = _slab(o, d, box)
            if n_objects and owner is not None and owner[k] >= 0:
                masks.setdefault(int(owner[k]), []).append((win, hit))
            sub_t = t[r0:r1, c0:c1]
            closer = hit & (th < sub_t) & (th <= max_t)
            if closer.any():
                sub_t[closer] = th[closer]
                part[r0:r1, c0:c1][closer] = k
                face[r0:r1, c0:c1][closer] = _entering_face(aux, closer)
    bbox = np.full((max(n_objects, 0), 4), np.nan)
    for obj, items in masks.items():
        rr0 = min(w[0] for w, _ in items)
        rr1 = max(w[1] for w, _ in items)
        cc0 = min(w[2] for w, _ in items)
        cc1 = max(w[3] for w, _ in items)
        union = np.zeros((rr1 - rr0, cc1 - cc0), bool)
        for (r0, r1, c0, c1), hit in items:
            union[r0 - rr0:r1 - rr0, c0 - cc0:c1 - cc0] |= hit
        counts[obj] = int(union.sum())
        if counts[obj]:
            rows = np.nonzero(union.any(1))[0]
            cols = np.nonzero(union.any(0))[0]
            bbox[obj] = (cc0 + cols[0], rr0 + rows[0], cc0 + cols[-1], rr0 + rows[-1])
    return Hits(t, part, face, counts if n_objects else None, bbox if n_objects else None)


def _slab(origin: np.ndarray, d: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Slab test of rays origin + t d (d: (h, w, 3)) against one box; returns hit, t and what
    `_entering_face` needs."""
    c, s = math.cos(box[6]), math.sin(box[6])
    rel = origin - box[:3]
    o_l = np.array([c * rel[0] + s * rel[1], -s * rel[0] + c * rel[1], rel[2]], np.float32)
    half = (box[3:6] / 2).astype(np.float32)
    dx = c * d[..., 0] + s * d[..., 1]
    dy = -s * d[..., 0] + c * d[..., 1]
    dz = d[..., 2]
    with np.errstate(divide='ignore', invalid='ignore'):
        lo_list, hi_list = [], []
        for a, da in enumerate((dx, dy, dz)):
            inv = np.float32(1.0) / da
            t1 = (-half[a] - o_l[a]) * inv
            t2 = (half[a] - o_l[a]) * inv
            lo_list.append(np.minimum(t1, t2))
            hi_list.append(np.maximum(t1, t2))
        tnear = np.maximum(np.maximum(lo_list[0], lo_list[1]), lo_list[2])
        tfar = np.minimum(np.minimum(hi_list[0], hi_list[1]), hi_list[2])
        hit = (tnear <= tfar) & (tnear > 0)
    return hit, tnear, (lo_list, (dx, dy, dz))


def _entering_face(aux: tuple, mask: np.ndarray) -> np.ndarray:
    """Entering face (2 * axis + 1 for the + face) of the rays in `mask`, from `_slab`'s extra output."""
    lo = [a[mask] for a in aux[0]]
    d = [a[mask] for a in aux[1]]
    axis = np.where((lo[0] >= lo[1]) & (lo[0] >= lo[2]), 0, np.where(lo[1] >= lo[2], 1, 2)).astype(np.int8)
    da = np.where(axis == 0, d[0], np.where(axis == 1, d[1], d[2]))
    return (2 * axis + (da < 0)).astype(np.int8)  # entering the +axis face when moving towards -axis


def face_normals(face: np.ndarray, part: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(..., 3) float32 outward normals, LiDAR frame, of the faces hit (ground: +z)."""
    axis = face // 2
    sign = np.where(face % 2 == 1, 1.0, -1.0).astype(np.float32)
    n_local = np.zeros(face.shape + (3,), np.float32)
    np.put_along_axis(n_local, axis[..., None].astype(np.int64), sign[..., None], -1)
    yaw = np.where(part >= 0, boxes[np.maximum(part, 0), 6], 0.0).astype(np.float32) if len(boxes) else \
        np.zeros(face.shape, np.float32)
    c, s = np.cos(yaw), np.sin(yaw)
    out = np.stack([c * n_local[..., 0] - s * n_local[..., 1], s * n_local[..., 0] + c * n_local[..., 1],
                    n_local[..., 2]], -1)
    out[part == HIT_GROUND] = (0, 0, 1)
    return out

