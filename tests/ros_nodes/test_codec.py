"""Round trips of every ROS 2 codec (Humble and Jazzy) through CDR bytes, and bad-input errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnifuse.errors import FormatError
from omnifuse.ros_nodes import codec as C
from omnifuse.ros_nodes.synthetic import front_camera
from omnifuse.structures import Boxes3D, ObjectLabels
from omnifuse.structures.geometry import box_corners

DISTROS = ('humble', 'jazzy')


def _rt(codec: C.RosCodec, msg: object) -> object:
    """Serialize to CDR and back, like a bag or a DDS wire would."""
    return codec.deserialize(codec.serialize(msg), msg.__msgtype__)


@pytest.fixture(params=DISTROS)
def codec(request: pytest.FixtureRequest) -> C.RosCodec:
    return C.RosCodec(request.param)


@pytest.fixture(scope='module')
def points() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.normal(0, 10, (600, 4)).astype(np.float32)


# ------------------------------------------------------------------------------ PointCloud2

@pytest.mark.parametrize('kwargs', [
    {},
    {'datatype': 'float64'},
    {'big_endian': True},
    {'datatype': 'float64', 'big_endian': True},
    {'shape': (20, 30)},
    {'shape': (20, 30), 'row_padding': 6},
    {'point_step': 32},
    {'datatype': 'float64', 'big_endian': True, 'shape': (30, 20), 'point_step': 40, 'row_padding': 3},
], ids=lambda kw: ','.join(f'{k}={v}' for k, v in kw.items()) or 'default')
def test_pointcloud2_round_trip_variants(codec: C.RosCodec, points: np.ndarray, kwargs: dict) -> None:
    msg = _rt(codec, codec.pointcloud2(points, 17, 'lidar', **kwargs))
    assert bool(msg.is_bigendian) == kwargs.get('big_endian', False)
    out = C.decode_pointcloud2(msg)
    np.testing.assert_array_equal(out, points)  # float32 values survive float64 and byte swapping exactly


def test_pointcloud2_without_intensity_gives_zero_column(codec: C.RosCodec, points: np.ndarray) -> None:
    msg = _rt(codec, codec.pointcloud2(points, 1, 'lidar', fields=('x', 'y', 'z')))
    out = C.decode_pointcloud2(msg)
    assert out.shape == (len(points), 4)
    np.testing.assert_array_equal(out[:, :3], points[:, :3])
    assert not out[:, 3].any()


def _handmade_cloud(codec: C.RosCodec, fields: list[tuple[str, int, int]], point_step: int,
                    records: np.ndarray, big_endian: bool = False) -> object:
    pf = codec.typestore.types['sensor_msgs/msg/PointField']
    raw = records.tobytes()
    return codec.typestore.types['sensor_msgs/msg/PointCloud2'](
        header=codec.header(5, 'lidar'), height=1, width=len(records),
        fields=[pf(name=n, offset=o, datatype=d, count=1) for n, o, d in fields],
        is_bigendian=big_endian, point_step=point_step, row_step=point_step * len(records),
        data=np.frombuffer(raw, np.uint8), is_dense=True)


def test_pointcloud2_extra_fields_and_shuffled_offsets(codec: C.RosCodec) -> None:
    # An Ouster-like layout: intensity first as uint16, x y z float64 later, ring and time around them.
    dt = np.dtype({'names': ['intensity', 'ring', 'x', 'y', 'z', 't'],
                   'formats': ['>u2', '>u2', '>f8', '>f8', '>f8', '>f4'],
                   'offsets': [0, 2, 8, 16, 24, 32], 'itemsize': 40})
    rng = np.random.default_rng(0)
    rec = np.zeros(50, dt)
    for name in ('x', 'y', 'z'):
        rec[name] = rng.normal(0, 5, 50).astype(np.float32)
    rec['intensity'] = rng.integers(0, 60000, 50)
    rec['ring'] = rng.integers(0, 128, 50)
    fields = [('intensity', 0, 4), ('ring', 2, 4), ('x', 8, 8), ('y', 16, 8), ('z', 24, 8), ('t', 32, 7)]
    msg = _rt(codec, _handmade_cloud(codec, fields, 40, rec, big_endian=True))
    out = C.decode_pointcloud2(msg, fields=('x', 'y', 'z', 'intensity', 'ring'))
    np.testing.assert_array_equal(out[:, 0], rec['x'].astype(np.float32))
    np.testing.assert_array_equal(out[:, 2], rec['z'].astype(np.float32))
    np.testing.assert_array_equal(out[:, 3], rec['intensity'].astype(np.float32))
    np.testing.assert_array_equal(out[:, 4], rec['ring'].astype(np.float32))


def test_pointcloud2_organised_nan_points_dropped_or_kept(codec: C.RosCodec, points: np.ndarray) -> None:
    pts = points.copy()
    pts[::7, :3] = np.nan
    msg = _rt(codec, codec.pointcloud2(pts, 1, 'lidar', shape=(20, 30)))
    assert not msg.is_dense
    assert len(C.decode_pointcloud2(msg)) == len(pts) - len(pts[::7])
    assert len(C.decode_pointcloud2(msg, keep_invalid=True)) == len(pts)


def test_pointcloud2_point_step_too_small_is_format_error(codec: C.RosCodec, points: np.ndarray) -> None:
    msg = codec.pointcloud2(points, 1, 'lidar')
    msg.point_step = 12  # intensity at offset 12 no longer fits
    with pytest.raises(FormatError, match=r'/cloud @ 1: PointCloud2 point_step 12 is too small'):
        C.decode_pointcloud2(msg, where='/cloud @ 1')


def test_pointcloud2_data_size_mismatch_is_format_error(codec: C.RosCodec, points: np.ndarray) -> None:
    msg = codec.pointcloud2(points, 1, 'lidar')
    msg.data = msg.data[:-16]
    with pytest.raises(FormatError, match='expected row_step'):
        C.decode_pointcloud2(msg)
    msg = codec.pointcloud2(points, 1, 'lidar')
    msg.row_step = 8
    with pytest.raises(FormatError, match='row_step 8 < width'):
        C.decode_pointcloud2(msg)


def test_pointcloud2_without_xyz_or_with_unknown_datatype(codec: C.RosCodec, points: np.ndarray) -> None:
    msg = codec.pointcloud2(points, 1, 'lidar', fields=('x', 'y', 'z', 'intensity'))
    msg.fields[2].name = 'height'
    with pytest.raises(FormatError, match=r"no field\(s\) \['z'\]"):
        C.decode_pointcloud2(msg)
    msg = codec.pointcloud2(points, 1, 'lidar')
    msg.fields[0].datatype = 9
    with pytest.raises(FormatError, match='unknown datatype 9'):
        C.decode_pointcloud2(msg)


# ------------------------------------------------------------------------------ images

@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'rgba8', 'bgra8'])
def test_colour_image_round_trip(codec: C.RosCodec, encoding: str) -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (12, 17, 3), dtype=np.uint8)
    if encoding in ('rgba8', 'bgra8'):  # build the 4-channel buffer by hand
        order = [0, 1, 2] if encoding == 'rgba8' else [2, 1, 0]
        four = np.concatenate([img[..., order], np.full((12, 17, 1), 255, np.uint8)], 2)
        msg = codec.image(four[..., :3], 1, 'cam')
        msg.encoding, msg.step, msg.data = encoding, 17 * 4, four.reshape(-1)
    else:
        msg = codec.image(img, 1, 'cam', encoding=encoding)
    out = C.decode_image(_rt(codec, msg))
    np.testing.assert_array_equal(out, img)


@pytest.mark.parametrize(('encoding', 'dtype'), [('mono8', np.uint8), ('mono16', np.uint16),
                                                  ('16UC1', np.uint16), ('32FC1', np.float32)])
def test_mono_image_round_trip(codec: C.RosCodec, encoding: str, dtype: type) -> None:
    rng = np.random.default_rng(2)
    img = (rng.uniform(0, 1, (9, 11)) * (250 if dtype == np.uint8 else 60000)).astype(dtype)
    out = C.decode_image(_rt(codec, codec.image(img, 1, 'th', encoding=encoding)))
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, img)


def test_mono16_big_endian_and_padded_rows(codec: C.RosCodec) -> None:
    img = np.arange(6 * 5, dtype=np.uint16).reshape(6, 5) * 1000
    padded = np.zeros((6, 12), dtype='>u2')
    padded[:, :5] = img
    msg = codec.image(img, 1, 'th', encoding='mono16')
    msg.is_bigendian, msg.step, msg.data = 1, 24, padded.view(np.uint8).reshape(-1)
    out = C.decode_image(_rt(codec, msg))
    np.testing.assert_array_equal(out, img)


def test_image_bad_size_and_unknown_encoding(codec: C.RosCodec) -> None:
    msg = codec.image(np.zeros((4, 5, 3), np.uint8), 1, 'cam')
    msg.height = 5
    with pytest.raises(FormatError, match='needs 75 bytes, got 60'):
        C.decode_image(msg, where='/cam @ 1')
    msg = codec.image(np.zeros((4, 5, 3), np.uint8), 1, 'cam')
    msg.step = 10
    with pytest.raises(FormatError, match='step 10 < width 5'):
        C.decode_image(msg)
    msg.encoding = 'yuv422'
    with pytest.raises(FormatError, match="unknown image encoding 'yuv422'"):
        C.decode_image(msg)


def test_compressed_image_png_exact_and_jpeg_close(codec: C.RosCodec) -> None:
    yy, xx = np.mgrid[0:32, 0:40]
    img = np.stack([xx * 6, yy * 7, (xx + yy) * 3], 2).astype(np.uint8)
    png = _rt(codec, codec.compressed_image(img, 1, 'cam', fmt='png'))
    assert png.format.startswith('rgb8; png')
    np.testing.assert_array_equal(C.decode_compressed_image(png), img)
    jpg = C.decode_compressed_image(_rt(codec, codec.compressed_image(img, 1, 'cam', fmt='jpeg')))
    assert jpg.shape == img.shape and np.abs(jpg.astype(int) - img).mean() < 6
    th = (np.arange(32 * 40).reshape(32, 40) * 40).astype(np.uint16)
    np.testing.assert_array_equal(C.decode_compressed_image(_rt(codec, codec.compressed_image(th, 1, 't'))), th)
    broken = codec.compressed_image(img, 1, 'cam')
    broken.data = broken.data[:20]
    with pytest.raises(FormatError, match='cannot decode compressed image'):
        C.decode_compressed_image(broken)


# ------------------------------------------------------------------------------ calibration, range, tf

def test_camera_info_round_trip(codec: C.RosCodec) -> None:
    cam = front_camera(64, 48)
    msg = _rt(codec, codec.camera_info(cam, 3, 'camera_front_optical'))
    back = C.decode_camera_info(msg, T_cam_lidar=cam.T_cam_lidar)
    np.testing.assert_allclose(back.P, cam.P)
    assert (back.width, back.height) == (64, 48)
    msg.p = np.zeros(12)
    np.testing.assert_allclose(C.decode_camera_info(msg).P[:, :3], cam.P[:, :3])  # falls back to K


def test_range_round_trip_and_distro_difference(codec: C.RosCodec) -> None:
    msg = _rt(codec, codec.range(2.5, 9, 'us', field_of_view=1.2, min_range=0.2, max_range=5.0, variance=0.01))
    assert hasattr(msg, 'variance') == (codec.distro == 'jazzy')
    r = C.decode_range(msg)
    assert r.range == pytest.approx(2.5) and r.field_of_view == pytest.approx(1.2)
    no_echo = _rt(codec, codec.range(math.nan, 9, 'us', field_of_view=1.2, min_range=0.2, max_range=5.0))
    assert no_echo.range == math.inf and math.isnan(C.decode_range(no_echo).range)
    too_close = _rt(codec, codec.range(0.05, 9, 'us', field_of_view=1.2, min_range=0.2, max_range=5.0))
    assert math.isnan(C.decode_range(too_close).range)


def test_tf_message_round_trip(codec: C.RosCodec) -> None:
    cam = front_camera()
    T = np.linalg.inv(cam.T_cam_lidar)
    edges = [C.StaticTransform('lidar', 'camera_front_optical', T, 11),
             C.StaticTransform('base_link', 'lidar', np.eye(4), 11)]
    back = C.decode_tf(_rt(codec, codec.tf_message(edges)))
    assert [(e.parent, e.child, e.stamp_ns) for e in back] == [(e.parent, e.child, 11) for e in edges]
    np.testing.assert_allclose(back[0].matrix, T, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1, 1), min_size=4, max_size=4).filter(lambda q: sum(v * v for v in q) > 1e-3))
def test_quaternion_matrix_round_trip(q: list[float]) -> None:
    R = C.quaternion_to_matrix(q)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)
    np.testing.assert_allclose(C.quaternion_to_matrix(C.matrix_to_quaternion(R)), R, atol=1e-9)


# ------------------------------------------------------------------------------ outputs

def _labels() -> ObjectLabels:
    boxes = np.array([[10.0, 2.0, -0.8, 4.2, 1.8, 1.5, 3.0], [5.0, -3.0, -0.7, 0.7, 0.6, 1.7, -1.2]])
    return ObjectLabels(Boxes3D(boxes), ['Car', 'Pedestrian'], np.zeros(2), np.zeros(2, int), np.zeros(2),
                        np.zeros((2, 4)), np.array([0.9, 0.4]))


def test_detection3d_array_round_trip(codec: C.RosCodec) -> None:
    labels = _labels()
    msg = _rt(codec, codec.detections(labels, 123456789, 'lidar'))
    assert C.stamp_to_ns(msg.header.stamp) == 123456789 and msg.header.frame_id == 'lidar'
    back = C.decode_detections(msg)
    np.testing.assert_allclose(back.boxes.data, labels.boxes.data, atol=1e-12)
    assert back.names == labels.names
    np.testing.assert_allclose(back.scores, labels.scores)
    empty = C.decode_detections(_rt(codec, codec.detections(ObjectLabels.empty(), 5, 'lidar')))
    assert len(empty) == 0


def test_marker_array_outlines_the_boxes(codec: C.RosCodec) -> None:
    labels = _labels()
    msg = _rt(codec, codec.markers(labels, 7, 'lidar'))
    kinds = [(m.ns, m.type, m.action) for m in msg.markers]
    assert kinds[0][2] == 3  # DELETEALL first, so stale boxes vanish
    assert kinds.count(('boxes', 5, 0)) == 2 and kinds.count(('labels', 9, 0)) == 2
    corners = box_corners(labels.boxes.data)
    lines = [m for m in msg.markers if m.ns == 'boxes']
    for i, m in enumerate(lines):
        pts = np.array([[p.x, p.y, p.z] for p in m.points])
        assert len(pts) % 2 == 0
        # every line end is a corner of box i, and every corner is used
        d = np.linalg.norm(pts[:, None] - corners[i][None], axis=2)
        assert d.min(1).max() < 1e-9 and set(d.argmin(1)) == set(range(8))
    texts = [m.text for m in msg.markers if m.ns == 'labels']
    assert texts == ['Car 0.90', 'Pedestrian 0.40']


def test_occupancy_grid_round_trip(codec: C.RosCodec) -> None:
    grid = np.array([[0, 100, 255], [50, 255, 7]], dtype=np.uint8)
    spec = C.OccupancyGridSpec(0.2, -3.0, -4.0)
    back, bspec = C.decode_occupancy_grid(_rt(codec, codec.occupancy_grid(grid, 1, 'lidar', spec=spec)))
    np.testing.assert_array_equal(back, [[0, 100, -1], [50, -1, 7]])
    assert bspec.origin_x == -3.0 and bspec.origin_y == -4.0 and bspec.resolution == pytest.approx(0.2)


def test_segmentation_image_and_diagnostics(codec: C.RosCodec) -> None:
    ids = np.arange(20, dtype=np.uint8).reshape(4, 5)
    seg = _rt(codec, codec.image(ids, 3, 'camera_front_optical', encoding='mono8'))
    assert seg.encoding == 'mono8'
    np.testing.assert_array_equal(C.decode_image(seg), ids)
    diag = _rt(codec, codec.diagnostics(3, [{'name': 'omnifuse/perception', 'level': 1, 'message': 'missing x',
                                             'values': {'points': 12}}]))
    st0 = diag.status[0]
    assert (st0.name, st0.level, st0.message) == ('omnifuse/perception', 1, 'missing x')
    assert [(kv.key, kv.value) for kv in st0.values] == [('points', '12')]
    assert _rt(codec, codec.float64(4.5)).data == 4.5


def test_unknown_distro_is_rejected() -> None:
    with pytest.raises(Exception, match="unsupported ROS 2 distribution 'iron'"):
        C.RosCodec('iron')


def _tracks():
    from omnifuse.structures.tracks import Tracks

    boxes = np.array([[10.0, 2.0, -0.8, 4.0, 1.8, 1.5, 0.3], [5.0, -3.0, -0.9, 0.8, 0.6, 1.7, -1.2]])
    return Tracks(np.array([7, 12]), Boxes3D(boxes), ['Car', 'Pedestrian'], np.array([0.9, 0.5]),
                  np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]]), np.full((2, 4), np.nan), np.array([0, 1]),
                  np.array([5, 2]))


def test_tracks_carry_their_ids_and_the_markers_their_velocity(codec: C.RosCodec) -> None:
    tracks = _tracks()
    msg = _rt(codec, codec.tracks(tracks, 42, 'lidar'))
    assert C.decode_detection_ids(msg) == ['7', '12']
    back = C.decode_detections(msg)
    np.testing.assert_allclose(back.boxes.data, tracks.boxes.data, atol=1e-12)
    assert back.names == ['Car', 'Pedestrian'] and np.allclose(back.scores, [0.9, 0.5])
    assert C.decode_detection_ids(_rt(codec, codec.detections(back, 42, 'lidar'))) == ['', '']
    markers = _rt(codec, codec.track_markers(tracks, 42, 'lidar')).markers
    assert markers[0].action == 3  # DELETEALL: tracks that ended vanish
    by_ns = {}
    for m in markers[1:]:
        by_ns.setdefault(m.ns, []).append(m)
    assert [m.id for m in by_ns['track_boxes']] == [7, 12] and all(m.type == 5 for m in by_ns['track_boxes'])
    assert [m.text for m in by_ns['track_ids']] == ['#7 Car 5.0 m/s', '#12 Pedestrian 0.0 m/s']
    arrow = by_ns['track_velocity'][0]
    assert arrow.type == 0 and arrow.id == 7
    start, end = ([p.x, p.y, p.z] for p in arrow.points)
    np.testing.assert_allclose(np.subtract(end, start), [3.0, 4.0, 0.0])
    np.testing.assert_allclose(start, tracks.boxes.data[0, :3])
    from omnifuse.structures.tracks import Tracks

    assert len(_rt(codec, codec.track_markers(Tracks.empty(), 1, 'lidar')).markers) == 1
