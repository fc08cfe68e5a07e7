"""`omnifuse inspect` end to end, checked against computations written out in this file."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.kitti_text import raw_calib

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, '-m', 'omnifuse', 'inspect', *args], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=120)


def _expected(kitti_root: Path, frame: str) -> dict:
    """The inspect record computed from the raw files with P2·R0·Tr written out."""
    train = kitti_root / 'training'
    raw = np.fromfile(train / 'velodyne' / f'{frame}.bin', dtype=np.float32).reshape(-1, 4)
    pts = raw[:, :3].astype(np.float64)
    c = raw_calib(train / 'calib' / f'{frame}.txt')
    P2 = c['P2'].reshape(3, 4)
    R0 = np.eye(4)
    R0[:3, :3] = c['R0_rect'].reshape(3, 3)
    Tr = np.eye(4)
    Tr[:3] = c['Tr_velo_to_cam'].reshape(3, 4)
    M = P2 @ R0 @ Tr  # (3, 4) LiDAR -> image
    h_img, w_img = cv2.imread(str(train / 'image_2' / f'{frame}.png')).shape[:2]
    hom = np.c_[pts, np.ones(len(pts))] @ M.T
    d = hom[:, 2]
    with np.errstate(divide='ignore', invalid='ignore'):
        u, v = hom[:, 0] / d, hom[:, 1] / d
    fov = (d > 0) & (u >= 0) & (u < w_img) & (v >= 0) & (v < h_img)
    objects = []
    for line in (train / 'label_2' / f'{frame}.txt').read_text().splitlines():
        parts = line.split()
        if not parts or parts[0] == 'DontCare':
            continue
        h, w, length, x, y, z, ry = (float(s) for s in parts[8:15])
        centre = (np.linalg.inv(R0 @ Tr) @ [x, y - h / 2, z, 1.0])[:3]
        yaw = -ry - np.pi / 2
        rel = pts - centre
        along = rel[:, 0] * np.cos(yaw) + rel[:, 1] * np.sin(yaw)
        across = -rel[:, 0] * np.sin(yaw) + rel[:, 1] * np.cos(yaw)
        inside = (np.abs(along) <= length / 2) & (np.abs(across) <= w / 2) & (np.abs(rel[:, 2]) <= h / 2)
        n_in = int(inside.sum())
        signs = np.array([[sx, sy, sz] for sx in (-.5, .5) for sy in (-.5, .5) for sz in (-.5, .5)])
        local = signs * [length, w, h]
        rot = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
        corners = local @ rot.T + centre
        ch = np.c_[corners, np.ones(8)] @ M.T
        assert (ch[:, 2] > 0).all()  # these frames' boxes lie wholly in front of the camera
        cuv = ch[:, :2] / ch[:, 2:]
        box2d = [max(cuv[:, 0].min(), 0), max(cuv[:, 1].min(), 0),
                 min(cuv[:, 0].max(), w_img - 1), min(cuv[:, 1].max(), h_img - 1)]
        objects.append({'class': parts[0], 'centre': centre, 'yaw': yaw, 'dims': [length, w, h],
                        'num_points': n_in, 'bbox_2d': box2d, 'label_bbox': [float(s) for s in parts[4:8]]})
    return {'num_points': len(pts), 'fov': int(fov.sum()), 'size': [w_img, h_img], 'objects': objects}


@pytest.mark.parametrize('frame', ['000000', '000002'])
def test_json_matches_an_independent_computation(kitti_root: Path, frame: str) -> None:
    res = _cli('kitti', '--root', str(kitti_root), '--frame', frame, '--json', '-')
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert list(out) == ['frame', 'num_points', 'non_finite_points', 'points_in_image_fov', 'image_size', 'objects']
    assert out['frame'] == frame and isinstance(out['num_points'], int)
    assert out['non_finite_points'] == 0  # the real scans hold no NaN rows
    exp = _expected(kitti_root, frame)
    assert out['num_points'] == exp['num_points']
    assert out['points_in_image_fov'] == exp['fov'] > 10000
    assert out['image_size'] == exp['size']
    assert len(out['objects']) == len(exp['objects']) > 0
    for got, want in zip(out['objects'], exp['objects'], strict=True):
        assert list(got) == ['class', 'box_lidar', 'num_points', 'bbox_2d']
        assert got['class'] == want['class']
        assert len(got['box_lidar']) == 7 and all(isinstance(v, float) for v in got['box_lidar'])
        np.testing.assert_allclose(got['box_lidar'][:3], want['centre'], atol=1e-9)
        np.testing.assert_allclose(got['box_lidar'][3:6], want['dims'])
        assert np.isclose(np.cos(got['box_lidar'][6]), np.cos(want['yaw']))
        assert np.isclose(np.sin(got['box_lidar'][6]), np.sin(want['yaw']))
        assert -np.pi <= got['box_lidar'][6] < np.pi
        assert isinstance(got['num_points'], int) and got['num_points'] == want['num_points'] > 0
        np.testing.assert_allclose(got['bbox_2d'], want['bbox_2d'], atol=1e-6)
        # and the annotators' own 2D box overlaps the projection well
        a, b = np.array(got['bbox_2d']), np.array(want['label_bbox'])
        inter = np.prod(np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None))
        union = np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter
        assert inter / union > 0.75


def test_text_output_and_png(kitti_root: Path, tmp_path: Path) -> None:
    png = tmp_path / 'sub' / 'k2.png'
    res = _cli('kitti', '--root', str(kitti_root), '--frame', '000002', '--png', str(png))
    assert res.returncode == 0, res.stderr
    exp = _expected(kitti_root, '000002')
    assert f'points_in_image_fov: {exp["fov"]}' in res.stdout
    assert 'Misc' in res.stdout and 'Car' in res.stdout
    pic = cv2.imread(str(png))
    assert pic is not None
    photo = cv2.imread(str(kitti_root / 'training' / 'image_2' / '000002.png'))
    h, w = photo.shape[:2]
    assert pic.shape[1] > w + 400 and pic.shape[0] >= h  # camera view beside a bird's-eye view
    changed = np.abs(pic[:h, :w].astype(int) - photo.astype(int)).sum(2) > 30
    assert changed.mean() > 0.1  # points and boxes drawn over the photo
    # the Car box (class colour green, BGR (0, 255, 0)) is drawn along its projected 2D extent
    car = exp['objects'][1]['bbox_2d']
    region = pic[int(car[1]):int(car[3]) + 1, int(car[0]):int(car[2]) + 1]
    assert ((region[..., 1] > 200) & (region[..., 0] < 60) & (region[..., 2] < 60)).sum() > 50
    bev = pic[:, w + 20:]
    assert (bev.max(2) > 60).mean() > 0.01  # grid, points, boxes


def test_waymo_json_and_objects_behind_the_camera(shared_data: Path, tmp_path: Path) -> None:
    root = shared_data / 'waymo' / 'kitti_format'
    res = _cli('waymo', '--root', str(root), '--frame', '1000000', '--json', '-', '--png', str(tmp_path / 'w.png'))
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out['image_size'] == [1920, 1280] and out['num_points'] == 800
    assert out['objects'][0]['class'] == 'Car' and out['objects'][0]['box_lidar'][0] < 0
    assert out['objects'][0]['bbox_2d'] is None  # wholly behind the front camera
    assert cv2.imread(str(tmp_path / 'w.png')) is not None
    res = _cli('waymo', '--root', str(root), '--frame', '0000000', '--json', '-')
    b = json.loads(res.stdout)['objects'][0]['bbox_2d']
    np.testing.assert_allclose(b, [983.85, 376.87, 1207.37, 621.74], atol=2.0)  # mmdet3d's stored 2D box


def _one_line_error(res: subprocess.CompletedProcess) -> str:
    assert res.returncode == 2
    assert res.stdout == ''
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert 'Traceback' not in res.stderr
    return lines[0]


def test_errors_are_one_line_with_exit_code_2(kitti_root: Path, tmp_path: Path, shared_data: Path) -> None:
    msg = _one_line_error(_cli('kitti', '--root', str(kitti_root), '--frame', '999999'))
    assert "no frame '999999'" in msg
    msg = _one_line_error(_cli('kitti', '--root', str(tmp_path), '--frame', '000000'))
    assert 'not a KITTI object layout' in msg
    msg = _one_line_error(_cli('kitti', '--root', str(tmp_path / 'nope'), '--frame', '000000'))
    assert str(tmp_path / 'nope') in msg
    # a malformed label line: a layout of links to the real frame plus a broken label file
    train = tmp_path / 'bad' / 'training'
    for sub, ext in (('velodyne', '.bin'), ('image_2', '.png'), ('calib', '.txt')):
        (train / sub).mkdir(parents=True)
        (train / sub / f'000002{ext}').symlink_to(kitti_root / 'training' / sub / f'000002{ext}')
    (train / 'label_2').mkdir()
    good = 'Car 0.00 0 -1.67 657.39 190.13 700.07 223.39 1.41 1.58 4.36 3.18 2.27 34.38 -1.58'
    (train / 'label_2' / '000002.txt').write_text(f'{good}\nCar 0.00 0 -1.67 657.39\n')
    msg = _one_line_error(_cli('kitti', '--root', str(tmp_path / 'bad'), '--frame', '000002', '--json', '-'))
    assert 'label_2/000002.txt:2' in msg and 'expected 15 columns' in msg
    # an info file that would run a command
    evil = tmp_path / 'evil'
    evil.mkdir()
    (evil / 'waymo_infos_val.pkl').write_bytes(pickle.dumps({'data_list': [os.system]}, protocol=2))
    msg = _one_line_error(_cli('waymo', '--root', str(evil), '--frame', '1000000'))
    assert 'waymo_infos_val.pkl: refused to load global' in msg
    # argparse: a dataset kind that does not exist
    res = _cli('nuscenes', '--root', str(kitti_root), '--frame', '000000')
    assert res.returncode == 2 and 'invalid choice' in res.stderr


def test_help_explains_every_option() -> None:
    res = _cli('--help')
    assert res.returncode == 0
    for opt in ('--root', '--frame', '--json', '--png', '--subdir', '--info', '--camera', '--max-depth',
                'kitti', 'waymo', '"points_in_image_fov": int'):
        assert opt in res.stdout


def test_drawing_helpers_orientation_and_clipping() -> None:
    """BEV: +x is up, +y is left; boxes partly behind the camera are clipped, not dropped."""
    from omnifuse.structures import Boxes3D, CameraModel
    from omnifuse.viz import draw_bev, draw_boxes_on_image, draw_points_on_image, project_box_edges

    bev = draw_bev(np.array([[30.0, 0.0, 0.0], [0.0, 15.0, 0.0]]), (), bev_range=(-20, -20, 40, 20),
                   resolution=0.5, point_colors=np.array([[255, 0, 0], [0, 0, 255]], np.uint8), grid=0)
    assert bev.shape == (120, 80, 3)
    red = np.argwhere((bev == [255, 0, 0]).all(2))
    blue = np.argwhere((bev == [0, 0, 255]).all(2))
    assert red.tolist() == [[20, 40]]  # row (40 - 30) / 0.5, column (20 - 0) / 0.5
    assert blue.tolist() == [[80, 10]]  # row (40 - 0) / 0.5, column (20 - 15) / 0.5: left of centre
    cam = CameraModel(np.array([[100.0, 0, 50, 0], [0, 100, 40, 0], [0, 0, 1, 0]]),
                      np.array([[0.0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0]]), 100, 80)
    img = np.zeros((80, 100, 3), np.uint8)
    near = draw_points_on_image(img, np.array([[10.0, 10.0], [10.2, 10.4]]), np.array([50.0, 2.0]), radius=0)
    far = draw_points_on_image(img, np.array([[10.2, 10.4], [10.0, 10.0]]), np.array([2.0, 50.0]), radius=0)
    assert (near[10, 10] == far[10, 10]).all() and near[10, 10, 0] > near[10, 10, 2]  # nearest wins, red
    boxes = Boxes3D(np.array([[0.5, 0.0, 0.0, 4.0, 2.0, 1.5, 0.0]]))  # straddles the image plane
    segs = project_box_edges(boxes.corners(), cam)
    assert np.isfinite(segs).all(axis=(2, 3)).sum() == 10  # the rear face (x = -1.5) is hidden
    drawn = draw_boxes_on_image(img, segs, [(0, 255, 0)], ['b'])
    assert (drawn[..., 1] > 0).sum() > 50
    with_corners = draw_boxes_on_image(img, np.array([[[10, 10], [90, 10], [90, 70], [10, 70]] * 2], float))
    assert (with_corners[10, 10:90, 1] == 255).all()
