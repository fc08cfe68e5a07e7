"""Ultrasonic sensors: the nearest echo inside each sensor's cone, with noise and dropouts.

Geometry (exact, in the horizontal plane): a sensor at (x, y) with boresight `yaw` and half-angle `a`
hears a part when the part's vertical extent overlaps the sensor's vertical band (0.4 m below to 1.2 m
above the sensor) and some point of its footprint lies inside the cone sector. The echo range is the
minimum distance from the sensor to (footprint ∩ sector). For convex polygons that minimum is attained at a
footprint corner inside the sector, at the foot of the perpendicular on an edge, or where a sector
boundary ray crosses an edge: all three candidate sets are evaluated at once for every sensor, part and
edge. Readings below `min_range` saturate at `min_range`; beyond `max_range` (or no part) they are NaN.
The ground and kerbs give no echo.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from omnifuse.structures import UltrasonicSensor
from omnifuse.structures.geometry import bev_corners

__all__ = ['nearest_echo', 'render_ultrasonic', 'BAND_BELOW', 'BAND_ABOVE', 'RANGE_NOISE', 'DROPOUT']

BAND_BELOW = 0.4
BAND_ABOVE = 1.2
RANGE_NOISE = 0.02  # standard deviation [m]
DROPOUT = 0.02      # probability of a missed echo


def nearest_echo(sensors: Mapping[str, UltrasonicSensor], boxes: np.ndarray) -> dict[str, float]:
    """Noise-free nearest distance per sensor to the boxes (M, 7) inside its cone (NaN: none in range)."""
    names = list(sensors)
    out = {name: float('nan') for name in names}
    boxes = np.asarray(boxes, np.float64).reshape(-1, 7)
    if not names or not len(boxes):
        return out
    s = np.array([[u.x, u.y, u.z, u.yaw, u.half_angle, u.min_range, u.max_range] for u in sensors.values()])
    poly = bev_corners(boxes)  # (M, 4, 2)
    rel = poly[None] - s[:, None, None, :2]  # (S, M, 4, 2) corners relative to the sensor
    c, sn = np.cos(s[:, 3]), np.sin(s[:, 3])
    # Rotate into each sensor's frame: boresight along +x.
    px = c[:, None, None] * rel[..., 0] + sn[:, None, None] * rel[..., 1]
    py = -sn[:, None, None] * rel[..., 0] + c[:, None, None] * rel[..., 1]
    a0 = np.stack([px, py], -1)  # (S, M, 4, 2) edge starts
    e = np.roll(a0, -1, axis=2) - a0  # edges
    tan_half = np.tan(s[:, 4])[:, None, None]

    def in_sector(p: np.ndarray) -> np.ndarray:
        return (p[..., 0] > 0) & (np.abs(p[..., 1]) <= p[..., 0] * tan_half + 1e-9)

    cands = []
    # (a) corners
    cands.append(np.where(in_sector(a0), np.linalg.norm(a0, axis=-1), np.inf))
    # (b) feet of perpendiculars on the edges
    tt = np.clip(-(a0 * e).sum(-1) / np.maximum((e ** 2).sum(-1), 1e-12), 0, 1)
    foot = a0 + tt[..., None] * e
    cands.append(np.where(in_sector(foot), np.linalg.norm(foot, axis=-1), np.inf))
    # (c) boundary rays r (cos a, +-sin a) crossing the edges
    for sign in (1.0, -1.0):
        d = np.stack([np.broadcast_to(np.cos(s[:, 4])[:, None, None], px.shape),
                      sign * np.broadcast_to(np.sin(s[:, 4])[:, None, None], px.shape)], -1)
        den = d[..., 0] * e[..., 1] - d[..., 1] * e[..., 0]
        with np.errstate(divide='ignore', invalid='ignore'):
            r = (a0[..., 0] * e[..., 1] - a0[..., 1] * e[..., 0]) / den
            u = (a0[..., 0] * d[..., 1] - a0[..., 1] * d[..., 0]) / den
        ok = (np.abs(den) > 1e-12) & (r > 0) & (u >= 0) & (u <= 1)
        cands.append(np.where(ok, r, np.inf))
    dist = np.min(np.stack(cands, 0), axis=(0, 3))  # (S, M)
    z_lo = boxes[:, 2] - boxes[:, 5] / 2
    z_hi = boxes[:, 2] + boxes[:, 5] / 2
    band = (z_hi[None] >= s[:, 2:3] - BAND_BELOW) & (z_lo[None] <= s[:, 2:3] + BAND_ABOVE)
    dist = np.where(band, dist, np.inf).min(1)
    for i, name in enumerate(names):
        if dist[i] <= s[i, 6]:
            out[name] = float(max(dist[i], s[i, 5]))
    return out


def render_ultrasonic(sensors: Mapping[str, UltrasonicSensor], boxes: np.ndarray, rng: np.random.Generator, *,
                      noise: float = RANGE_NOISE, dropout: float = DROPOUT) -> dict[str, float]:
    """Readings [m] per sensor: the nearest echo plus Gaussian noise, NaN for none or a dropout."""
    exact = nearest_echo(sensors, boxes)
    out = {}
    for name, value in exact.items():
        jitter = rng.normal(0, noise)
        lost = rng.random() < dropout
        if np.isnan(value) or lost:
            out[name] = float('nan')
        else:
            u = sensors[name]
            out[name] = float(np.clip(value + jitter, u.min_range, u.max_range))
    return out
