"""The spinning multi-beam LiDAR: an HDL-64E-like beam pattern ray-cast against the scene.

Model: 64 beams over the HDL-64E vertical field (32 beams from +2.0 to -8.33 deg in 1/3 deg steps, 32 from
-8.83 to -24.33 deg in 1/2 deg steps), `n_azimuth` columns over 360 deg (4000: 0.09 deg), 120 m range.
Each ray returns the nearest surface, with Gaussian range noise along the ray. Intensity in [0, 1] is
the material reflectivity times (0.35 + 0.65 |cos incidence|), with a little noise. Returns drop at
random (`dropout`), half of those from glass (or, with `see_through_glass()`, 20 % from the glass, 25 % from the
interior behind it), and in fog with probability 1 - exp(-2 sigma r) where
sigma = 1.5 / visibility (a two-way extinction, weaker than in the visible band).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import numpy as np

from omnifuse.datasets.sim import classes as C
from omnifuse.datasets.sim.raycast import HIT_GROUND, RayGrid, cast, face_normals, spherical_grid
from omnifuse.datasets.sim.world import GROUND_Z, KIND_GLASS, Snapshot, ground_class, lane_marking

__all__ = ['LidarModel', 'LidarScan', 'hdl64_elevations', 'render_lidar', 'lidar_grid', 'see_through_glass']

_GROUND_REFL = {C.ROAD: 0.12, C.SIDEWALK: 0.22, C.TERRAIN: 0.30}


def hdl64_elevations() -> np.ndarray:
    """(64,) beam elevations [rad] of an HDL-64E, descending."""
    upper = 2.0 - np.arange(32) / 3.0
    lower = -8.83 - np.arange(32) * 0.5
    return np.radians(np.concatenate([upper, lower]))


@dataclass(frozen=True)
class LidarModel:
    """Parameters of the simulated LiDAR (defaults: HDL-64E-like, KITTI mounting).

    Attributes:
        n_azimuth: columns per revolution (4000 = 0.09 deg).
        max_range, min_range: [m].
        range_noise: standard deviation of the range [m].
        dropout: probability that a return is lost.
        intensity_noise: standard deviation of the intensity.
        glass_return: probability that a ray hitting glass returns from the glass itself.
        glass_interior: probability that it passes through and returns from the interior behind it (seats,
            cargo: `interior_depth` [m] further along the ray); otherwise it is lost. A near-infrared LiDAR sees
            through clear glass: real vans and cars return few points from their windows.
    """

    n_azimuth: int = 4000
    max_range: float = 120.0
    min_range: float = 1.0
    range_noise: float = 0.02
    dropout: float = 0.05
    intensity_noise: float = 0.02
    glass_return: float = 0.5
    glass_interior: float = 0.0
    interior_depth: tuple[float, float] = (0.4, 1.5)


def see_through_glass(model: LidarModel) -> LidarModel:
    """`model` with glass that a near-infrared beam mostly passes: 20 % of the rays hitting glass return from it,
    25 % from the interior behind it, the rest are lost (`omnifuse sim --glass see-through`)."""
    return dataclasses.replace(model, glass_return=0.2, glass_interior=0.25)


@dataclass
class LidarScan:
    """One sweep.

    Attributes:
        points: (N, 4) float32 x y z intensity, LiDAR frame.
        labels: (N,) uint8 semantic class per point (classes.py).
        instance: (N,) int32 index of the thing hit (into the snapshot's boxes), -1 otherwise.
        part: (N,) int32 index of the part hit, or HIT_GROUND.
        ring: (N,) uint8 beam index (0 = top beam).
        range_true: (N,) float32 noise-free range [m].
    """

    points: np.ndarray
    labels: np.ndarray
    instance: np.ndarray
    part: np.ndarray
    ring: np.ndarray
    range_true: np.ndarray


@functools.lru_cache(maxsize=4)
def lidar_grid(n_azimuth: int = 4000) -> RayGrid:
    """The (cached) ray grid of the HDL-64E-like LiDAR at the LiDAR origin."""
    return spherical_grid(hdl64_elevations(), n_azimuth)


def render_lidar(snap: Snapshot, rng: np.random.Generator, *, model: LidarModel = LidarModel()) -> LidarScan:
    """Ray-cast one sweep of `snap`.

    Returns:
        The scan; `points` lie on the surfaces hit, displaced along the ray by the range noise.
    """
    grid = lidar_grid(model.n_azimuth)
    parts = snap.parts
    hits = cast(grid, parts.boxes, ground_z=GROUND_Z, max_t=model.max_range)
    rows, cols = np.nonzero(np.isfinite(hits.t) & (hits.t >= model.min_range))
    t = hits.t[rows, cols]
    part = hits.part[rows, cols]
    d = grid.dirs[rows, cols]  # (N, 3) unit
    xyz = t[:, None] * d
    on_part = part >= 0
    pidx = np.maximum(part, 0)
    labels = np.where(on_part, parts.cls[pidx] if len(parts) else 0, 0).astype(np.uint8)
    ground = ~on_part
    labels[ground] = ground_class(xyz[ground, 0], xyz[ground, 1], snap.ego_xy)
    refl = np.where(on_part, parts.refl[pidx] if len(parts) else 0, 0).astype(np.float32)
    refl[ground] = np.vectorize(_GROUND_REFL.get, otypes=[np.float32])(labels[ground]) if ground.any() else 0
    marks = np.zeros_like(ground)
    marks[ground] = lane_marking(xyz[ground, 0], xyz[ground, 1], snap.ego_xy)
    refl[marks] = 0.55
    normals = face_normals(hits.face[rows, cols], part, parts.boxes)
    cos_inc = np.abs((normals * d).sum(1))
    n = len(t)
    intensity = refl * (0.35 + 0.65 * cos_inc) + rng.normal(0, model.intensity_noise, n).astype(np.float32)
    keep = rng.random(n) >= model.dropout
    glass = on_part & (parts.kind[pidx] == KIND_GLASS) if len(parts) else np.zeros(n, bool)
    fate = rng.random(n)
    interior = glass & (fate >= model.glass_return) & (fate < model.glass_return + model.glass_interior)
    keep &= ~glass | (fate < model.glass_return) | interior
    if model.glass_interior > 0:  # no extra draw otherwise: the default scans stay as they were
        t = t + interior * rng.uniform(*model.interior_depth, n).astype(np.float32)
    if math.isfinite(snap.visibility):
        sigma = 1.5 / snap.visibility
        keep &= rng.random(n) < np.exp(-2 * sigma * t)
        intensity *= np.exp(-2 * sigma * t).astype(np.float32)
    noisy_t = t + rng.normal(0, model.range_noise, n).astype(np.float32)
    xyz = noisy_t[:, None] * d
    points = np.concatenate([xyz, np.clip(intensity, 0, 1)[:, None]], 1).astype(np.float32)[keep]
    instance = np.where(on_part, parts.obj[pidx] if len(parts) else -1, -1).astype(np.int32)
    return LidarScan(points, labels[keep], instance[keep], np.where(on_part, part, HIT_GROUND)[keep].astype(np.int32),
                     rows[keep].astype(np.uint8), t[keep].astype(np.float32))
