"""Ultrasonic readings rasterised into bird's-eye-view evidence channels (input of UltrasonicEncoder).

Every sensor sees a cone (half-angle, min/max range) from its pose on the body. A reading `r` says
"the nearest echo in my cone is at r": the arc at r is probably occupied, the cone before it is free.
NaN means no echo up to max_range (the whole cone is free). A sensor missing from a frame contributes
nothing, so its cells carry no coverage. The layout is read from the calibration, so a different
number or placement of sensors than at training time still rasterises correctly.

Channels (all in [0, 1], max over sensors):
    0 echo: cells within `arc_width / 2` of the measured range, inside the cone.
    1 free: cells inside the cone, nearer than the echo (or up to max_range for NaN).
    2 coverage: cells inside the cone between min_range and max_range of a sensor that reported.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from omnifuse.structures.bev_grid import BEVGrid
from omnifuse.structures.calibration import UltrasonicSensor

__all__ = ['rasterize_ultrasonic', 'unused_ultrasonic', 'NUM_ULTRASONIC_CHANNELS']

NUM_ULTRASONIC_CHANNELS = 3


def unused_ultrasonic(readings: Mapping[str, float], sensors: Mapping[str, UltrasonicSensor]) -> str | None:
    """Why some of a frame's ultrasonic readings cannot be used (None when all can): the rasteriser ignores
    readings of sensors without a pose, so the callers say it where the user looks.
    """
    unknown = sorted(n for n in readings if n not in sensors)
    if not unknown:
        return None
    if not sensors:
        return (f'{len(unknown)} ultrasonic reading(s) but the calibration has no ultrasonic sensor (us_<name> '
                'lines): ultrasonic input not used')
    return (f'ultrasonic reading(s) of sensor(s) without a pose in the calibration not used: {", ".join(unknown)} '
            f'(calibrated: {", ".join(sorted(sensors))})')


def rasterize_ultrasonic(readings: Mapping[str, float], sensors: Mapping[str, UltrasonicSensor], grid: BEVGrid,
                         *, arc_width: float = 0.3) -> np.ndarray:
    """Rasterise one frame's ultrasonic readings.

    Args:
        readings: range [m] by sensor name; NaN = no echo. Names without a sensor pose are ignored.
        sensors: poses and cones by name (LiDAR frame), usually `Calibration.ultrasonic`.
        grid: the BEV grid.
        arc_width: thickness of the echo arc [m].

    Returns:
        (3, H, W) float32 channels echo, free, coverage (see the module docstring).
    """
    out = np.zeros((NUM_ULTRASONIC_CHANNELS, *grid.shape), dtype=np.float32)
    names = [n for n in readings if n in sensors]
    if not names:
        return out
    centres = grid.cell_centers().reshape(-1, 2)  # (HW, 2)
    pose = np.array([[sensors[n].x, sensors[n].y, sensors[n].yaw, sensors[n].half_angle,
                      sensors[n].min_range, sensors[n].max_range] for n in names])  # (S, 6)
    rng = np.array([readings[n] for n in names], dtype=np.float64)  # (S,)
    d = centres[None] - pose[:, None, :2]  # (S, HW, 2)
    dist = np.hypot(d[..., 0], d[..., 1])
    bearing = np.arctan2(d[..., 1], d[..., 0]) - pose[:, 2:3]
    bearing = (bearing + np.pi) % (2 * np.pi) - np.pi
    in_cone = (np.abs(bearing) <= pose[:, 3:4]) & (dist >= pose[:, 4:5]) & (dist <= pose[:, 5:6])
    no_echo = np.isnan(rng)[:, None]
    r = np.where(np.isnan(rng), np.inf, rng)[:, None]
    echo = in_cone & ~no_echo & (np.abs(dist - r) <= arc_width / 2)
    free = in_cone & (no_echo | (dist < r - arc_width / 2))
    out[0] = echo.any(0).reshape(grid.shape)
    out[1] = free.any(0).reshape(grid.shape)
    out[2] = in_cone.any(0).reshape(grid.shape)
    # A cell both free for one sensor and an echo for another keeps the echo: an echo is positive evidence.
    out[1] *= 1 - out[0]
    return out
