"""Ego trajectories and the KITTI oxts records that describe them (inverse Mercator), for the ego-pose tests."""

from __future__ import annotations

import numpy as np

from omnifuse.structures.ego_poses import EARTH_RADIUS
from omnifuse.structures.geometry import rotation_from_euler

LAT0, LON0 = 49.011, 8.422   # Karlsruhe, where KITTI drove


def planar(x: float, y: float, yaw: float) -> np.ndarray:
    """(4, 4) rotation `yaw` about z, then the translation (x, y, 0)."""
    T = np.eye(4)
    T[:3, :3] = rotation_from_euler(0.0, 0.0, yaw)
    T[:2, 3] = x, y
    return T


def oxts_from_imu_poses(world_T_imu: np.ndarray, heading0: float = 0.3) -> np.ndarray:
    """(F, 30) oxts records of level IMU poses given in the first IMU frame.

    The first IMU frame heads `heading0` (east = 0, counter-clockwise); only lat, lon, alt and yaw are set.
    """
    scale = np.cos(np.deg2rad(LAT0))
    mx0 = scale * np.deg2rad(LON0) * EARTH_RADIUS
    my0 = scale * EARTH_RADIUS * np.log(np.tan(np.deg2rad(90 + LAT0) / 2))
    c, s = np.cos(heading0), np.sin(heading0)
    out = np.zeros((len(world_T_imu), 30))
    for k, T in enumerate(world_T_imu):
        x, y = T[0, 3], T[1, 3]
        mx, my = mx0 + c * x - s * y, my0 + s * x + c * y
        out[k, 0] = 2 * np.rad2deg(np.arctan(np.exp(my / (scale * EARTH_RADIUS)))) - 90
        out[k, 1] = np.rad2deg(mx / (scale * EARTH_RADIUS))
        out[k, 2] = 112.0 + T[2, 3]
        out[k, 5] = heading0 + np.arctan2(T[1, 0], T[0, 0])
    return out


def format_oxts(records: np.ndarray) -> str:
    """Oxts text, one record a line."""
    return ''.join(' '.join(f'{v:.12g}' for v in r) + '\n' for r in records)
