"""Ego poses of a sequence from files: KITTI oxts (GPS/IMU) and KITTI-format pose files.

Two text formats, one sequence per file, one line per frame (frame k on line k):

- KITTI oxts (`oxts/<seq>.txt` of KITTI tracking, `oxts/data/<frame>.txt` of KITTI raw concatenated), 30
  space-separated numbers (the raw devkit's dataformat.txt): lat lon [deg], alt [m], roll pitch yaw [rad],
  then velocities, accelerations, angular rates and accuracy fields, which are not used here.
- KITTI odometry pose files (the format LiDAR odometry tools such as KISS-ICP write), 12 numbers: the
  row-major top three rows of a (4, 4) pose, here `world_T_lidar` (the LiDAR frame's pose in the world of
  the sequence).

`imu_poses_from_oxts` turns oxts into IMU poses the way the raw devkit's `convertOxtsToPose.m` does:
Mercator coordinates with the scale of the first frame's latitude (earth radius 6378137 m), rotation
Rz(yaw) Ry(pitch) Rx(roll), every pose relative to the first one. `lidar_poses_from_oxts` adds the
IMU -> LiDAR calibration (`Tr_imu_to_velo` of the calib file). Pure numpy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from omnifuse.errors import FormatError, ShapeError
from omnifuse.structures.geometry import rotation_from_euler
from omnifuse.structures.text_file import read_text_file

__all__ = ['EARTH_RADIUS', 'OXTS_COLUMNS', 'parse_oxts', 'read_oxts', 'imu_poses_from_oxts',
           'lidar_poses_from_oxts', 'parse_pose_file', 'read_pose_file', 'format_pose_file', 'read_lidar_poses']

EARTH_RADIUS = 6378137.0   # [m], the devkit's
OXTS_COLUMNS = 30


def _numbers(text: str, columns: int, what: str, source: str) -> np.ndarray:
    rows = []
    for lineno, line in enumerate(text.rstrip().splitlines(), 1):
        tokens = line.split()
        if not tokens:   # line k is frame k: a gap would shift every later frame
            raise FormatError(f'{source}:{lineno}: blank {what} line (line k is frame k; only trailing blank '
                              'lines are allowed)')
        if len(tokens) != columns:
            raise FormatError(f'{source}:{lineno}: {what} line has {len(tokens)} numbers, expected {columns}')
        try:
            values = [float(t) for t in tokens]
        except ValueError:
            raise FormatError(f'{source}:{lineno}: {what} line has a field that is not a number') from None
        rows.append(values)
    arr = np.array(rows, np.float64).reshape(-1, columns)
    if not np.isfinite(arr).all():
        bad = int(np.nonzero(~np.isfinite(arr).all(1))[0][0]) + 1
        raise FormatError(f'{source}: {what} row {bad} has a field that is not finite')
    return arr


def parse_oxts(text: str, *, source: str = '<oxts>') -> np.ndarray:
    """(F, 30) oxts records, one per line (trailing blank lines ignored)."""
    return _numbers(text, OXTS_COLUMNS, 'oxts', source)


def read_oxts(path: str | Path) -> np.ndarray:
    """Read one oxts file of a sequence (see `parse_oxts`)."""
    return parse_oxts(read_text_file(path, 'KITTI oxts files'), source=str(path))


def imu_poses_from_oxts(oxts: np.ndarray) -> np.ndarray:
    """(F, 4, 4) world_T_imu, the world being the IMU frame of the first record.

    Args:
        oxts: (F, >= 6) records: lat, lon [deg], alt [m], roll, pitch, yaw [rad] first.
    """
    oxts = np.asarray(oxts, np.float64)
    if oxts.ndim != 2 or oxts.shape[1] < 6:
        raise ShapeError(f'imu_poses_from_oxts: expected (F, >= 6) oxts records, got shape {oxts.shape}')
    if len(oxts) == 0:
        return np.zeros((0, 4, 4))
    lat, lon, alt = oxts[:, 0], oxts[:, 1], oxts[:, 2]
    scale = np.cos(np.deg2rad(lat[0]))
    poses = np.tile(np.eye(4), (len(oxts), 1, 1))
    poses[:, 0, 3] = scale * np.deg2rad(lon) * EARTH_RADIUS
    poses[:, 1, 3] = scale * EARTH_RADIUS * np.log(np.tan(np.deg2rad(90.0 + lat) / 2))
    poses[:, 2, 3] = alt
    for k, (roll, pitch, yaw) in enumerate(oxts[:, 3:6]):
        poses[k, :3, :3] = rotation_from_euler(roll, pitch, yaw)
    return np.linalg.inv(poses[0]) @ poses


def lidar_poses_from_oxts(oxts: np.ndarray, T_lidar_imu: np.ndarray) -> np.ndarray:
    """(F, 4, 4) world_T_lidar from oxts records and the IMU -> LiDAR calibration.

    Args:
        oxts: (F, >= 6) records (`imu_poses_from_oxts`).
        T_lidar_imu: (3, 4) or (4, 4) IMU -> LiDAR (KITTI's `Tr_imu_to_velo`).
    """
    T = np.asarray(T_lidar_imu, np.float64)
    if T.shape == (3, 4):
        T = np.vstack([T, [0.0, 0.0, 0.0, 1.0]])
    if T.shape != (4, 4):
        raise ShapeError(f'lidar_poses_from_oxts: T_lidar_imu must be (3, 4) or (4, 4), got {T.shape}')
    return imu_poses_from_oxts(oxts) @ np.linalg.inv(T)


def parse_pose_file(text: str, *, source: str = '<poses>') -> np.ndarray:
    """(F, 4, 4) poses from KITTI pose text (12 numbers a line: the top three rows, row-major)."""
    rows = _numbers(text, 12, 'pose', source)
    poses = np.tile(np.eye(4), (len(rows), 1, 1))
    poses[:, :3, :] = rows.reshape(-1, 3, 4)
    return poses


def read_pose_file(path: str | Path) -> np.ndarray:
    """Read one KITTI pose file (see `parse_pose_file`)."""
    return parse_pose_file(read_text_file(path, 'KITTI pose files'), source=str(path))


def format_pose_file(poses: np.ndarray) -> str:
    """KITTI pose text of (F, 4, 4) poses, one line each."""
    poses = np.asarray(poses, np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (4, 4):
        raise ShapeError(f'format_pose_file: expected (F, 4, 4) poses, got shape {poses.shape}')
    return ''.join(' '.join(f'{v:.9e}' for v in p[:3].reshape(-1)) + '\n' for p in poses)


def read_lidar_poses(path: str | Path, kind: str, T_lidar_imu: np.ndarray | None = None, *,
                     calib_name: str = 'the calibration') -> np.ndarray:
    """(F, 4, 4) world_T_lidar from one file: KITTI oxts records (`kind` 'oxts') or a KITTI pose file ('poses').

    Args:
        path: the file.
        kind: 'oxts' or 'poses'.
        T_lidar_imu: (3, 4) or (4, 4) IMU -> LiDAR (`Tr_imu_to_velo`); needed for 'oxts'.
        calib_name: what the calibration is called in the error when `T_lidar_imu` is missing.
    """
    if kind == 'poses':
        return read_pose_file(path)
    if kind != 'oxts':
        raise ValueError(f"read_lidar_poses: kind must be 'oxts' or 'poses', got {kind!r}")
    if T_lidar_imu is None:
        raise FormatError(f'{calib_name} has no Tr_imu_to_velo (Tr_imu_velo), which turns the GPS/IMU poses of '
                          f'{path} into LiDAR poses')
    return lidar_poses_from_oxts(read_oxts(path), T_lidar_imu)
