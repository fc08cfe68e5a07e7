"""Property-based tests of every decoder and reader: for any input they return checked values or raise the
project's FormatError (one line naming the source), never another exception and never NaN where a value
is promised.

Text readers get arbitrary text and text made of plausible tokens; binary decoders get valid messages with
their fields mutated at random; round trips check that what omnifuse writes reads back unchanged.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnifuse.errors import FormatError
from omnifuse.ros_nodes import codec as C
from omnifuse.structures.calibration import Calibration
from omnifuse.structures.kitti_labels import KittiLabels, format_kitti_label, parse_kitti_label
from omnifuse.structures.kitti_tracking import (
    KittiTrackRows,
    format_ab3dmot_detections,
    format_kitti_tracking,
    parse_ab3dmot_detections,
    parse_kitti_tracking,
)

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

# Tokens that make text look like the formats (numbers, specials, class names, separators).
TOKENS = st.sampled_from(['Car', 'Pedestrian', 'DontCare', 'P2:', 'R0_rect:', 'Tr_velo_to_cam:', 'R_rect',
                          'Tr_velo_cam', 'us_front:', '0', '1', '-1', '2.5', '-1000', '1e308', '1e400', 'nan',
                          'inf', '-inf', 'abc', '', ',', '0.0', '3', '7.25', '-0.5'])
LINES = st.lists(TOKENS, min_size=0, max_size=20).map(' '.join)
PLAUSIBLE_TEXT = st.lists(LINES, min_size=0, max_size=6).map('\n'.join)
ANY_TEXT = st.one_of(st.text(max_size=400), PLAUSIBLE_TEXT)


def _finite_labels(labels: KittiLabels) -> None:
    for key in ('truncated', 'alpha', 'bbox', 'dimensions', 'location', 'rotation_y'):
        assert np.isfinite(getattr(labels, key)).all(), key


@SETTINGS
@given(ANY_TEXT)
def test_kitti_label_text_parses_to_finite_labels_or_a_format_error(text: str) -> None:
    try:
        labels = parse_kitti_label(text, source='x.txt')
    except FormatError as exc:
        assert str(exc).startswith('x.txt')
        return
    _finite_labels(labels)
    keep = labels.name != 'DontCare'
    assert (labels.dimensions[keep] >= 0).all()


@SETTINGS
@given(ANY_TEXT, st.booleans())
def test_kitti_tracking_text_parses_or_raises_a_format_error(text: str, comma: bool) -> None:
    text = text.replace(' ', ',') if comma else text
    for parse in (lambda t: parse_kitti_tracking(t, source='s.txt'),
                  lambda t: parse_ab3dmot_detections(t, source='s.txt')):
        try:
            rows = parse(text)
        except FormatError as exc:
            assert str(exc).startswith('s.txt')
            continue
        assert (rows.frame >= 0).all()
        _finite_labels(rows.labels)


@SETTINGS
@given(ANY_TEXT)
def test_calibration_text_parses_to_finite_matrices_or_a_format_error(text: str) -> None:
    try:
        calib = Calibration.from_kitti_text(text, source='calib.txt')
    except FormatError as exc:
        assert str(exc).startswith('calib.txt')
        return
    for value in calib.kitti.values():
        assert np.isfinite(value).all()
    for cam in calib.cameras.values():
        assert np.isfinite(cam.P).all() and np.isfinite(cam.T_cam_lidar).all()


@SETTINGS
@given(ANY_TEXT)
def test_ultrasonic_files_read_to_ranges_or_a_format_error(tmp_path: Path, text: str) -> None:
    from omnifuse.datasets.kitti import read_ultrasonic_file

    path = tmp_path / 'us.txt'
    path.write_text(text, encoding='utf-8')
    try:
        readings = read_ultrasonic_file(path)
    except FormatError as exc:
        assert str(exc).startswith(str(path))
        return
    assert all(math.isnan(v) or (math.isfinite(v) and v >= 0) for v in readings.values())


# ----------------------------------------------------------------------------------------- round trips

NAMES = st.sampled_from(['Car', 'Pedestrian', 'Cyclist', 'Van'])
COORD = st.floats(-80, 80, allow_nan=False)
SIZE = st.floats(0.1, 10, allow_nan=False)


@st.composite
def label_rows(draw: st.DrawFn, n_max: int = 6) -> KittiLabels:
    n = draw(st.integers(0, n_max))
    def col(strategy: st.SearchStrategy, shape: tuple[int, ...] = ()) -> np.ndarray:
        count = n * int(np.prod(shape)) if shape else n
        return np.asarray(draw(st.lists(strategy, min_size=count, max_size=count)), np.float64).reshape((n,) + shape)
    return KittiLabels(name=np.asarray(draw(st.lists(NAMES, min_size=n, max_size=n)), dtype=str),
                       truncated=col(st.floats(0, 1)), occluded=np.asarray(draw(st.lists(st.integers(0, 3), min_size=n,
                                                                                          max_size=n)), np.int64),
                       alpha=col(st.floats(-3.14, 3.14)), bbox=col(st.floats(0, 1242), (4,)),
                       dimensions=col(SIZE, (3,)), location=col(COORD, (3,)), rotation_y=col(st.floats(-3.14, 3.14)),
                       score=col(st.floats(0, 1)))


@SETTINGS
@given(label_rows())
def test_kitti_labels_round_trip_through_text(labels: KittiLabels) -> None:
    back = parse_kitti_label(format_kitti_label(labels, with_score=True), require_score=True)
    assert list(back.name) == list(labels.name)
    for key in ('truncated', 'alpha', 'bbox', 'dimensions', 'location', 'rotation_y', 'score'):
        np.testing.assert_allclose(getattr(back, key), getattr(labels, key), atol=6e-5)
    np.testing.assert_array_equal(back.occluded, labels.occluded)


@SETTINGS
@given(label_rows(), st.data())
def test_tracking_rows_round_trip_through_both_formats(labels: KittiLabels, data: st.DataObject) -> None:
    n = len(labels)
    frames = np.asarray(data.draw(st.lists(st.integers(0, 5000), min_size=n, max_size=n)), np.int64)
    ids = np.asarray(data.draw(st.lists(st.integers(-1, 10**6), min_size=n, max_size=n)), np.int64)
    rows = KittiTrackRows(frames, ids, labels)
    back = parse_kitti_tracking(format_kitti_tracking(rows, with_score=True), require_score=True)
    np.testing.assert_array_equal(back.frame, frames)
    np.testing.assert_array_equal(back.track_id, ids)
    np.testing.assert_allclose(back.labels.location, labels.location, atol=6e-5)
    keep = labels.name != 'Van'  # AB3DMOT's format has type ids for three classes only
    dets = parse_ab3dmot_detections(format_ab3dmot_detections(rows.select(keep)))
    assert list(dets.labels.name) == list(labels.name[keep])
    np.testing.assert_allclose(dets.labels.score, labels.score[keep], atol=6e-5)


# ------------------------------------------------------------------------------------ ROS 2 messages

CODEC = C.RosCodec('jazzy')
POINTS = np.random.default_rng(0).normal(0, 10, (12, 4)).astype(np.float32)


@st.composite
def mutated_cloud(draw: st.DrawFn) -> object:
    msg = CODEC.pointcloud2(POINTS, 1, 'lidar', datatype=draw(st.sampled_from(['float32', 'float64'])),
                            big_endian=draw(st.booleans()))
    changes: dict[str, object] = {}
    if draw(st.booleans()):
        changes['width'] = draw(st.integers(0, 40))
    if draw(st.booleans()):
        changes['height'] = draw(st.integers(0, 3))
    if draw(st.booleans()):
        changes['point_step'] = draw(st.integers(0, 64))
    if draw(st.booleans()):
        changes['row_step'] = draw(st.integers(0, 1024))
    if draw(st.booleans()):
        size = draw(st.integers(0, 800))
        changes['data'] = np.frombuffer(draw(st.binary(min_size=size, max_size=size)), np.uint8)
    if draw(st.booleans()):
        pf = type(msg.fields[0])
        changes['fields'] = [pf(name=draw(st.sampled_from(['x', 'y', 'z', 'intensity', 'ring'])),
                                offset=draw(st.integers(0, 40)), datatype=draw(st.integers(0, 9)),
                                count=draw(st.integers(0, 2)))
                             for _ in range(draw(st.integers(0, 5)))]
    return dataclasses.replace(msg, **changes)


@SETTINGS
@given(mutated_cloud())
def test_any_pointcloud2_decodes_to_finite_points_or_a_format_error(msg: object) -> None:
    try:
        points = C.decode_pointcloud2(msg, where='/lidar')
    except FormatError as exc:
        assert str(exc).startswith('/lidar')
        return
    assert points.dtype == np.float32 and points.shape[1] == 4
    assert np.isfinite(points[:, :3]).all()


@st.composite
def mutated_image(draw: st.DrawFn) -> object:
    msg = CODEC.image(np.zeros((4, 5, 3), np.uint8), 1, 'cam')
    changes = {'encoding': draw(st.sampled_from(['rgb8', 'bgr8', 'mono8', 'mono16', '32FC1', 'rgba8', 'yuv422',
                                                 '']))}
    for key, hi in (('width', 8), ('height', 8), ('step', 64)):
        if draw(st.booleans()):
            changes[key] = draw(st.integers(0, hi))
    if draw(st.booleans()):
        size = draw(st.integers(0, 300))
        changes['data'] = np.frombuffer(draw(st.binary(min_size=size, max_size=size)), np.uint8)
    changes['is_bigendian'] = draw(st.booleans())
    return dataclasses.replace(msg, **changes)


@SETTINGS
@given(mutated_image())
def test_any_image_decodes_to_its_declared_size_or_a_format_error(msg: object) -> None:
    try:
        img = C.decode_image(msg, where='/cam')
    except FormatError as exc:
        assert str(exc).startswith('/cam')
        return
    assert img.shape[:2] == (msg.height, msg.width)


FLOATS = st.one_of(st.floats(-1e4, 1e4), st.sampled_from([math.nan, math.inf, 0.0]))


@SETTINGS
@given(st.lists(FLOATS, min_size=12, max_size=12), st.lists(FLOATS, min_size=9, max_size=9))
def test_any_camera_info_gives_a_usable_camera_or_a_format_error(p: list[float], k: list[float]) -> None:
    from omnifuse.ros_nodes.synthetic import front_camera

    msg = dataclasses.replace(CODEC.camera_info(front_camera(), 1, 'cam'), p=np.asarray(p), k=np.asarray(k))
    try:
        cam = C.decode_camera_info(msg, where='/cam/camera_info')
    except FormatError as exc:
        assert str(exc).startswith('/cam/camera_info')
        return
    assert np.isfinite(cam.P).all() and abs(np.linalg.det(cam.P[:, :3])) > 0


@SETTINGS
@given(st.lists(FLOATS, min_size=7, max_size=7))
def test_any_tf_decodes_to_finite_rigid_transforms_or_a_format_error(values: list[float]) -> None:
    from omnifuse.ros_nodes.codec import StaticTransform

    msg = CODEC.tf_message([StaticTransform('base_link', 'lidar', np.eye(4), 0)])
    t = msg.transforms[0]
    tr = dataclasses.replace(t.transform.translation, x=values[0], y=values[1], z=values[2])
    rot = dataclasses.replace(t.transform.rotation, x=values[3], y=values[4], z=values[5], w=values[6])
    msg = dataclasses.replace(msg, transforms=[dataclasses.replace(
        t, transform=dataclasses.replace(t.transform, translation=tr, rotation=rot))])
    try:
        edges = C.decode_tf(msg)
    except FormatError:
        return
    R = edges[0].matrix[:3, :3]
    assert np.isfinite(edges[0].matrix).all()
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-6)


@SETTINGS
@given(FLOATS, FLOATS, FLOATS)
def test_any_range_reading_is_a_distance_within_limits_or_nan(r: float, lo: float, hi: float) -> None:
    msg = type('Range', (), {'range': r, 'min_range': lo, 'max_range': hi, 'field_of_view': 0.5})()
    try:
        reading = C.decode_range(msg, where='/us/front')
    except FormatError as exc:
        assert str(exc).startswith('/us/front') and not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo <= hi)
        return
    assert math.isnan(reading.range) or (lo <= reading.range <= hi and math.isfinite(reading.range))


# --------------------------------------------------------------------------------------------- bags

@pytest.fixture(scope='module')
def small_mcap(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from omnifuse.ros_nodes.bag_io import write_frames_to_bag
    from omnifuse.ros_nodes.synthetic import synthetic_frames

    bag = tmp_path_factory.mktemp('bag') / 'b'
    write_frames_to_bag(synthetic_frames(2, n_points=200, n_ultrasonic=0), bag, distro='jazzy')
    return next(bag.glob('*.mcap')).read_bytes()


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_a_damaged_mcap_file_reads_or_fails_with_a_format_error(small_mcap: bytes, tmp_path: Path,
                                                                data: st.DataObject) -> None:
    from omnifuse.ros_nodes.bag_io import open_reader
    from omnifuse.ros_nodes.replay import _checked_messages

    raw = bytearray(small_mcap)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= data.draw(st.integers(1, 255))
    if data.draw(st.booleans()):
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    path = tmp_path / f'd{data.draw(st.integers(0, 10**9))}.mcap'
    path.write_bytes(bytes(raw))
    try:
        reader = open_reader(path)
        try:
            for _ in _checked_messages(reader, path):
                pass
        finally:
            reader.close()
    except FormatError as exc:
        assert str(path) in str(exc)
