"""Boxes3D: KITTI camera <-> LiDAR conversion, corners, projection, on the real calib of frame 000002."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnifuse.errors import ShapeError
from omnifuse.structures import Boxes3D, Calibration
from omnifuse.structures.boxes3d import clip_image_boxes, image_boxes, meets_image
from omnifuse.structures.geometry import box_iou_3d, wrap_angle

# The Car of training/label_2/000002.txt: bbox 657.39 190.13 700.07 223.39, h w l x y z ry.
CAR_BBOX = np.array([657.39, 190.13, 700.07, 223.39])
CAR_CAMERA = np.array([1.41, 1.58, 4.36, 3.18, 2.27, 34.38, -1.58])




def _raw_matrices(path: Path) -> dict[str, np.ndarray]:
    """The calib file read with nothing but str.split (independent of Calibration)."""
    out = {}
    for line in path.read_text().splitlines():
        if ':' in line:
            key, values = line.split(':', 1)
            out[key] = np.array([float(v) for v in values.split()])
    return out


def test_the_labelled_car_converts_as_the_docstring_formula_says(calib: Calibration, calib_path: Path,
                                                                kitti_root: Path) -> None:
    label = (kitti_root / 'training' / 'label_2' / '000002.txt').read_text().splitlines()
    car = [line.split() for line in label if line.startswith('Car ')][0]
    np.testing.assert_allclose([float(v) for v in car[8:15]], CAR_CAMERA)
    raw = _raw_matrices(calib_path)
    # By hand: R0_rect (3x3) and Tr_velo_to_cam (3x4) padded to 4x4.
    R0 = np.eye(4)
    R0[:3, :3] = raw['R0_rect'].reshape(3, 3)
    Tr = np.eye(4)
    Tr[:3] = raw['Tr_velo_to_cam'].reshape(3, 4)
    h, w, length, x, y, z, ry = CAR_CAMERA
    centre = np.linalg.solve(R0 @ Tr, np.array([x, y - h / 2, z, 1.0]))[:3]
    expected_yaw = -ry - math.pi / 2  # already in [-pi, pi)
    boxes = Boxes3D.from_kitti_camera(CAR_CAMERA[None], calib.T_rect_lidar)
    assert boxes.frame == 'lidar' and len(boxes) == 1
    np.testing.assert_allclose(boxes.data[0, :3], centre, atol=1e-9)
    np.testing.assert_allclose(boxes.data[0, 3:6], [length, w, h], atol=1e-12)
    assert boxes.data[0, 6] == pytest.approx(expected_yaw, abs=1e-12)
    # Sanity in LiDAR terms: ~34.7 m ahead, ~3.2 m to the right, heading almost along +x, on the road
    # (the Velodyne is 1.73 m above it).
    assert 34 < centre[0] < 35.5 and -3.5 < centre[1] < -2.8
    assert abs(boxes.data[0, 6]) < 0.05
    assert boxes.bottom_centers[0, 2] == pytest.approx(-1.73 - 0.3, abs=0.4)


def test_the_labelled_car_projects_onto_its_2d_box(calib: Calibration) -> None:
    boxes = Boxes3D.from_kitti_camera(CAR_CAMERA[None], calib.T_rect_lidar)
    projected = boxes.project_to_image(calib.cameras['image_2'], clip=False)
    assert projected.shape == (1, 4)
    np.testing.assert_allclose(projected[0], CAR_BBOX, atol=3.0)


def test_boxes_behind_the_camera_project_to_nan(calib: Calibration) -> None:
    behind = Boxes3D(np.array([[-10.0, 0, -1, 4, 2, 1.5, 0]]))
    assert np.isnan(behind.project_to_image(calib.cameras['image_2'])).all()
    assert behind.project_to_image(calib.cameras['image_2']).shape == (1, 4)


def test_one_corner_projection_and_one_clipping_rule(calib: Calibration) -> None:
    """image_boxes is what project_to_image and the KITTI result conversion project; clip_image_boxes cuts to the
    last pixel (labels, tracks) or, to_edge, to the image edge (mmdet3d's result files)."""
    cam = calib.cameras['image_2']
    # a car in view, one partly left of the image and one straddling the image plane, one behind the camera
    boxes = np.array([[15.0, 0, -1, 4, 2, 1.5, 0.3], [6.0, 6.0, -1, 4, 2, 1.5, 0], [1.0, 0, -1, 4, 2, 1.5, 0],
                      [-10.0, 0, -1, 4, 2, 1.5, 0]])
    near = image_boxes(boxes, cam.T_cam_lidar, cam.P)
    np.testing.assert_array_equal(near, Boxes3D(boxes).project_to_image(cam, clip=False))
    assert np.isnan(near[3]).all() and np.isfinite(near[:3]).all()
    plain = image_boxes(boxes, cam.T_cam_lidar, cam.P, near=None)
    np.testing.assert_array_equal(plain[0], near[0])  # all corners in front: the same projection
    assert np.isfinite(plain[3]).all()  # no clamping: a box behind the camera gets a (meaningless) box
    width, height = 1242, 375
    assert meets_image(near, width, height).tolist() == [True, True, True, False]
    last = clip_image_boxes(near, width, height)
    edge = clip_image_boxes(near, width, height, to_edge=True)
    assert last[:3, [0, 2]].min() >= 0 and last[:3, [0, 2]].max() <= width - 1 and last[:3, 3].max() <= height - 1
    assert edge[:3, 2].max() <= width and edge[:3, 3].max() <= height and np.isnan(last[3]).all()
    sized = dataclasses.replace(cam, width=width, height=height)
    np.testing.assert_array_equal(last[:3], Boxes3D(boxes[:3]).project_to_image(sized))
    np.testing.assert_array_equal(clip_image_boxes(near[:1], width, height), near[:1])  # inside: unchanged


def test_corners_of_the_car(calib: Calibration) -> None:
    boxes = Boxes3D.from_kitti_camera(CAR_CAMERA[None], calib.T_rect_lidar)
    x, y, z, dx, dy, dz, yaw = boxes.data[0]
    corners = boxes.corners()[0]
    assert corners.shape == (8, 3)
    np.testing.assert_allclose(corners.mean(0), [x, y, z], atol=1e-12)
    np.testing.assert_allclose(corners[:4, 2], z - dz / 2, atol=1e-12)
    np.testing.assert_allclose(corners[4:, 2], z + dz / 2, atol=1e-12)
    heading = np.array([math.cos(yaw), math.sin(yaw)])
    left = np.array([-math.sin(yaw), math.cos(yaw)])
    # front-left, front-right, rear-right, rear-left; the top face repeats the bottom one.
    for k, (f, s) in enumerate(((1, 1), (1, -1), (-1, -1), (-1, 1))):
        expected = np.array([x, y]) + f * dx / 2 * heading + s * dy / 2 * left
        np.testing.assert_allclose(corners[k, :2], expected, atol=1e-12)
    np.testing.assert_allclose(corners[4:, :2], corners[:4, :2], atol=0)
    assert np.linalg.norm(corners[0] - corners[3]) == pytest.approx(dx)  # front-left to rear-left
    assert np.linalg.norm(corners[0] - corners[1]) == pytest.approx(dy)
    # The front face is the one the car drives towards: forward in the LiDAR frame (+x).
    assert corners[[0, 1], 0].mean() > corners[[2, 3], 0].mean()


lidar_box = st.tuples(st.floats(0.5, 70), st.floats(-40, 40), st.floats(-3, 1), st.floats(0.2, 10),
                      st.floats(0.2, 4), st.floats(0.2, 4), st.floats(-math.pi, math.pi, exclude_max=True))


@settings(max_examples=80, deadline=None)
@given(st.lists(lidar_box, min_size=1, max_size=6))
def test_lidar_to_camera_and_back_is_the_identity(calib: Calibration, rows: list[tuple[float, ...]]) -> None:
    boxes = Boxes3D(np.array(rows))
    camera = boxes.to_kitti_camera(calib.T_rect_lidar)
    assert camera.shape == (len(rows), 7)
    np.testing.assert_allclose(camera[:, :3], boxes.data[:, [5, 4, 3]], atol=1e-12)  # h w l
    assert np.all((camera[:, 6] >= -math.pi) & (camera[:, 6] < math.pi))
    back = Boxes3D.from_kitti_camera(camera, calib.T_rect_lidar)
    np.testing.assert_allclose(back.data[:, :6], boxes.data[:, :6], atol=1e-9)
    np.testing.assert_allclose(wrap_angle(back.data[:, 6] - boxes.data[:, 6]), 0, atol=1e-9)
    # The camera-frame centre is the LiDAR centre moved by T_rect_lidar (then to the bottom face).
    centre = boxes.data[:, :3] @ calib.T_rect_lidar[:3, :3].T + calib.T_rect_lidar[:3, 3]
    np.testing.assert_allclose(camera[:, 3:6], centre + np.c_[np.zeros(len(rows)), camera[:, 0] / 2,
                                                              np.zeros(len(rows))], atol=1e-9)


@settings(max_examples=50, deadline=None)
@given(st.lists(lidar_box, min_size=1, max_size=4), st.floats(-math.pi, math.pi), st.floats(-20, 20),
       st.floats(-20, 20))
def test_transformed_moves_corners_rigidly(rows: list[tuple[float, ...]], theta: float, tx: float,
                                           ty: float) -> None:
    boxes = Boxes3D(np.array(rows))
    T = np.eye(4)
    T[:2, :2] = [[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]]
    T[:3, 3] = [tx, ty, 0.5]
    moved = boxes.transformed(T, 'odom')
    assert moved.frame == 'odom'
    expected = boxes.corners() @ T[:3, :3].T + T[:3, 3]
    np.testing.assert_allclose(moved.corners(), expected, atol=1e-9)
    assert np.all((moved.data[:, 6] >= -math.pi) & (moved.data[:, 6] < math.pi))
    np.testing.assert_allclose(np.diag(box_iou_3d(moved.data, moved.data)), 1, atol=1e-9)


def test_boxes3d_shape_checks_and_indexing() -> None:
    assert len(Boxes3D(np.zeros((0,)))) == 0
    with pytest.raises(ShapeError, match=r'\(N, 7\)'):
        Boxes3D(np.zeros((3, 6)))
    boxes = Boxes3D(np.arange(21, dtype=float).reshape(3, 7), 'lidar')
    assert boxes[1].data.shape == (1, 7) and boxes[1].data[0, 0] == 7
    assert len(boxes[np.array([True, False, True])]) == 2
