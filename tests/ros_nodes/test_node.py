"""The perception node: its ROS-free logic (NodeLogic) end to end and the install layout. The rclpy
lifecycle node and the launch file run under a real ROS 2 in test_ros2_live.py."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from omnifuse.errors import OmnifuseError
from omnifuse.ros_nodes import codec as C
from omnifuse.ros_nodes.bag_io import calibration_transforms
from omnifuse.ros_nodes.frames import FrameAssembler
from omnifuse.ros_nodes.node import LATENCY_TOPIC, NodeLogic, choose_distro
from omnifuse.ros_nodes.params import load_params
from omnifuse.ros_nodes.synthetic import synthetic_frames

MS = 1_000_000


@pytest.fixture(scope='module')
def params(repo_root: Path) -> dict:
    """The shipped params (the shipped detector, segmenter and occupancy models) with two ultrasonic sensors."""
    return load_params(repo_root / 'configs' / 'ros' / 'perception.yaml',
                       overrides={'inputs': {'ultrasonic': ['us00', 'us01']}})


def _stream(codec: C.RosCodec, frames: list, *, camera: bool = True) -> list[tuple[str, str, bytes, int]]:
    """(topic, type, raw, receive time) as a robot would deliver them: /tf_static first, the cameras 5 ms
    after the LiDAR."""
    f0 = frames[0]
    items = [('/tf_static', 'tf2_msgs/msg/TFMessage',
              codec.serialize(codec.tf_message(calibration_transforms(f0, f0.stamp_ns))), f0.stamp_ns)]
    for f in frames:
        t = f.stamp_ns
        items.append(('/sensors/lidar/points', 'sensor_msgs/msg/PointCloud2',
                      codec.serialize(codec.pointcloud2(f.points, t, 'lidar')), t + 1 * MS))
        for name in ('us00', 'us01'):
            us = f.calib.ultrasonic[name]
            items.append((f'/sensors/ultrasonic/{name}', 'sensor_msgs/msg/Range',
                          codec.serialize(codec.range(f.ultrasonic[name], t, f'ultrasonic_{name}',
                                                      field_of_view=2 * us.half_angle, min_range=us.min_range,
                                                      max_range=us.max_range)), t + 2 * MS))
        if not camera:
            continue
        for kind, store, images in (('camera', f.calib.cameras, f.images), ('thermal', f.calib.thermal, f.thermal)):
            fid = f'{kind}_front_optical'
            items.append((f'/sensors/{kind}/front/camera_info', 'sensor_msgs/msg/CameraInfo',
                          codec.serialize(codec.camera_info(store['front'], t, fid)), t + 5 * MS))
            items.append((f'/sensors/{kind}/front/image_raw', 'sensor_msgs/msg/Image',
                          codec.serialize(codec.image(images['front'], t + 5 * MS, fid)), t + 6 * MS))
    return items


def test_node_logic_publishes_one_output_set_per_lidar_frame(params: dict) -> None:
    logic = NodeLogic(params, distro='jazzy')
    assert {s.topic for s in logic.subscriptions()} == {
        '/sensors/lidar/points', '/tf_static', '/sensors/camera/front/image_raw',
        '/sensors/camera/front/camera_info', '/sensors/thermal/front/image_raw', '/sensors/thermal/front/camera_info',
        '/sensors/ultrasonic/us00', '/sensors/ultrasonic/us01', '/tf'}  # /tf: odometry for tracking's ego motion
    assert [s.qos for s in logic.subscriptions() if s.topic == '/tf_static'] == ['latched']
    pubs = dict(logic.publications())
    assert pubs['/perception/objects'] == 'vision_msgs/msg/Detection3DArray'
    assert pubs['/perception/segmentation'] == 'sensor_msgs/msg/Image'  # shipped models
    assert pubs['/perception/occupancy'] == 'nav_msgs/msg/OccupancyGrid'
    frames = synthetic_frames(3, seed=8, n_points=1500, n_ultrasonic=2)
    stream = _stream(logic.codec, frames)
    published: list[tuple[str, bytes]] = []
    for topic, msgtype, raw, now in stream:
        published += logic.on_message(topic, msgtype, raw, now)
    published += logic.on_timer(frames[-1].stamp_ns + 500 * MS)  # the timer releases the last frame
    by_topic: dict[str, list] = {}
    for topic, raw in published:
        by_topic.setdefault(topic, []).append(logic.codec.deserialize(raw, pubs[topic]))
    for topic in ('/perception/objects', '/perception/segmentation', '/perception/occupancy', '/diagnostics'):
        assert [C.stamp_to_ns(m.header.stamp) for m in by_topic[topic]] == [f.stamp_ns for f in frames], topic
    grid_info = by_topic['/perception/occupancy'][0].info
    assert (grid_info.width, grid_info.height) == (200, 200)

    # The same core run directly on the frames an independent assembler makes of the same stream.
    assembler = FrameAssembler(params, logic.codec)
    assembled = [af for topic, msgtype, raw, now in stream for af in assembler.feed(topic, msgtype, raw, now)]
    assembled += assembler.flush()
    assert len(assembled) == len(frames)
    for af, f, det, seg, occ in zip(assembled, frames, by_topic['/perception/objects'],
                                    by_topic['/perception/segmentation'], by_topic['/perception/occupancy'],
                                    strict=True):
        direct = logic.core(af.frame)
        got = C.decode_detections(det)
        assert got.names == direct.objects.names
        np.testing.assert_allclose(got.boxes.data, direct.objects.boxes.data, atol=1e-6)
        np.testing.assert_array_equal(C.decode_image(seg), direct.segmentation)
        assert direct.segmentation.shape == f.images['front'].shape[:2]
        grid = np.asarray(occ.data, np.int8).reshape(200, 200).astype(np.uint8)
        np.testing.assert_array_equal(grid, direct.occupancy)
    diag = [m.status[0] for m in by_topic['/diagnostics']]
    assert all(s.level == 0 for s in diag), [s.message for s in diag]
    keys = {kv.key for kv in diag[1].values}
    assert {'processing_ms', 'freshness_ms.camera/front', 'age_ms.camera/front', 'segmenter_ms'} <= keys
    latencies = [m.data for m in by_topic[LATENCY_TOPIC]]
    assert len(latencies) == 3 and all(lat >= 5.0 for lat in latencies)  # waited for the camera at least
    assert all(math.isfinite(lat) for lat in latencies)


def test_node_logic_reports_a_silent_camera(params: dict) -> None:
    logic = NodeLogic(params, distro='humble')
    f = synthetic_frames(1, seed=3, n_points=800, n_ultrasonic=2)[0]
    out = []
    for topic, msgtype, raw, now in _stream(logic.codec, [f], camera=False):
        out += logic.on_message(topic, msgtype, raw, now)
    assert out == []  # still waiting for the cameras
    out = logic.on_timer(f.stamp_ns + 120 * MS)  # camera (100 ms) and thermal (120 ms) timeouts reached
    diag = [logic.codec.deserialize(raw, 'diagnostic_msgs/msg/DiagnosticArray')
            for topic, raw in out if topic == '/diagnostics']
    assert len(diag) == 1 and diag[0].status[0].level == 1
    message = diag[0].status[0].message
    assert message.startswith('missing camera/front, thermal/front; ')
    assert "segmenter: camera 'front' missing: no segmentation" in message
    assert "detector: camera 'front' missing: detections from the LiDAR alone" in message
    assert '/perception/segmentation' not in {topic for topic, _ in out}
    assert [topic for topic, _ in out].count('/perception/objects') == 1


def test_choose_distro() -> None:
    assert choose_distro({'ros_distro': 'Jazzy'}, {}) == 'jazzy'
    assert choose_distro({'ros_distro': ''}, {'ROS_DISTRO': 'humble'}) == 'humble'
    with pytest.raises(OmnifuseError, match='ros_distro'):
        choose_distro({'ros_distro': ''}, {})
    with pytest.raises(OmnifuseError, match="'rolling'"):
        choose_distro({'ros_distro': 'rolling'}, {})


def test_install_layout_ships_node_launch_params_and_msgs(repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `colcon build` / pip install would install, read from setup.py's own arguments."""
    import runpy

    import setuptools
    from setuptools import find_packages

    captured: dict = {}
    monkeypatch.setattr(setuptools, 'setup', lambda **kwargs: captured.update(kwargs))
    monkeypatch.chdir(repo_root)
    runpy.run_path(str(repo_root / 'setup.py'), run_name='__main__')
    data = {dst: srcs for dst, srcs in captured['data_files']}
    assert 'launch/perception.launch.py' in data['share/omnifuse/launch']
    assert 'configs/ros/perception.yaml' in data['share/omnifuse/configs/ros']
    assert 'perception_node = omnifuse.ros_nodes.node:main' in captured['entry_points']['console_scripts']
    assert 'omnifuse.ros_nodes' in find_packages(str(repo_root), include=['omnifuse', 'omnifuse.*'])
    pattern = next(p for p in captured['package_data']['omnifuse'] if p.startswith('ros_nodes/msg'))
    assert len(list((repo_root / 'omnifuse').glob(pattern))) == 5
    compile((repo_root / 'launch' / 'perception.launch.py').read_text(), 'perception.launch.py', 'exec')


def test_subscriptions_take_calibration_before_images_and_lidar_last(params: dict) -> None:
    order = [s.topic for s in NodeLogic(params, distro='jazzy').subscriptions()]
    assert order[0] == '/tf_static' and order[-1] == '/sensors/lidar/points'
    for kind in ('camera', 'thermal'):
        assert order.index(f'/sensors/{kind}/front/camera_info') < order.index(f'/sensors/{kind}/front/image_raw')


def test_frame_queue_keeps_the_newest_and_hands_back_the_evicted() -> None:
    from omnifuse.ros_nodes.node import FrameQueue

    q = FrameQueue(1)
    assert q.put('a') == [] and q.put('b') == ['a'] and len(q) == 1  # type: ignore[arg-type]
    assert q.get(timeout=0.1) == 'b' and q.get(timeout=0.01) is None
    q.put('c')  # type: ignore[arg-type]
    assert q.close() == ['c'] and q.get() is None and q.put('d') == ['d']  # type: ignore[arg-type]
    with pytest.raises(OmnifuseError, match='max_queue'):
        FrameQueue(0)


def test_skipped_frames_still_get_their_objects_flagged_in_diagnostics(params: dict) -> None:
    """What the node does when the models fall behind: the evicted frame is answered empty, WARN."""
    from omnifuse.ros_nodes.node import FrameQueue

    logic = NodeLogic(params, distro='jazzy')
    frames = synthetic_frames(3, seed=5, n_points=800, n_ultrasonic=2)
    queue, published = FrameQueue(1), []
    for topic, msgtype, raw, now in _stream(logic.codec, frames):
        for af in logic.receive(topic, msgtype, raw, now):
            for old in queue.put(af):  # no worker: every frame but the last is evicted
                published += logic.skip(old, now, 'models busy')
    last = queue.get(timeout=0.1) or logic.release(frames[-1].stamp_ns + 500 * MS)[0]
    published += logic.process(last, frames[-1].stamp_ns + 500 * MS)
    pubs = dict(logic.publications())
    objects = [logic.codec.deserialize(raw, pubs[t]) for t, raw in published if t == '/perception/objects']
    diags = [logic.codec.deserialize(raw, pubs[t]) for t, raw in published if t == '/diagnostics']
    assert [C.stamp_to_ns(m.header.stamp) for m in objects] == [f.stamp_ns for f in frames]
    assert all(len(m.detections) == 0 for m in objects[:-1])
    assert [d.status[0].level for d in diags][:-1] == [1, 1]
    assert all(d.status[0].message.startswith('skipped: models busy') for d in diags[:-1])
    assert not diags[-1].status[0].message.startswith('skipped')
    assert logic.counts == {'frames': 3, 'processed': 1, 'skipped': 2}
