"""The colour camera: pinhole render with depth order, per-class albedo and simple lighting.

Lighting by condition:
- day: ambient + Lambert sun; sky gradient.
- glare: a low sun inside the field of view washes out the image around it (bloom, veil, streak, ghosts).
- night: dark ambient, street-lamp pools, the ego's headlight cone, lit windows, head/tail lights of moving
  vehicles.
- fog: overcast light; every surface fades to the fog colour with exp(-3 d / visibility).
Pixel (r, c) of the image is the ray through pixel centre (u, v) = (c, r).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from omnifuse.datasets.sim import classes as C
from omnifuse.datasets.sim.raycast import HIT_GROUND, Hits, RayGrid, cast, pinhole_grid
from omnifuse.datasets.sim.surface import Surface, surface
from omnifuse.datasets.sim.world import GROUND_Z, KIND_BODY, KIND_BUILDING, Snapshot
from omnifuse.structures import CameraModel

__all__ = ['CameraRender', 'render_camera', 'camera_grid', 'window_mask', 'vehicle_regions']

_GROUND_ALBEDO = {C.ROAD: (0.30, 0.30, 0.32), C.SIDEWALK: (0.60, 0.58, 0.55), C.TERRAIN: (0.30, 0.42, 0.20)}


@dataclass
class CameraRender:
    """A rendered camera image and what it saw.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        semantic: (H, W) uint8 class per pixel.
        hits: the ray-cast result (object_pixels: unoccluded pixels per thing).
        surface: per-pixel surface attributes.
    """

    image: np.ndarray
    semantic: np.ndarray
    hits: Hits
    surface: Surface


@functools.lru_cache(maxsize=8)
def _grid_cached(key: bytes, w: int, h: int) -> RayGrid:
    arr = np.frombuffer(key, np.float64)
    return pinhole_grid(arr[:12].reshape(3, 4), arr[12:].reshape(4, 4), w, h)


def camera_grid(camera: CameraModel) -> RayGrid:
    """The (cached) ray grid of a pinhole camera."""
    key = np.concatenate([camera.P.ravel(), camera.T_cam_lidar.ravel()]).astype(np.float64).tobytes()
    return _grid_cached(key, camera.width, camera.height)


def window_mask(s: Surface, parts_kind: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixel sees a window of a building facade."""
    if not len(parts_kind):
        return np.zeros(s.part.shape, bool)
    kind = np.where(s.on_part, parts_kind[np.maximum(s.part, 0)], 255)
    axis = s.face // 2
    facade = (kind == KIND_BUILDING) & (axis < 2) & (s.half[..., 2] > 1.5)
    horiz = np.where(axis == 0, s.local[..., 1], s.local[..., 0]) + 100.0
    hz = s.local[..., 2] + s.half[..., 2]
    fz, fh = np.mod(hz, 3.2), np.mod(horiz, 3.0)
    return facade & (fz > 1.0) & (fz < 2.3) & (fh > 0.7) & (fh < 2.2) & (hz > 0.8) & (hz < 2 * s.half[..., 2] - 0.6)


def vehicle_regions(s: Surface, parts_kind: np.ndarray) -> dict[str, np.ndarray]:
    """(H, W) bool masks on vehicle bodies: 'tire', 'front_light', 'rear_light', 'engine', 'exhaust'."""
    kind = np.where(s.on_part, parts_kind[np.maximum(s.part, 0)], 255) if len(parts_kind) else \
        np.full(s.part.shape, 255)
    body = kind == KIND_BODY
    lx, ly, lz = s.local[..., 0], s.local[..., 1], s.local[..., 2]
    hx, hy, hz = s.half[..., 0], s.half[..., 1], s.half[..., 2]
    axis = s.face // 2
    radius = np.minimum(0.33, hz * 0.8)
    wc = np.maximum(hx - 0.8, 0.1)
    wz = -hz + radius
    tire = body & (axis == 1) & ((np.minimum(np.abs(lx - wc), np.abs(lx + wc)) ** 2 + (lz - wz) ** 2) < radius ** 2)
    band = (lz > hz - 0.28) & (lz < hz - 0.08) & (np.abs(ly) > hy - 0.42)
    front = body & (s.face == 1) & band & (hz < 0.7)
    rear = body & (s.face == 0) & band & (hz < 0.7)
    engine = body & (lx > 0.3 * hx) & ((s.face == 1) | (s.face == 5)) & (hz < 0.7)
    exhaust = body & (s.face == 0) & (lz < -hz + 0.35) & (ly < -0.3 * hy) & (hz < 0.7)
    return {'tire': tire, 'front_light': front, 'rear_light': rear, 'engine': engine, 'exhaust': exhaust}


def _sun_pixel(grid: RayGrid, sun: np.ndarray) -> tuple[float, float] | None:
    assert grid.R is not None, 'a camera grid is pinhole'
    d = grid.R.T @ sun
    if d[2] <= 0.05:
        return None
    uvw = grid.K @ d
    return float(uvw[0] / uvw[2]), float(uvw[1] / uvw[2])


def render_camera(snap: Snapshot, camera: CameraModel, rng: np.random.Generator, *, max_depth: float = 400.0
                  ) -> CameraRender:
    """Render `snap` through `camera` (needs width/height)."""
    grid = camera_grid(camera)
    parts = snap.parts
    hits = cast(grid, parts.boxes, ground_z=GROUND_Z, max_t=max_depth, owner=parts.obj, n_objects=len(snap.boxes))
    s = surface(hits, grid, snap)
    H, W = s.cls.shape
    night = snap.condition == 'night'
    fog = snap.condition == 'fog'
    # ---- albedo ----
    albedo = np.zeros((H, W, 3), np.float32)
    if len(parts):
        albedo[s.on_part] = parts.color[s.part[s.on_part]]
    ground = s.part == HIT_GROUND
    for cls, rgb in _GROUND_ALBEDO.items():
        albedo[ground & (s.cls == cls)] = rgb
    centre = s.marking & (np.abs(s.xyz[..., 1] + snap.ego_xy[1]) < 0.2)
    albedo[s.marking] = (0.85, 0.85, 0.82)
    albedo[centre] = (0.85, 0.68, 0.18)
    texture = 1.0 + 0.04 * rng.standard_normal((H, W), dtype=np.float32)
    albedo *= texture[..., None]
    windows = window_mask(s, parts.kind)
    albedo[windows] = (0.16, 0.20, 0.27)
    veh = vehicle_regions(s, parts.kind)
    albedo[veh['tire']] = (0.04, 0.04, 0.04)
    albedo[veh['front_light']] = (0.9, 0.9, 0.82)
    albedo[veh['rear_light']] = (0.7, 0.06, 0.05)
    # ---- light ----
    lambert = np.clip((s.normal * snap.sun.astype(np.float32)).sum(-1), 0, None)
    emissive = np.zeros((H, W, 3), np.float32)
    if night:
        light = np.full((H, W), 0.03, np.float32)
        near = np.isfinite(s.dist) & (s.dist < 90)
        pts, nrm = s.xyz[near], s.normal[near]
        acc = np.zeros(len(pts), np.float32)
        reach = 3.0 * 5.5
        for lamp in snap.lamps[np.linalg.norm(snap.lamps[:, :2], axis=1) < 90].astype(np.float32):
            close = np.nonzero(np.abs(pts[:, 0] - lamp[0]) < reach)[0]
            close = close[np.abs(pts[close, 1] - lamp[1]) < reach]
            v = lamp - pts[close]
            d2 = np.einsum('ij,ij->i', v, v)
            facing = np.clip(np.einsum('ij,ij->i', v, nrm[close]) / np.sqrt(d2 + 1e-6), 0.15, 1)
            acc[close] += 1.5 * np.exp(-d2 / (2 * 5.5 ** 2)) * facing
        x, y = pts[:, 0], pts[:, 1]
        cone = np.exp(-(y / (0.3 * np.maximum(x, 0) + 0.9)) ** 2) * (x > 2.0)
        acc += 1.2 * cone * np.exp(-np.maximum(x, 0) / 30.0) * (pts[:, 2] < GROUND_Z + 1.5)
        light[near] += acc
        cell = _hash(s.part, np.floor(s.local[..., 2] / 3.2), np.floor(s.local[..., 0] + s.local[..., 1]))
        lit = windows & (cell < 0.35)
        emissive[lit] = (0.95, 0.75, 0.42)
        moving = np.zeros(len(parts), bool)
        if len(parts):
            moving = (parts.obj >= 0) & snap.moving[np.maximum(parts.obj, 0)] if len(snap.moving) else moving
        mv = s.on_part & moving[np.maximum(s.part, 0)] if len(parts) else np.zeros((H, W), bool)
        emissive[veh['front_light'] & mv] = (2.5, 2.4, 2.1)
        emissive[veh['rear_light'] & mv] = (1.6, 0.1, 0.08)
    elif fog:
        light = 0.62 + 0.25 * lambert
    else:
        light = 0.42 + 0.72 * lambert
    img = albedo * light[..., None] + emissive
    # ---- sky ----
    sky = s.part < 0
    sky &= ~ground
    el = s.elevation[sky]
    if night:
        sky_rgb = (np.array([0.015, 0.02, 0.04])
                   + np.exp(-np.maximum(el, 0) / 0.08)[:, None] * np.array([0.05, 0.04, 0.03]))
    else:
        w = np.clip(el / 0.6, 0, 1)[:, None]
        sky_rgb = (1 - w) * np.array([0.80, 0.86, 0.93]) + w * np.array([0.33, 0.53, 0.85])
    img[sky] = sky_rgb
    # ---- fog ----
    if fog:
        fog_rgb = np.array([0.70, 0.72, 0.75], np.float32)
        f = np.exp(-3.0 * np.where(np.isfinite(s.dist), s.dist, 1e4) / snap.visibility).astype(np.float32)
        img = img * f[..., None] + fog_rgb * (1 - f[..., None])
    # ---- glare ----
    if snap.condition == 'glare':
        img = _glare(img, grid, snap.sun)
    # ---- sensor ----
    img *= _vignette(H, W)[..., None]
    img += (0.025 if night else 0.01) * rng.standard_normal((H, W, 3), dtype=np.float32)
    image = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    return CameraRender(image, s.cls, hits, s)


@functools.lru_cache(maxsize=4)
def _vignette(H: int, W: int) -> np.ndarray:
    u, v = np.meshgrid(np.linspace(-1, 1, W, dtype=np.float32), np.linspace(-1, 1, H, dtype=np.float32) * H / W)
    return 1 - 0.22 * (u ** 2 + v ** 2)


def _hash(*arrays: np.ndarray) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1) from integer-valued arrays."""
    h = np.zeros(arrays[0].shape, np.uint64)
    for i, a in enumerate(arrays):
        h ^= (a.astype(np.int64).astype(np.uint64) + np.uint64(0x9E3779B9 + i)) * np.uint64(0x85EBCA6B)
        h = (h ^ (h >> np.uint64(13))) * np.uint64(0xC2B2AE35)
    return (h % np.uint64(1000)).astype(np.float32) / 1000.0


def _glare(img: np.ndarray, grid: RayGrid, sun: np.ndarray) -> np.ndarray:
    pix = _sun_pixel(grid, sun)
    if pix is None:
        return img
    H, W = img.shape[:2]
    us, vs = pix
    u, v = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
    r = np.hypot(u - us, v - vs)
    bloom = 2.2 * np.exp(-(r / 55.0) ** 2) + 0.55 * np.exp(-r / 240.0)
    streak = 0.5 * np.exp(-np.abs(v - vs) / 3.0) * np.exp(-np.abs(u - us) / 450.0)
    warm = np.array([1.0, 0.95, 0.82], np.float32)
    out = img * (1 - 0.25 * np.exp(-r / 400.0))[..., None] + (bloom + streak)[..., None] * warm
    cu, cv = W / 2, H / 2
    for k, rad, tint in ((0.5, 22, (0.3, 0.5, 0.3)), (1.2, 40, (0.4, 0.3, 0.5)), (1.7, 16, (0.5, 0.4, 0.2))):
        gu, gv = cu + k * (cu - us), cv + k * (cv - vs)
        ghost = np.exp(-((np.hypot(u - gu, v - gv) / rad) ** 4)) * 0.25
        out += ghost[..., None] * np.array(tint, np.float32)
    return out
