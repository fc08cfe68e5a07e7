"""The long-wave infrared camera: apparent temperature per pixel, raw uint16 in centi-kelvin.

Raw value = round(100 * T[K]) (e.g. 29315 = 20 C); `thermal_to_kelvin` and `thermal_to_8bit` convert.
Temperatures by material and condition: people and cyclists ~301-306 K (heads warmest), engines of moving
vehicles +28 K at the front, exhausts +40 K, tyres warm when moving, glass reflects the cold sky, road and
sidewalk sun-heated by day, the sky cold (warmer towards the horizon). Unaffected by visible light;
fog blends towards the air temperature with exp(-0.6 d / visibility). Noise: 0.06 K temporal
(NETD-like) plus a fixed column pattern.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from omnifuse.datasets.sim import classes as C
from omnifuse.datasets.sim.camera import camera_grid, vehicle_regions, window_mask
from omnifuse.datasets.sim.raycast import HIT_GROUND, Hits, cast
from omnifuse.datasets.sim.surface import Surface, surface
from omnifuse.datasets.sim.world import GROUND_Z, KIND_GLASS, Snapshot
from omnifuse.structures import CameraModel

__all__ = ['ThermalRender', 'render_thermal', 'thermal_to_kelvin', 'thermal_to_8bit', 'KELVIN_SCALE']

KELVIN_SCALE = 100.0  # raw counts per kelvin (centi-kelvin)
# class -> (day, night) ground temperature [K]
_GROUND_T = {C.ROAD: (300.0, 287.0), C.SIDEWALK: (298.0, 286.0), C.TERRAIN: (295.0, 284.0)}


@dataclass
class ThermalRender:
    """A rendered thermal image.

    Attributes:
        raw: (H, W) uint16 centi-kelvin.
        semantic: (H, W) uint8 class per pixel.
        hits: the ray-cast result.
        surface: per-pixel surface attributes.
    """

    raw: np.ndarray
    semantic: np.ndarray
    hits: Hits
    surface: Surface


def thermal_to_kelvin(raw: np.ndarray) -> np.ndarray:
    """(H, W) raw uint16 centi-kelvin -> float32 kelvin."""
    return raw.astype(np.float32) / KELVIN_SCALE


def thermal_to_8bit(raw: np.ndarray, *, low: float | None = None, high: float | None = None) -> np.ndarray:
    """8-bit display image of a raw thermal frame: linear between `low` and `high` kelvin
    (default: an automatic gain control: the 1st and 99.5th percentiles, the low end raised to at most
    20 K below the median so that a cold sky does not squeeze the scene)."""
    k = thermal_to_kelvin(raw)
    p1, p50, p99 = np.percentile(k, (1, 50, 99.5))
    lo = float(max(p1, p50 - 20.0)) if low is None else low
    hi = float(p99) if high is None else high
    return (np.clip((k - lo) / max(hi - lo, 1e-3), 0, 1) * 255 + 0.5).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def _column_pattern(width: int) -> np.ndarray:
    return np.random.default_rng(640512).normal(0, 0.08, width).astype(np.float32)


def render_thermal(snap: Snapshot, camera: CameraModel, rng: np.random.Generator) -> ThermalRender:
    """Render `snap` through the thermal `camera` (needs width/height)."""
    grid = camera_grid(camera)
    parts = snap.parts
    hits = cast(grid, parts.boxes, ground_z=GROUND_Z, max_t=400.0, owner=parts.obj, n_objects=len(snap.boxes))
    s = surface(hits, grid, snap)
    H, W = s.cls.shape
    night = snap.condition == 'night'
    T = np.zeros((H, W), np.float32)
    if len(parts):
        p = s.part[s.on_part]
        T[s.on_part] = parts.temp[p]
        glass = s.on_part & (parts.kind[np.maximum(s.part, 0)] == KIND_GLASS)
        T[glass] = 0.6 * T[glass] + 0.4 * 255.0
    ground = s.part == HIT_GROUND
    for cls, (day_t, night_t) in _GROUND_T.items():
        T[ground & (s.cls == cls)] = night_t if night else day_t
    T[s.marking] -= 2.0
    T[window_mask(s, parts.kind)] -= 6.0
    veh = vehicle_regions(s, parts.kind)
    if len(parts):
        moving = (parts.obj >= 0) & (snap.moving[np.maximum(parts.obj, 0)] if len(snap.moving) else False)
        mv = s.on_part & moving[np.maximum(s.part, 0)]
        T[veh['engine'] & mv] += 28.0
        T[veh['exhaust'] & mv] += 40.0
        T[veh['tire']] += np.where(mv[veh['tire']], 12.0, 2.0)
    if not night:
        lambert = np.clip((s.normal * snap.sun.astype(np.float32)).sum(-1), 0, None)
        static = s.on_part & (parts.obj[np.maximum(s.part, 0)] < 0) if len(parts) else np.zeros((H, W), bool)
        T[static] += 5.0 * lambert[static]
    # Emissivity falls at grazing angles: a little colder.
    cos = np.abs(np.einsum('hwc,hwc->hw', s.normal, grid.dirs)) / grid.norms
    hit = s.part != -1
    T[hit] -= 3.0 * (1 - cos[hit]) ** 2
    sky = ~hit
    T[sky] = (222.0 if night else 232.0) + 55.0 * np.exp(-np.maximum(s.elevation[sky], 0) / 0.07)
    if np.isfinite(snap.visibility):
        air = 284.0 if night else 291.0
        f = np.exp(-0.6 * np.where(np.isfinite(s.dist), s.dist, 1e4) / snap.visibility).astype(np.float32)
        T = T * f + air * (1 - f)
    T += 0.06 * rng.standard_normal((H, W), dtype=np.float32) + _column_pattern(W)[None]
    raw = np.clip(np.round(T * KELVIN_SCALE), 0, 65535).astype(np.uint16)
    return ThermalRender(raw, s.cls, hits, s)
