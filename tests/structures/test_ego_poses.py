"""KITTI oxts and pose files -> ego poses: the devkit's Mercator conversion, the IMU -> LiDAR step, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omnifuse.errors import FormatError
from omnifuse.structures.calibration import Calibration
from omnifuse.structures.ego_poses import (
    EARTH_RADIUS,
    format_pose_file,
    imu_poses_from_oxts,
    lidar_poses_from_oxts,
    parse_oxts,
    parse_pose_file,
    read_oxts,
    read_pose_file,
)
from omnifuse.structures.geometry import rotation_from_euler
from tests.ego_inputs import LAT0, LON0, format_oxts, oxts_from_imu_poses, planar


def test_oxts_poses_follow_the_devkit_mercator_conversion() -> None:
    rec = np.zeros((3, 30))
    rec[:, 0], rec[:, 1], rec[:, 2] = LAT0, LON0, 112.0
    # 10 m east along the parallel, then 10 m north (small steps: the Mercator scale is the first latitude's)
    rec[1, 1] = LON0 + np.rad2deg(10.0 / (EARTH_RADIUS * np.cos(np.deg2rad(LAT0))))
    rec[2, 0] = LAT0 + np.rad2deg(10.0 / EARTH_RADIUS)
    rec[2, 2] = 113.5
    poses = imu_poses_from_oxts(rec)                      # heading 0: the first IMU frame's x points east
    assert np.allclose(poses[0], np.eye(4))
    assert np.allclose(poses[1, :3, 3], [10.0, 0.0, 0.0], atol=1e-6)
    assert np.allclose(poses[2, :3, 3], [0.0, 10.0, 1.5], atol=1e-3)
    rec[:, 5] = np.pi / 2                                 # heading north: east is the first frame's -y
    poses = imu_poses_from_oxts(rec)
    assert np.allclose(poses[1, :3, 3], [0.0, -10.0, 0.0], atol=1e-6)
    assert np.allclose(poses[1, :3, :3], np.eye(3))       # same heading: no turn
    rec[1, 3:6] = 0.02, -0.03, np.pi / 2 + 0.5            # roll, pitch, yaw: Rz Ry Rx
    poses = imu_poses_from_oxts(rec)
    assert np.allclose(poses[1, :3, :3], rotation_from_euler(0.0, 0.0, -np.pi / 2)
                       @ rotation_from_euler(0.02, -0.03, np.pi / 2 + 0.5), atol=1e-12)


def test_lidar_poses_from_oxts_round_trip_with_a_real_kitti_calibration(shared_data: Path) -> None:
    calib = Calibration.from_kitti_file(shared_data / 'kitti_tracking' / 'training' / 'calib' / '0001.txt')
    T_lidar_imu = np.vstack([calib.kitti['Tr_imu_to_velo'], [0, 0, 0, 1]])
    # a drive that turns left: 40 frames, 12 m/s, 0.02 rad a frame
    imu = [planar(0.0, 0.0, 0.0)]
    for _ in range(39):
        imu.append(imu[-1] @ planar(1.2, 0.0, 0.02))
    imu_poses = np.array(imu)
    lidar = lidar_poses_from_oxts(oxts_from_imu_poses(imu_poses), T_lidar_imu)
    expected = imu_poses @ np.linalg.inv(T_lidar_imu)
    assert np.abs(lidar[:, :3, 3] - expected[:, :3, 3]).max() < 1e-6
    assert np.abs(lidar[:, :3, :3] - expected[:, :3, :3]).max() < 1e-9
    # the LiDAR's own motion between frames is the IMU's seen through the calibration
    step = np.linalg.inv(lidar[10]) @ lidar[11]
    assert np.allclose(step, T_lidar_imu @ planar(1.2, 0.0, 0.02) @ np.linalg.inv(T_lidar_imu), atol=1e-6)


def test_pose_files_round_trip_and_oxts_files_read(tmp_path: Path) -> None:
    poses = np.array([planar(0.1 * k, -0.05 * k, 0.01 * k) for k in range(5)])
    path = tmp_path / '0003.txt'
    path.write_text(format_pose_file(poses))
    assert len(path.read_text().splitlines()) == 5 and len(path.read_text().splitlines()[0].split()) == 12
    assert np.allclose(read_pose_file(path), poses, atol=1e-9)
    oxts = tmp_path / 'oxts.txt'
    oxts.write_text(format_oxts(oxts_from_imu_poses(poses)) + '\n')
    assert read_oxts(oxts).shape == (5, 30)


@pytest.mark.parametrize('text, message', [
    ('1 2 3\n', '<poses>:1: pose line has 3 numbers, expected 12'),
    ('1 ' * 12 + '\n' + 'x ' * 12 + '\n', '<poses>:2: pose line has a field that is not a number'),
    (' '.join(['nan'] * 12) + '\n', 'pose row 1 has a field that is not finite'),
    ('1 ' * 12 + '\n\n' + '1 ' * 12 + '\n', '<poses>:2: blank pose line'),
])
def test_pose_file_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_pose_file(text)


def test_oxts_errors_name_the_file_and_line() -> None:
    with pytest.raises(FormatError, match=r'seq7\.txt:2: oxts line has 29 numbers, expected 30'):
        parse_oxts(' '.join(['0'] * 30) + '\n' + ' '.join(['0'] * 29), source='seq7.txt')
