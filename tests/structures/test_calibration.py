"""Calibration: the real KITTI calib, omnifuse's extra sensor lines, projection, clear format errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from omnifuse.errors import FormatError, ShapeError
from omnifuse.structures import Calibration, CameraModel, UltrasonicSensor


def _fields(path: Path) -> dict[str, np.ndarray]:
    return {k: np.array([float(v) for v in rest.split()])
            for k, rest in (line.split(':', 1) for line in path.read_text().splitlines() if ':' in line)}


def test_parses_the_real_kitti_calib(calib: Calibration, calib_path: Path) -> None:
    raw = _fields(calib_path)
    assert set(calib.kitti) == {'P0', 'P1', 'P2', 'P3', 'R0_rect', 'Tr_velo_to_cam', 'Tr_imu_to_velo'}
    np.testing.assert_array_equal(calib.kitti['P2'], raw['P2'].reshape(3, 4))
    np.testing.assert_array_equal(calib.kitti['R0_rect'], raw['R0_rect'].reshape(3, 3))
    assert calib.kitti['P2'][0, 0] == pytest.approx(721.5377)
    cam = calib.cameras['image_2']
    np.testing.assert_array_equal(cam.P, calib.kitti['P2'])
    R0 = np.eye(4)
    R0[:3, :3] = raw['R0_rect'].reshape(3, 3)
    Tr = np.eye(4)
    Tr[:3] = raw['Tr_velo_to_cam'].reshape(3, 4)
    np.testing.assert_allclose(cam.T_cam_lidar, R0 @ Tr, atol=1e-15)
    np.testing.assert_allclose(calib.T_rect_lidar, R0 @ Tr, atol=1e-15)
    assert calib.camera('image_2') is cam
    # The LiDAR's +x (forward) is the camera's +z (forward), up to the small mounting angles.
    assert cam.T_cam_lidar[2, 0] == pytest.approx(1, abs=1e-3)


def test_project_then_lift_gives_back_the_points(calib: Calibration) -> None:
    rng = np.random.default_rng(0)
    pts = np.c_[rng.uniform(2, 60, 500), rng.uniform(-20, 20, 500), rng.uniform(-3, 2, 500)]
    cam = calib.cameras['image_2']
    uv, depth = cam.project(np.c_[pts, np.ones(500)])
    assert uv.shape == (500, 2) and np.all(depth > 0)
    np.testing.assert_allclose(cam.lift(uv, depth), pts, atol=1e-9)
    # A point straight ahead lands near the principal point.
    uv0, _ = cam.project(np.array([[50.0, 0.0, -0.08]]))
    assert abs(uv0[0, 0] - cam.P[0, 2]) < 30 and abs(uv0[0, 1] - cam.P[1, 2]) < 30


def _rig(calib: Calibration) -> Calibration:
    """The real KITTI calib plus a second camera, a thermal camera and two ultrasonic sensors."""
    K = np.array([[400.0, 0, 320, 0], [0, 400, 240, 0], [0, 0, 1, 0]])
    T = np.array([[0, -1, 0, 0.1], [0, 0, -1, -0.2], [1, 0, 0, -0.3]], dtype=float)
    out = Calibration(cameras=dict(calib.cameras), kitti=dict(calib.kitti))
    out.cameras['image_2'] = CameraModel(calib.kitti['P2'], calib.T_rect_lidar, 1242, 375)
    out.cameras['rear'] = CameraModel(K, T @ np.diag([-1.0, -1, 1, 1]), 640, 480)
    out.thermal['front'] = CameraModel(np.array([[300.0, 0, 160], [0, 300, 128], [0, 0, 1]]), T, 320, 256)
    out.ultrasonic['front_left'] = UltrasonicSensor(3.6, 0.7, -1.2, math.radians(30))
    out.ultrasonic['rear_right'] = UltrasonicSensor(-1.0, -0.8, -1.2, -2.5, 0.5, 0.2, 4.0)
    return out


def test_to_kitti_text_round_trips_with_extra_sensors(calib: Calibration) -> None:
    rig = _rig(calib)
    back = Calibration.from_kitti_text(rig.to_kitti_text(), source='round-trip')
    assert set(back.kitti) == set(rig.kitti)
    for key, value in rig.kitti.items():
        np.testing.assert_allclose(back.kitti[key], value, rtol=1e-11, atol=1e-15)
    for store in ('cameras', 'thermal'):
        ours, theirs = getattr(rig, store), getattr(back, store)
        assert set(theirs) == set(ours)
        for name, cam in ours.items():
            np.testing.assert_allclose(theirs[name].P, cam.P, rtol=1e-11)
            np.testing.assert_allclose(theirs[name].T_cam_lidar, cam.T_cam_lidar, rtol=1e-11, atol=1e-15)
            assert (theirs[name].width, theirs[name].height) == (cam.width, cam.height)
    assert set(back.ultrasonic) == {'front_left', 'rear_right'}
    for name, us in rig.ultrasonic.items():
        got = back.ultrasonic[name]
        for attr in ('x', 'y', 'z', 'yaw', 'half_angle', 'min_range', 'max_range'):
            assert getattr(got, attr) == pytest.approx(getattr(us, attr), rel=1e-11)
    assert back.camera('front') is back.thermal['front']
    # And once more: the text is a fixed point.
    assert Calibration.from_kitti_text(back.to_kitti_text()).to_kitti_text() == back.to_kitti_text()


def test_project_then_lift_on_an_extra_camera(calib: Calibration) -> None:
    rig = Calibration.from_kitti_text(_rig(calib).to_kitti_text())
    cam = rig.thermal['front']
    pts = np.array([[5.0, 1.0, 0.5], [12.0, -3.0, -1.0], [3.0, 0.0, 0.0]])
    uv, depth = cam.project(pts)
    np.testing.assert_allclose(cam.lift(uv, depth), pts, atol=1e-9)
    assert cam.in_image(uv, depth).tolist() == [True, True, True]
    assert not cam.in_image(*cam.project(np.array([[-5.0, 0.0, 0.0]])))[0]  # behind the camera


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / 'bad_calib.txt'
    path.write_text(text)
    return path


def test_malformed_calib_raises_format_error_naming_the_file_and_field(calib_path: Path,
                                                                       tmp_path: Path) -> None:
    lines = calib_path.read_text().splitlines()
    without_r0 = _write(tmp_path, '\n'.join(line for line in lines if not line.startswith('R0_rect')))
    with pytest.raises(FormatError, match='R0_rect') as err:
        Calibration.from_kitti_file(without_r0)
    assert str(without_r0) in str(err.value)

    short_p2 = _write(tmp_path, '\n'.join(line.rsplit(' ', 1)[0] if line.startswith('P2') else line
                                          for line in lines))
    with pytest.raises(FormatError, match=r"'P2' needs 12 numbers, found 11") as err:
        Calibration.from_kitti_file(short_p2)
    assert str(short_p2) in str(err.value)

    text = _write(tmp_path, '\n'.join(line.replace('9.999239000000e-01', 'abc') for line in lines))
    with pytest.raises(FormatError, match=r"'R0_rect' has a non-numeric value") as err:
        Calibration.from_kitti_file(text)
    assert str(text) in str(err.value)

    with pytest.raises(FormatError, match=r'bad_calib.txt:2: expected "key: values"'):
        Calibration.from_kitti_file(_write(tmp_path, lines[0] + '\nP1 1 2 3\n'))
    with pytest.raises(FormatError, match='us_front.*needs 7 numbers'):
        Calibration.from_kitti_text('us_front: 1 2 3\n', source='calib.txt')
    with pytest.raises(FormatError, match='thermal_ir_P has no matching thermal_ir_T'):
        Calibration.from_kitti_text('thermal_ir_P: ' + ' '.join(['1'] * 12) + '\n', source='calib.txt')
    with pytest.raises(FileNotFoundError):
        Calibration.from_kitti_file(tmp_path / 'missing.txt')


def test_unknown_camera_and_bad_shapes_are_reported() -> None:
    with pytest.raises(FormatError, match="no camera 'left'"):
        Calibration().camera('left')
    with pytest.raises(FormatError, match='R0_rect'):
        _ = Calibration().T_rect_lidar
    with pytest.raises(ShapeError, match='CameraModel.P'):
        CameraModel(np.zeros((2, 4)), np.eye(4))
    with pytest.raises(ShapeError, match='no image size'):
        CameraModel(np.eye(3), np.eye(4)).in_image(np.zeros((1, 2)), np.ones(1))


def test_reads_kitti_tracking_calib_keys_without_colon(calib_path: Path, tmp_path: Path) -> None:
    # KITTI tracking calib files write "R_rect ..." and "Tr_velo_cam ..." (no colon) for the object keys.
    object_text = calib_path.read_text()
    tracking_text = (object_text.replace('R0_rect:', 'R_rect').replace('Tr_velo_to_cam:', 'Tr_velo_cam')
                     .replace('Tr_imu_to_velo:', 'Tr_imu_velo'))
    assert 'R_rect 9.999239' in tracking_text
    ref = Calibration.from_kitti_text(object_text)
    got = Calibration.from_kitti_file(_write(tmp_path, tracking_text))
    assert set(got.kitti) == set(ref.kitti)
    for key in ref.kitti:
        np.testing.assert_array_equal(got.kitti[key], ref.kitti[key])
    np.testing.assert_array_equal(got.T_rect_lidar, ref.T_rect_lidar)

    short = _write(tmp_path, '\n'.join(line.rsplit(' ', 1)[0] if line.startswith('Tr_velo_cam') else line
                                       for line in tracking_text.splitlines()))
    with pytest.raises(FormatError, match=r"'Tr_velo_cam' needs 12 numbers, found 11") as err:
        Calibration.from_kitti_file(short)
    assert str(short) in str(err.value)
    without = _write(tmp_path, '\n'.join(line for line in tracking_text.splitlines() if not line.startswith('R_rect')))
    with pytest.raises(FormatError, match="missing field 'R0_rect'.*R_rect"):
        Calibration.from_kitti_file(without)
    with pytest.raises(FormatError, match=r'bad_calib.txt:1: expected "key: values"'):
        Calibration.from_kitti_file(_write(tmp_path, 'R0_rect 1 0 0 0 1 0 0 0 1\n'))
