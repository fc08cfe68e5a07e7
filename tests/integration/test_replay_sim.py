"""A bag from the simulator replays into detections equal to running the same detector directly on the
same frames (same boxes, same stamps), read back with rosbags and with mcap + mcap_ros2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from mcap_ros2.reader import read_ros2_messages
from rosbags.rosbag2 import Reader

from omnifuse.datasets.sim import LidarModel, generate_sequence
from omnifuse.ros_nodes import codec as C
from omnifuse.ros_nodes.bag_io import write_frames_to_bag
from omnifuse.ros_nodes.cluster import ClusterDetector
from omnifuse.ros_nodes.replay import replay_bag


def test_simulator_bag_replays_to_the_direct_detections(tmp_path: Path) -> None:
    frames = generate_sequence(21, 2, lidar=LidarModel(n_azimuth=1000))
    write_frames_to_bag(frames, tmp_path / 'sim', distro='jazzy')
    summary = replay_bag(tmp_path / 'sim', tmp_path / 'out', progress=False)
    assert summary.frames == 2 and summary.bad_count == 0 and summary.distro == 'jazzy'
    assert summary.fusion_rates and min(summary.fusion_rates.values()) == 1.0

    detector = ClusterDetector()
    direct = [detector(f) for f in frames]
    assert sum(len(d) for d in direct) > 0
    codec = C.RosCodec('jazzy')
    with Reader(tmp_path / 'out') as reader:
        conns = [c for c in reader.connections if c.topic == '/perception/objects']
        got = [(t, codec.deserialize(raw, c.msgtype)) for c, t, raw in reader.messages(conns)]
    assert [C.stamp_to_ns(m.header.stamp) for _, m in got] == [f.stamp_ns for f in frames]
    for (_, msg), d in zip(got, direct):
        labels = C.decode_detections(msg)
        assert labels.names == d.names
        np.testing.assert_allclose(labels.boxes.data, d.boxes.data, atol=1e-9)
    mcap = next((tmp_path / 'out').glob('*.mcap'))
    via_mcap = [m.ros_msg for m in read_ros2_messages(mcap) if m.channel.topic == '/perception/objects']
    assert [len(m.detections) for m in via_mcap] == [len(d) for d in direct]
    for m, d in zip(via_mcap, direct):
        centres = np.array([[x.bbox.center.position.x, x.bbox.center.position.y] for x in m.detections]).reshape(-1, 2)
        np.testing.assert_allclose(centres, d.boxes.data[:, :2], atol=1e-9)


def test_simulator_bag_replays_to_the_shipped_detector_run_directly(tmp_path: Path) -> None:
    """The learned detector (shipped checkpoint) through replay equals the same checkpoint run directly."""
    from omnifuse.apis.detection import FrameDetector
    from omnifuse.ros_nodes.params import load_params

    frames = generate_sequence(33, 2, lidar=LidarModel(n_azimuth=1500))
    write_frames_to_bag(frames, tmp_path / 'sim', distro='humble')
    params = load_params(overrides={'models': {'detector': {'kind': 'checkpoint', 'checkpoint': '',
                                                            'score_threshold': 0.3},
                                               'occupancy': {'kind': 'none'}}})
    summary = replay_bag(tmp_path / 'sim', tmp_path / 'out', params=params, progress=False)
    assert summary.frames == 2 and summary.bad_count == 0

    detector = FrameDetector(score_threshold=0.0)
    direct = []
    for f in frames:
        d = detector(f)
        direct.append(d.select(d.scores >= 0.3))
    assert sum(len(d) for d in direct) > 0, 'the shipped detector finds nothing in the simulated street'
    codec = C.RosCodec('humble')
    with Reader(tmp_path / 'out') as reader:
        conns = [c for c in reader.connections if c.topic == '/perception/objects']
        got = [codec.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(conns)]
    assert [C.stamp_to_ns(m.header.stamp) for m in got] == [f.stamp_ns for f in frames]
    for msg, d in zip(got, direct):
        labels = C.decode_detections(msg)
        assert labels.names == d.names
        # The bag carries the calibration as TF quaternions and CameraInfo: equal up to float rounding.
        np.testing.assert_allclose(labels.boxes.data, d.boxes.data, atol=1e-3)
    mcap = next((tmp_path / 'out').glob('*.mcap'))
    via_mcap = [m.ros_msg for m in read_ros2_messages(mcap) if m.channel.topic == '/perception/objects']
    assert [len(m.detections) for m in via_mcap] == [len(d) for d in direct]
