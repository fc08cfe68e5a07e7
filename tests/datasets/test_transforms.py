"""Detection transforms: global augmentation consistent across points, boxes and camera geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from omnifuse.datasets.det_dataset import KittiDetDataset, frame_to_results
from omnifuse.datasets.kitti import KittiReader
from omnifuse.datasets.transforms import (
    BeamSubsample,
    ExtrinsicNoise,
    GlobalRotScaleFlip,
    ImageResize,
    ObjectNameFilter,
    ObjectRangeFilter,
    PackDetInputs,
    PointRangeFilter,
    PointShuffle,
    RandomDropModality,
    apply_global_transform,
)
from omnifuse.structures.geometry import box_corners
from omnifuse.structures.geometry_torch import points_in_boxes_torch


def _project(l2i: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    hom = np.concatenate([xyz, np.ones((len(xyz), 1))], 1) @ l2i.T
    return hom[:, :2] / hom[:, 2:3]


@pytest.fixture(scope='module')
def results(kitti_root):
    frame = KittiReader(kitti_root).read('000000')
    return frame_to_results(frame)


def _copy(res: dict) -> dict:
    out = dict(res)
    out['cams'] = {m: {k: dict(v) for k, v in store.items()} for m, store in res['cams'].items()}
    out['images'] = dict(res['images'])
    return out


@settings(max_examples=40, deadline=None)
@given(st.floats(-math.pi, math.pi), st.floats(0.9, 1.1), st.booleans())
def test_global_transform_keeps_pixels_and_box_membership(results, angle: float, scale: float, flip: bool) -> None:
    res = _copy(results)
    pts0 = res['points'][:2000]
    res['points'] = pts0.copy()
    boxes0 = res['gt_boxes'].copy()
    l2i0 = res['cams']['camera']['image_2']['lidar2img'].copy()
    out = apply_global_transform(res, angle=angle, scale=scale, flip_y=flip)
    # 1. every point projects to the same pixel through the updated camera matrix
    front = pts0[:, 0] > 2
    uv0 = _project(l2i0, pts0[front, :3].astype(np.float64))
    uv1 = _project(out['cams']['camera']['image_2']['lidar2img'], out['points'][front, :3].astype(np.float64))
    np.testing.assert_allclose(uv1, uv0, atol=1e-2)
    # 2. the same points are inside the transformed boxes (yaw and size moved consistently)
    near = torch.from_numpy(pts0[:, :3]).double()
    inside0 = points_in_boxes_torch(near, torch.from_numpy(boxes0))
    inside1 = points_in_boxes_torch(torch.from_numpy(out['points'][:, :3]).double(), torch.from_numpy(out['gt_boxes']))
    assert int((inside0 != inside1).sum()) <= 1  # float32 points on a face may flip
    # 3. corners move with the matrix, yaw stays wrapped
    A = out['aug_matrix']
    c0 = box_corners(boxes0).reshape(-1, 3)
    c1 = box_corners(out['gt_boxes']).reshape(-1, 3)
    np.testing.assert_allclose(np.sort(c1, 0), np.sort(c0 @ A[:3, :3].T, 0), atol=1e-6)
    assert np.all(out['gt_boxes'][:, 6] >= -math.pi) and np.all(out['gt_boxes'][:, 6] < math.pi)


def test_random_global_transform_is_seeded(results) -> None:
    a = GlobalRotScaleFlip(seed=3)(_copy(results))
    b = GlobalRotScaleFlip(seed=3)(_copy(results))
    np.testing.assert_array_equal(a['aug_matrix'], b['aug_matrix'])
    assert not np.allclose(a['aug_matrix'], np.eye(4))


def test_image_resize_scales_the_projection(results) -> None:
    res = ImageResize(scale=0.5)(_copy(results))
    img = res['images']['image_2']
    h, w = results['images']['image_2'].shape[:2]
    assert img.shape[:2] == (round(h * 0.5), round(w * 0.5))
    assert res['cams']['camera']['image_2']['img_hw'] == img.shape[:2]
    xyz = results['points'][results['points'][:, 0] > 5][:100, :3].astype(np.float64)
    np.testing.assert_allclose(_project(res['cams']['camera']['image_2']['lidar2img'], xyz),
                               _project(results['cams']['camera']['image_2']['lidar2img'], xyz) * 0.5, rtol=1e-9)


def test_extrinsic_noise_moves_projections_by_the_error(results) -> None:
    res = ExtrinsicNoise(rot_deg=1.0, trans_m=0.0, seed=1)(_copy(results))
    xyz = results['points'][results['points'][:, 0] > 20][:, :3].astype(np.float64)
    uv0 = _project(results['cams']['camera']['image_2']['lidar2img'], xyz)
    h, w = results['cams']['camera']['image_2']['img_hw']
    seen = (uv0[:, 0] >= 0) & (uv0[:, 0] < w) & (uv0[:, 1] >= 0) & (uv0[:, 1] < h)
    assert seen.sum() > 100
    shift = np.linalg.norm(_project(res['cams']['camera']['image_2']['lidar2img'], xyz[seen]) - uv0[seen], axis=1)
    f = results['cams']['camera']['image_2']['P'][0, 0]
    assert np.median(shift) > 0.2 * f * math.radians(1.0)  # a 1 degree error moves far points by pixels
    assert shift.max() < 2.5 * f * math.radians(1.0)  # at most ~ (f + image radius) * angle


def test_extrinsic_noise_as_augmentation_prob_and_uniform_magnitude(results) -> None:
    never = ExtrinsicNoise(rot_deg=1.0, trans_m=0.2, prob=0.0)(_copy(results))
    np.testing.assert_array_equal(never['cams']['camera']['image_2']['lidar2img'],
                                  results['cams']['camera']['image_2']['lidar2img'])
    xyz = results['points'][results['points'][:, 0] > 20][:, :3].astype(np.float64)
    uv0 = _project(results['cams']['camera']['image_2']['lidar2img'], xyz)
    f = results['cams']['camera']['image_2']['P'][0, 0]
    noise = ExtrinsicNoise(rot_deg=1.0, trans_m=0.0, prob=0.5, uniform=True, seed=3)
    shifts = []
    for _ in range(40):
        out = noise(_copy(results))
        uv = _project(out['cams']['camera']['image_2']['lidar2img'], xyz)
        shifts.append(np.median(np.linalg.norm(uv - uv0, axis=1)))
    shifts = np.array(shifts)
    assert 8 <= (shifts == 0).sum() <= 32  # about half the samples untouched
    moved = shifts[shifts > 0]
    assert moved.max() < 2.5 * f * math.radians(1.0)  # never more than the full 1 degree error can move
    assert moved.min() < 0.5 * moved.max()  # magnitudes vary (uniform), not all the full error


def test_filters_shuffle_and_drop(results) -> None:
    pr = (0, -20, -3, 40, 20, 1)
    res = PointRangeFilter(point_range=pr)(_copy(results))
    p = res['points']
    assert len(p) < len(results['points']) and (p[:, 0] >= 0).all() and (p[:, 1] < 20).all()
    res['gt_boxes'] = np.array([[5, 0, 0, 4, 2, 1.5, 0], [50, 0, 0, 4, 2, 1.5, 0]], dtype=float)
    res['gt_names'] = ['Car', 'Car']
    res = ObjectRangeFilter(point_range=pr)(res)
    assert len(res['gt_boxes']) == 1 and res['gt_names'] == ['Car']
    res['gt_names'] = ['Van']
    res = ObjectNameFilter(classes=('Car', 'Pedestrian'))(res)
    assert len(res['gt_boxes']) == 0 and res['gt_labels'].shape == (0,)
    shuffled = PointShuffle(seed=0)(dict(points=p.copy()))['points']
    assert not np.array_equal(shuffled, p)
    np.testing.assert_array_equal(np.sort(shuffled, 0), np.sort(p, 0))
    assert RandomDropModality(camera_prob=1.0)(_copy(results))['images'] == {}
    assert RandomDropModality(camera_prob=0.0)(_copy(results))['images'] != {}


def test_pack_and_dataset_give_tensors_and_metric_fields(kitti_root) -> None:
    ds = KittiDetDataset(data_root=str(kitti_root), class_names=['Car', 'Pedestrian', 'Cyclist'],
                         pipeline=[dict(type='ObjectNameFilter', classes=['Car', 'Pedestrian', 'Cyclist']),
                                   dict(type='PackDetInputs')])
    assert len(ds) == 2
    item = ds[0]
    sample = item['data_samples']
    assert item['inputs']['points'].dtype == torch.float32 and item['inputs']['points'].shape[1] == 4
    assert sample.gt_boxes.shape == (1, 7) and sample.gt_labels.tolist() == [1]  # frame 000000: one pedestrian
    image = sample.cameras['camera']['image_2'].image
    h, w = image.shape[1:]
    assert image.shape[0] == 3 and image.dtype == torch.uint8
    assert sample.gt_kitti.name.tolist() == ['Pedestrian']
    cam = sample.main_camera
    assert sample.frame_id == '000000' and (cam.width, cam.height) == (w, h)
    assert cam.T_cam_lidar.shape == (4, 4) and cam.P.shape == (3, 4)
    packed = PackDetInputs()(dict(points=np.zeros((3, 4), np.float32)))
    assert packed['data_samples'].gt_boxes.shape == (0, 7) and packed['data_samples'].main_camera is None
    # boxes without an ObjectNameFilter get the label -1 (a class the model does not detect)
    packed = PackDetInputs()(dict(points=np.zeros((3, 4), np.float32), gt_boxes=np.zeros((2, 7))))
    assert packed['data_samples'].gt_labels.tolist() == [-1, -1]


def test_beam_subsample_partitions_a_real_kitti_scan(results) -> None:
    pts = results['points']
    parts = [BeamSubsample(keep_every=4, offset=k)(dict(points=pts.copy()))['points'] for k in range(4)]
    assert sum(len(p) for p in parts) == len(pts)  # every point in exactly one group
    for p in parts:
        assert 0.12 < len(p) / len(pts) < 0.38
    rows = {tuple(r) for r in parts[0].tolist()}
    assert not rows & {tuple(r) for r in parts[1].tolist()}
    assert len(BeamSubsample(keep_every=1)(dict(points=pts.copy()))['points']) == len(pts)


@pytest.mark.parametrize('kwargs, word', [(dict(keep_every=0), 'keep_every'), (dict(keep_every=2, offset=2), 'offset'),
                                          (dict(elevations_deg=[1.0]), 'elevations_deg')])
def test_beam_subsample_rejects_bad_arguments(kwargs, word) -> None:
    with pytest.raises(ValueError, match=word):
        BeamSubsample(**kwargs)


def test_random_tilt_moves_points_boxes_and_cameras_together(results) -> None:
    from omnifuse.datasets.transforms import RandomTilt

    res = _copy(results)
    pts0 = res['points'].copy()
    boxes0 = res['gt_boxes'].copy()
    l2i0 = res['cams']['camera']['image_2']['lidar2img'].copy()
    out = RandomTilt(max_deg=2.0, z_range=(-0.1, 0.1), seed=3)(res)
    A = out['aug_matrix']
    pitch = math.degrees(math.asin(-A[2, 0]))
    assert 0 < abs(pitch) <= 2.0 + 1e-9 and -0.1 <= A[2, 3] <= 0.1 and abs(A[2, 3]) > 0
    np.testing.assert_allclose(A[:3, :3] @ A[:3, :3].T, np.eye(3), atol=1e-12)  # a rotation
    front = pts0[:, 0] > 2  # pixels unchanged through the updated camera
    l2i = out['cams']['camera']['image_2']['lidar2img']
    np.testing.assert_allclose(_project(l2i, out['points'][front, :3].astype(np.float64)),
                               _project(l2i0, pts0[front, :3].astype(np.float64)), atol=1e-2)
    np.testing.assert_allclose(out['gt_boxes'][:, :3], boxes0[:, :3] @ A[:3, :3].T + A[:3, 3], atol=1e-9)
    np.testing.assert_array_equal(out['gt_boxes'][:, 3:], boxes0[:, 3:])  # size and yaw kept
    # the ground (points 1.5-1.9 m below the sensor, 5-20 m away) tilts by the pitch: its height varies
    dist = np.hypot(pts0[:, 0], pts0[:, 1])
    ring = (np.abs(pts0[:, 2] + 1.73) < 0.2) & (dist > 5) & (dist < 20)
    assert np.std(out['points'][ring, 2]) > np.std(pts0[ring, 2])
    with pytest.raises(ValueError, match='RandomTilt'):
        RandomTilt(max_deg=-1)


def test_random_object_scale_resizes_each_object_with_its_points() -> None:
    from omnifuse.datasets.transforms import RandomObjectScale
    from omnifuse.structures.geometry import points_in_boxes

    rng = np.random.default_rng(0)
    boxes = np.array([[10.0, 2.0, -0.93, 4.0, 1.6, 1.6, 0.5], [20.0, -5.0, -0.6, 0.8, 0.6, 1.75, -1.0]])
    parts = []
    for b in boxes:  # points filling each box, in its frame
        u = rng.uniform(-0.5, 0.5, (400, 3)) * b[3:6]
        c, s = math.cos(b[6]), math.sin(b[6])
        parts.append(np.c_[b[0] + c * u[:, 0] - s * u[:, 1], b[1] + s * u[:, 0] + c * u[:, 1], b[2] + u[:, 2]])
    ground = np.c_[rng.uniform(0, 40, (300, 2)), np.full(300, -1.73)]
    pts = np.r_[parts[0], parts[1], ground]
    pts = np.c_[pts, rng.uniform(0, 1, len(pts))].astype(np.float32)
    out = RandomObjectScale(xy_range=(0.8, 1.2), z_range=(0.8, 1.2), seed=4)({'points': pts.copy(),
                                                                             'gt_boxes': boxes.copy()})
    new = out['gt_boxes']
    assert not np.allclose(new[:, 3:6], boxes[:, 3:6])
    ratio = new[:, 3:6] / boxes[:, 3:6]
    assert np.all((ratio >= 0.8 - 1e-9) & (ratio <= 1.2 + 1e-9))
    np.testing.assert_allclose(ratio[:, 0], ratio[:, 1])  # length and width by one factor
    np.testing.assert_allclose(new[:, 2] - new[:, 5] / 2, boxes[:, 2] - boxes[:, 5] / 2)  # bottoms stay
    np.testing.assert_array_equal(new[:, [0, 1, 6]], boxes[:, [0, 1, 6]])
    inside = points_in_boxes(out['points'], new)
    assert inside[:400, 0].all() and inside[400:800, 1].all()  # the points went with their object
    # their extent follows the new size; other points and the intensity are untouched
    assert np.ptp(out['points'][:400, 2]) == pytest.approx(np.ptp(pts[:400, 2]) * ratio[0, 2], rel=1e-4)
    np.testing.assert_array_equal(out['points'][800:], pts[800:])
    np.testing.assert_array_equal(out['points'][:, 3], pts[:, 3])
    with pytest.raises(ValueError, match='RandomObjectScale'):
        RandomObjectScale(xy_range=(1.2, 0.8))


def test_object_name_filter_renames_before_filtering() -> None:
    res = {'gt_boxes': np.arange(21, dtype=np.float64).reshape(3, 7), 'gt_names': ['Van', 'Car', 'Tram']}
    out = ObjectNameFilter(classes=('Car', 'Pedestrian'), rename={'Van': 'Car'})(res)
    assert list(out['gt_names']) == ['Car', 'Car'] and out['gt_labels'].tolist() == [0, 0]
    np.testing.assert_array_equal(out['gt_boxes'][:, 0], [0.0, 7.0])
    plain = ObjectNameFilter(classes=('Car',))({'gt_boxes': np.zeros((2, 7)), 'gt_names': ['Van', 'Car']})
    assert plain['gt_labels'].tolist() == [0] and len(plain['gt_boxes']) == 1
    with pytest.raises(ValueError, match='rename targets'):
        ObjectNameFilter(classes=('Car',), rename={'Van': 'Bus'})


def test_a_colour_and_a_thermal_camera_with_the_same_name_keep_their_own_calibration() -> None:
    # The ROS contract calls both 'front': the colour image must keep the colour projection, and resizing must
    # scale each camera once.
    from dataclasses import replace

    from omnifuse.ros_nodes.synthetic import synthetic_frames

    frame = synthetic_frames(1)[0]
    calib = frame.calib
    colour = next(iter(calib.cameras.values()))
    thermal_cam = next(iter(calib.thermal.values()))
    assert not np.allclose(colour.lidar2img, thermal_cam.lidar2img)
    frame = replace(frame, images={'front': next(iter(frame.images.values()))},
                    thermal={'front': next(iter(frame.thermal.values()))},
                    calib=replace(calib, cameras={'front': colour}, thermal={'front': thermal_cam}))
    res = frame_to_results(frame)
    np.testing.assert_array_equal(res['cams']['camera']['front']['lidar2img'], colour.lidar2img)
    np.testing.assert_array_equal(res['cams']['thermal']['front']['lidar2img'], thermal_cam.lidar2img)
    out = ImageResize(scale=0.5)(_copy(res))
    S = np.diag([0.5, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(out['cams']['camera']['front']['lidar2img'], S @ colour.lidar2img)
    np.testing.assert_allclose(out['cams']['thermal']['front']['lidar2img'], S @ thermal_cam.lidar2img)
    # packed, they are two cameras: ('camera', 'front') and ('thermal', 'front'), each with its own projection
    views = PackDetInputs()(out)['data_samples'].cameras
    assert views['camera']['front'].image.shape[0] == 3 and views['thermal']['front'].image.shape[0] == 1
    np.testing.assert_allclose(views['camera']['front'].lidar2img, S @ colour.lidar2img)
    np.testing.assert_allclose(views['thermal']['front'].lidar2img, S @ thermal_cam.lidar2img)
