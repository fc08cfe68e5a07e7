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
