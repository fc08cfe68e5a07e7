"""The perception node: its ROS-free logic (NodeLogic) end to end, the install layout, and (when a
ROS 2 installation is present) the rclpy lifecycle node and the launch file."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from omnifuse.errors import OmnifuseError
from omnifuse.ros_nodes import codec as C
from omnifuse.ros_nodes.cluster import ClusterDetector
from omnifuse.ros_nodes.node import LATENCY_TOPIC, NodeLogic, choose_distro
from omnifuse.ros_nodes.params import load_params
from omnifuse.ros_nodes.synthetic import synthetic_frames

MS = 1_000_000


@pytest.fixture(scope='module')
def params(repo_root: Path) -> dict:
    return load_params(repo_root / 'configs' / 'ros' / 'perception.yaml',
                       overrides={'inputs': {'thermal': [''], 'ultrasonic': ['us00', 'us01']}})


def _stream(codec: C.RosCodec, frames: list) -> list[tuple[str, str, bytes, int]]:
    """(topic, type, raw, receive time) as a robot would deliver them: camera 5 ms after the LiDAR."""
    items = []
    cam = frames[0].calib.cameras['front']
    for f in frames:
        t = f.stamp_ns
        items.append(('/sensors/lidar/points', 'sensor_msgs/msg/PointCloud2',
                      codec.serialize(codec.pointcloud2(f.points, t, 'lidar')), t + 1 * MS))
        for name in ('us00', 'us01'):
            items.append((f'/sensors/ultrasonic/{name}', 'sensor_msgs/msg/Range',
                          codec.serialize(codec.range(f.ultrasonic[name], t, f'ultrasonic_{name}',
                                                      field_of_view=1.0, min_range=0.1, max_range=5.0)), t + 2 * MS))
        items.append(('/sensors/camera/front/camera_info', 'sensor_msgs/msg/CameraInfo',
                      codec.serialize(codec.camera_info(cam, t, 'camera_front_optical')), t + 5 * MS))
        items.append(('/sensors/camera/front/image_raw', 'sensor_msgs/msg/Image',
                      codec.serialize(codec.image(f.images['front'], t + 5 * MS, 'camera_front_optical')), t + 6 * MS))
    return items


def test_node_logic_publishes_one_output_set_per_lidar_frame(params: dict) -> None:
    logic = NodeLogic(params, distro='jazzy')
    assert {s.topic for s in logic.subscriptions()} == {
        '/sensors/lidar/points', '/tf_static', '/sensors/camera/front/image_raw',
        '/sensors/camera/front/camera_info', '/sensors/ultrasonic/us00', '/sensors/ultrasonic/us01'}
    assert [s.qos for s in logic.subscriptions() if s.topic == '/tf_static'] == ['latched']
    assert ('/perception/objects', 'vision_msgs/msg/Detection3DArray') in logic.publications()
    assert ('/perception/occupancy', 'nav_msgs/msg/OccupancyGrid') in logic.publications()  # shipped model
    frames = synthetic_frames(4, seed=8, n_points=1500, n_ultrasonic=2)
    published: list[tuple[str, bytes]] = []
    for topic, msgtype, raw, now in _stream(logic.codec, frames):
        published += logic.on_message(topic, msgtype, raw, now)
    published += logic.on_timer(frames[-1].stamp_ns + 500 * MS)  # the timer releases the last frame
    by_topic: dict[str, list] = {}
    for topic, raw in published:
        msgtype = dict(logic.publications())[topic]
        by_topic.setdefault(topic, []).append(logic.codec.deserialize(raw, msgtype))
    objects = by_topic['/perception/objects']
    assert [C.stamp_to_ns(m.header.stamp) for m in objects] == [f.stamp_ns for f in frames]
    grids = by_topic['/perception/occupancy']
    assert [C.stamp_to_ns(m.header.stamp) for m in grids] == [f.stamp_ns for f in frames]
    assert (grids[0].info.width, grids[0].info.height) == (200, 200)
    for m, f in zip(objects, frames):
        direct = ClusterDetector()(f)
        np.testing.assert_allclose(C.decode_detections(m).boxes.data, direct.boxes.data, atol=1e-9)
    diag = [m.status[0] for m in by_topic['/diagnostics']]
    assert all(s.level == 0 for s in diag), [s.message for s in diag]
    keys = {kv.key for kv in diag[1].values}
    assert {'processing_ms', 'freshness_ms.camera/front', 'age_ms.camera/front'} <= keys
    latencies = [m.data for m in by_topic[LATENCY_TOPIC]]
    assert len(latencies) == 4 and all(lat >= 5.0 for lat in latencies)  # waited for the camera at least
    assert all(math.isfinite(lat) for lat in latencies)


def test_node_logic_reports_a_silent_camera(params: dict) -> None:
    logic = NodeLogic(params, distro='humble')
    f = synthetic_frames(1, seed=3, n_points=800, n_ultrasonic=2)[0]
    items = [it for it in _stream(logic.codec, [f]) if 'camera' not in it[0]]
    out = []
    for topic, msgtype, raw, now in items:
        out += logic.on_message(topic, msgtype, raw, now)
    assert out == []  # still waiting for the camera
    out = logic.on_timer(f.stamp_ns + 100 * MS)  # camera timeout (100 ms) reached
    diag = [logic.codec.deserialize(raw, 'diagnostic_msgs/msg/DiagnosticArray')
            for topic, raw in out if topic == '/diagnostics']
    assert len(diag) == 1 and diag[0].status[0].level == 1
    assert diag[0].status[0].message == 'missing camera/front'


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


def test_rclpy_lifecycle_node_configures_and_activates(params: dict) -> None:
    rclpy = pytest.importorskip('rclpy')
    from rclpy.lifecycle import State, TransitionCallbackReturn

    from omnifuse.ros_nodes.node import _node_class

    rclpy.init(args=['--ros-args', '-p', 'ros_distro:=humble'])
    try:
        node = _node_class()()
        state = State(0, 'unconfigured')
        assert node.on_configure(state) == TransitionCallbackReturn.SUCCESS
        assert '/perception/objects' in node._pubs
        assert node.on_activate(state) == TransitionCallbackReturn.SUCCESS
        assert len(node._subs) == len(node.logic.subscriptions())
        node.on_deactivate(state)
        node.on_cleanup(state)
        node.destroy_node()
    finally:
        rclpy.shutdown()


def test_launch_description_declares_the_arguments(repo_root: Path) -> None:
    pytest.importorskip('launch')
    pytest.importorskip('launch_ros')
    spec = importlib.util.spec_from_file_location('perception_launch', repo_root / 'launch' / 'perception.launch.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    names = {a.name for a in module.generate_launch_description().entities if hasattr(a, 'default_value')}
    assert {'params_file', 'checkpoint', 'device', 'lidar_topic', 'objects_topic'} <= names
