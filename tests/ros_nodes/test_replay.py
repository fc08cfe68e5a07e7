"""Bags written by bag_io read back by rosbags and by the independent mcap + mcap_ros2 reader;
`omnifuse replay` end to end on small generated bags, and the bad-input cases.

The plumbing here runs the geometric ClusterDetector (params CLUSTER) on synthetic box worlds, where its
output is known; the shipped learned models (the default params) are replayed on simulator bags in
test_replay_sim.py."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from mcap_ros2.reader import read_ros2_messages
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.serde import SerdeError

from omnifuse.cli import main as cli_main
from omnifuse.ros_nodes import codec as C
from omnifuse.ros_nodes.bag_io import read_bag_frames, write_frames_to_bag
from omnifuse.ros_nodes.cluster import ClusterDetector
from omnifuse.ros_nodes.params import load_params
from omnifuse.ros_nodes.replay import replay_bag
from omnifuse.ros_nodes.synthetic import synthetic_frames
from omnifuse.structures import SensorFrame

LIDAR = '/sensors/lidar/points'
CAM = '/sensors/camera/front/image_raw'
CAM_INFO = '/sensors/camera/front/camera_info'
# Only the geometric detector: the plumbing tests compare against it.
CLUSTER = load_params(overrides={'models': {'detector': {'kind': 'cluster', 'score_threshold': 0.0},
                                            'segmenter': {'kind': 'none'}, 'occupancy': {'kind': 'none'}}})


@pytest.fixture(scope='module')
def frames() -> list[SensorFrame]:
    return synthetic_frames(6, seed=11, n_points=3000, n_ultrasonic=4)


@pytest.fixture(scope='module')
def bags(tmp_path_factory: pytest.TempPathFactory, frames: list[SensorFrame]) -> dict[str, Path]:
    root = tmp_path_factory.mktemp('bags')
    out = {}
    for distro, storage in (('humble', 'mcap'), ('jazzy', 'sqlite3'), ('jazzy', 'mcap')):
        path = root / f'{distro}_{storage}'
        write_frames_to_bag(frames, path, distro=distro, storage=storage)
        out[f'{distro}_{storage}'] = path
    return out


def _read_all(path: Path) -> dict[str, list[tuple[int, object, bytes]]]:
    """topic -> [(log time, decoded message or None if undecodable, raw)] with rosbags (the omnifuse
    typestore decodes vision_msgs)."""
    from omnifuse.ros_nodes.bag_io import detect_distro

    out: dict[str, list] = {}
    with Reader(path) as reader:
        codec = C.RosCodec(detect_distro(reader, path)[0])
        for conn, t, raw in reader.messages():
            try:
                msg = codec.deserialize(raw, conn.msgtype)
            except SerdeError:  # bad input copied verbatim by the replay
                msg = None
            out.setdefault(conn.topic, []).append((t, msg, bytes(raw)))
    return out


def _mcap_file(path: Path) -> Path:
    return next(path.glob('*.mcap'))


# ------------------------------------------------------------------------------ bag_io

def test_written_bag_reads_back_with_rosbags(bags: dict[str, Path], frames: list[SensorFrame]) -> None:
    for key, path in bags.items():
        msgs = _read_all(path)
        n = len(frames)
        assert len(msgs[LIDAR]) == n and len(msgs[CAM]) == n and len(msgs[CAM_INFO]) == n, key
        assert len(msgs['/sensors/thermal/front/image_raw']) == n
        assert sorted(t for t in msgs if t.startswith('/sensors/ultrasonic/')) == [
            f'/sensors/ultrasonic/us{i:02d}' for i in range(4)]
        assert len(msgs['/tf_static']) == 1
        for i, (t, msg, _) in enumerate(msgs[LIDAR]):
            assert t == C.stamp_to_ns(msg.header.stamp) == frames[i].stamp_ns
            np.testing.assert_array_equal(C.decode_pointcloud2(msg), frames[i].points)
        img = msgs[CAM][0][1]
        assert img.encoding == 'rgb8' and C.stamp_to_ns(img.header.stamp) == frames[0].stamps_ns['camera/front']
        th = msgs['/sensors/thermal/front/image_raw'][0][1]
        assert th.encoding == 'mono16'
        rng = msgs['/sensors/ultrasonic/us00'][0][1]
        assert hasattr(rng, 'variance') == key.startswith('jazzy')


def test_written_mcap_reads_back_with_mcap_ros2(bags: dict[str, Path], frames: list[SensorFrame]) -> None:
    for key in ('humble_mcap', 'jazzy_mcap'):
        seen: dict[str, list] = {}
        for m in read_ros2_messages(_mcap_file(bags[key])):
            seen.setdefault(m.channel.topic, []).append(m)
        clouds = seen[LIDAR]
        assert [m.log_time_ns for m in clouds] == [f.stamp_ns for f in frames]
        for m, f in zip(clouds, frames, strict=True):
            np.testing.assert_array_equal(C.decode_pointcloud2(m.ros_msg), f.points)
        np.testing.assert_array_equal(C.decode_image(seen[CAM][2].ros_msg), frames[2].images['front'])
        np.testing.assert_array_equal(C.decode_image(seen['/sensors/thermal/front/image_raw'][1].ros_msg),
                                      frames[1].thermal['front'])
        tf = C.decode_tf(seen['/tf_static'][0].ros_msg)
        cam_edge = next(e for e in tf if e.child == 'camera_front_optical')
        np.testing.assert_allclose(cam_edge.matrix, np.linalg.inv(frames[0].calib.cameras['front'].T_cam_lidar),
                                   atol=1e-9)
        r = seen['/sensors/ultrasonic/us01'][0].ros_msg
        value = frames[0].ultrasonic['us01']
        assert (r.range == math.inf) if math.isnan(value) else r.range == pytest.approx(value, rel=1e-6)


@pytest.mark.parametrize('key', ['humble_mcap', 'jazzy_sqlite3'])
def test_read_bag_frames_restores_the_frames(bags: dict[str, Path], frames: list[SensorFrame], key: str) -> None:
    got = list(read_bag_frames(bags[key]))
    assert len(got) == len(frames)
    for af, f in zip(got, frames, strict=True):
        g = af.frame
        assert af.missing == () and g.stamp_ns == f.stamp_ns and g.stamps_ns == f.stamps_ns
        np.testing.assert_array_equal(g.points, f.points)
        np.testing.assert_array_equal(g.images['front'], f.images['front'])
        np.testing.assert_array_equal(g.thermal['front'], f.thermal['front'])
        for name, value in f.ultrasonic.items():
            assert (math.isnan(g.ultrasonic[name]) and math.isnan(value)) or g.ultrasonic[name] == pytest.approx(value)
        np.testing.assert_allclose(g.calib.cameras['front'].T_cam_lidar, f.calib.cameras['front'].T_cam_lidar,
                                   atol=1e-9)
        np.testing.assert_allclose(g.calib.cameras['front'].P, f.calib.cameras['front'].P)
        us, us0 = g.calib.ultrasonic['us02'], f.calib.ultrasonic['us02']
        assert (us.x, us.y, us.yaw) == pytest.approx((us0.x, us0.y, us0.yaw), abs=1e-6)


def test_float_thermal_round_trips_through_mono16(tmp_path: Path, frames: list[SensorFrame]) -> None:
    f = synthetic_frames(1, seed=2, n_points=500, n_ultrasonic=0)[0]
    f.thermal['front'] = np.linspace(280.0, 310.0, 24 * 32, dtype=np.float32).reshape(24, 32)  # kelvin
    write_frames_to_bag([f], tmp_path / 'th', distro='jazzy')
    back = next(iter(read_bag_frames(tmp_path / 'th'))).frame.thermal['front']
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, f.thermal['front'], atol=0.006)  # centi-kelvin steps


# ------------------------------------------------------------------------------ replay

@pytest.fixture(scope='module')
def replayed(bags: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp('replay') / 'out'
    summary = replay_bag(bags['humble_mcap'], out, params=CLUSTER, progress=False)
    return out, summary


def test_replay_detections_match_running_the_detector_directly(replayed, frames: list[SensorFrame]) -> None:
    out, summary = replayed
    assert summary.frames == len(frames) and summary.bad_count == 0 and summary.distro == 'humble'
    msgs = _read_all(out)
    objects = msgs['/perception/objects']
    assert len(objects) == len(frames)  # exactly one per LiDAR message
    detector = ClusterDetector()
    for (t, msg, _), f in zip(objects, frames, strict=True):
        assert C.stamp_to_ns(msg.header.stamp) == f.stamp_ns == t
        assert msg.header.frame_id == 'lidar'
        got, direct = C.decode_detections(msg), detector(f)
        assert len(direct) > 0 and got.names == direct.names
        np.testing.assert_allclose(got.boxes.data, direct.boxes.data, atol=1e-9)
        np.testing.assert_allclose(got.scores, direct.scores)
    # the independent reader sees the same boxes
    via_mcap = [m for m in read_ros2_messages(_mcap_file(out)) if m.channel.topic == '/perception/objects']
    assert [m.log_time_ns for m in via_mcap] == [f.stamp_ns for f in frames]
    d0 = via_mcap[0].ros_msg.detections[0]
    ref = detector(frames[0]).boxes.data[0]
    assert (d0.bbox.center.position.x, d0.bbox.size.x) == pytest.approx((ref[0], ref[3]))
    assert d0.results[0].hypothesis.class_id == detector(frames[0]).names[0]


def test_replay_copies_every_input_topic_and_adds_outputs(replayed, bags: dict[str, Path]) -> None:
    out, summary = replayed
    src, dst = _read_all(bags['humble_mcap']), _read_all(out)
    for topic, items in src.items():
        assert [(t, raw) for t, _, raw in dst[topic]] == [(t, raw) for t, _, raw in items], topic
    for topic in ('/perception/markers', '/diagnostics'):
        assert len(dst[topic]) == summary.frames
    assert '/perception/occupancy' not in dst and '/perception/segmentation' not in dst  # no such models configured
    diag = dst['/diagnostics'][0][1].status[0]
    assert diag.name == 'omnifuse/perception' and diag.level == 0 and diag.message == 'ok'
    assert set(summary.fusion_rates.values()) == {1.0} and summary.latency_ms['p50'] > 0
    assert summary.outputs['/perception/objects'] == summary.frames


def test_replay_jazzy_sqlite_bag_into_sqlite(bags: dict[str, Path], tmp_path: Path) -> None:
    summary = replay_bag(bags['jazzy_sqlite3'], tmp_path / 'out', params=CLUSTER, storage='sqlite3', progress=False)
    assert summary.distro == 'jazzy'
    assert list((tmp_path / 'out').glob('*.db3'))
    msgs = _read_all(tmp_path / 'out')
    assert len(msgs['/perception/objects']) == summary.frames == 6
    assert hasattr(msgs['/sensors/ultrasonic/us00'][0][1], 'variance')


def _writer_bag(path: Path, distro: str, items: list[tuple[str, str, bytes, int]]) -> None:
    codec = C.RosCodec(distro)
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns: dict[str, object] = {}
        for topic, msgtype, raw, t in items:
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msgtype, typestore=codec.typestore)
            writer.write(conns[topic], t, raw)


def test_replay_reports_and_skips_bad_input(tmp_path: Path) -> None:
    codec = C.RosCodec('jazzy')
    fr = synthetic_frames(6, seed=5, n_points=1500, n_ultrasonic=0)
    cam = fr[0].calib.cameras['front']
    items = []
    for i, f in enumerate(fr):
        t = f.stamp_ns
        info = codec.camera_info(cam, t, 'camera_front_optical')
        items.append((CAM_INFO, 'sensor_msgs/msg/CameraInfo', codec.serialize(info), t))
        img = codec.image(f.images['front'], t, 'camera_front_optical')
        if i == 2:  # wrong size for its camera_info
            img = codec.image(f.images['front'][:, :40], t, 'camera_front_optical')
        if i == 3:
            img.encoding = 'yuv422'
        items.append((CAM, 'sensor_msgs/msg/Image', codec.serialize(img), t))
        cloud = codec.pointcloud2(f.points, t, 'lidar')
        raw = codec.serialize(cloud)
        if i == 1:  # truncated CDR
            raw = raw[:50]
        if i == 4:  # point_step no longer matches the fields
            cloud.point_step = 8
            cloud.row_step = 8 * cloud.width
            cloud.data = cloud.data[: cloud.row_step]
            raw = codec.serialize(cloud)
        items.append((LIDAR, 'sensor_msgs/msg/PointCloud2', raw, t))
    _writer_bag(tmp_path / 'bad', 'jazzy', items)
    summary = replay_bag(tmp_path / 'bad', tmp_path / 'out', params=CLUSTER, progress=False)
    assert summary.frames == 6  # never drops a LiDAR frame
    reasons = {(b.topic, b.stamp_ns): b.reason for b in summary.bad}
    assert summary.bad_count == 4
    assert 'cannot deserialize' in reasons[(LIDAR, fr[1].stamp_ns)]
    assert 'point_step 8 is too small' in reasons[(LIDAR, fr[4].stamp_ns)]
    assert 'camera_info says 64x48' in reasons[(CAM, fr[2].stamp_ns)]
    assert "unknown image encoding 'yuv422'" in reasons[(CAM, fr[3].stamp_ns)]
    msgs = _read_all(tmp_path / 'out')
    objects = msgs['/perception/objects']
    assert [C.stamp_to_ns(m.header.stamp) for _, m, _ in objects] == [f.stamp_ns for f in fr]
    counts = [len(m.detections) for _, m, _ in objects]
    assert counts[1] == 0 and counts[4] == 0 and counts[0] > 0  # unusable clouds: empty, still published
    statuses = [s for _, m, _ in msgs['/diagnostics'] for s in m.status]
    errors = [s.message for s in statuses if s.name == 'omnifuse/input' and s.level == 2]
    assert len(errors) == 4 and any('yuv422' in e for e in errors)
    per_frame = [s for s in statuses if s.name == 'omnifuse/perception']
    assert per_frame[1].level == 2 and 'LiDAR message unusable' in per_frame[1].message
    assert per_frame[2].level == 1 and 'missing camera/front' in per_frame[2].message
    assert summary.fusion_rates['camera/front'] == pytest.approx(4 / 6)
    assert 'point_step 8 is too small' in summary.format()


def test_replay_without_tf_static_writes_one(tmp_path: Path) -> None:
    codec = C.RosCodec('humble')
    f = synthetic_frames(1, seed=1, n_points=800, n_ultrasonic=0)[0]
    _writer_bag(tmp_path / 'in', 'humble', [(LIDAR, 'sensor_msgs/msg/PointCloud2',
                                             codec.serialize(codec.pointcloud2(f.points, f.stamp_ns, 'velodyne')),
                                             f.stamp_ns)])
    summary = replay_bag(tmp_path / 'in', tmp_path / 'out', params=CLUSTER, progress=False, distro='humble')
    msgs = _read_all(tmp_path / 'out')
    tf = C.decode_tf(msgs['/tf_static'][0][1])
    assert summary.distro_reason == 'chosen by the user'
    assert [(e.parent, e.child) for e in tf] == [('base_link', 'lidar')]
    assert msgs['/perception/objects'][0][1].header.frame_id == 'velodyne'  # the cloud's own frame


def test_cli_replay_end_to_end_and_errors(bags: dict[str, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / 'cli_out'
    params = tmp_path / 'cluster.yaml'
    params.write_text('/**:\n  ros__parameters:\n    models:\n      detector: {kind: cluster}\n'
                      '      segmenter: {kind: none}\n      occupancy: {kind: none}\n')
    light = ['--no-progress', '--params', str(params)]
    assert cli_main(['replay', str(bags['jazzy_mcap']), str(out), *light]) == 0
    text = capsys.readouterr().out
    assert 'frames: 6' in text and 'jazzy definitions' in text and 'Foxglove' in text
    assert ('outputs: /diagnostics 6, /perception/markers 6, /perception/objects 6, /perception/track_markers 6, '
            '/perception/tracks 6\n') in text
    assert cli_main(['replay', str(bags['jazzy_mcap']), str(out), *light]) == 2
    assert 'exists already' in capsys.readouterr().err
    assert cli_main(['replay', str(bags['jazzy_mcap']), str(out), *light, '--force']) == 0
    assert cli_main(['replay', str(tmp_path / 'nope'), str(tmp_path / 'o2')]) == 2
    assert cli_main(['replay', str(out), str(out), '--force', '--no-progress']) == 2  # never overwrite the input
    assert (out / 'metadata.yaml').is_file()
    junk = tmp_path / 'junk.mcap'
    junk.write_bytes(b'not an mcap file at all')
    assert cli_main(['replay', str(junk), str(tmp_path / 'o3')]) == 2
    err = capsys.readouterr().err
    assert err.count('omnifuse: error:') == 3 and 'Traceback' not in err


def test_compressed_camera_images_are_read_back(tmp_path: Path, frames: list[SensorFrame]) -> None:
    write_frames_to_bag(frames[:2], tmp_path / 'c', distro='humble', compressed=True)
    with Reader(tmp_path / 'c') as reader:
        assert '/sensors/camera/front/image_raw/compressed' in reader.topics
    got = [af.frame for af in read_bag_frames(tmp_path / 'c')]
    for g, f in zip(got, frames[:2], strict=True):
        np.testing.assert_array_equal(g.images['front'], f.images['front'])  # png is lossless


def test_distro_detection_without_omnifuse_custom_data(bags: dict[str, Path], tmp_path: Path) -> None:
    from omnifuse.ros_nodes.bag_io import detect_distro, open_reader

    # a bare .mcap file has no metadata.yaml, so no custom_data: the Range definition decides
    for key, expected in (('humble_mcap', 'humble'), ('jazzy_mcap', 'jazzy')):
        reader = open_reader(_mcap_file(bags[key]))
        try:
            assert detect_distro(reader, _mcap_file(bags[key])) == (expected, 'sensor_msgs/Range definition')
        finally:
            reader.close()
    # without a Range topic nothing tells Humble from Jazzy apart: the documented default
    f = synthetic_frames(1, seed=0, n_points=300, n_ultrasonic=0)[0]
    f.images.clear()
    f.thermal.clear()
    write_frames_to_bag([f], tmp_path / 'lidar_only', distro='jazzy')
    reader = open_reader(_mcap_file(tmp_path / 'lidar_only'))
    try:
        distro, reason = detect_distro(reader, _mcap_file(tmp_path / 'lidar_only'))
    finally:
        reader.close()
    assert distro == 'humble' and reason.startswith('default')
