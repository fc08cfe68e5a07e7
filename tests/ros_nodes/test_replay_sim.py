"""A bag from the simulator replays into outputs equal to running the same models directly on the same
frames (same boxes, same class-id images, same grids, same stamps), read back with rosbags and with
mcap + mcap_ros2. The default params run the shipped checkpoints on the ROS contract's 'front' camera."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mcap_ros2.reader import read_ros2_messages
from rosbags.rosbag2 import Reader

from omnifuse.datasets.sim import LidarModel, generate_sequence
from omnifuse.ros_nodes import codec as C
from omnifuse.ros_nodes.bag_io import read_bag_frames, write_frames_to_bag
from omnifuse.ros_nodes.cluster import ClusterDetector
from omnifuse.ros_nodes.core import PerceptionCore
from omnifuse.ros_nodes.params import load_params
from omnifuse.ros_nodes.replay import replay_bag

CLUSTER = load_params(overrides={'models': {'detector': {'kind': 'cluster', 'score_threshold': 0.0},
                                            'segmenter': {'kind': 'none'}, 'occupancy': {'kind': 'none'}}})


def _read(path: Path, distro: str, topics: tuple[str, ...]) -> dict[str, list]:
    codec = C.RosCodec(distro)
    out: dict[str, list] = {t: [] for t in topics}
    with Reader(path) as reader:
        conns = [c for c in reader.connections if c.topic in topics]
        for c, t, raw in reader.messages(conns):
            out[c.topic].append((t, codec.deserialize(raw, c.msgtype)))
    return out


def test_simulator_bag_replays_to_the_direct_cluster_detections(tmp_path: Path) -> None:
    frames = generate_sequence(21, 2, lidar=LidarModel(n_azimuth=1000))
    write_frames_to_bag(frames, tmp_path / 'sim', distro='jazzy')
    summary = replay_bag(tmp_path / 'sim', tmp_path / 'out', params=CLUSTER, progress=False)
    assert summary.frames == 2 and summary.bad_count == 0 and summary.distro == 'jazzy'
    # the simulator's image_2 / thermal cameras are the contract's 'front' cameras in the bag
    assert set(summary.fusion_rates) >= {'camera/front', 'thermal/front'}
    assert min(summary.fusion_rates.values()) == 1.0

    detector = ClusterDetector()
    direct = [detector(f) for f in frames]
    assert sum(len(d) for d in direct) > 0
    got = _read(tmp_path / 'out', 'jazzy', ('/perception/objects',))['/perception/objects']
    assert [C.stamp_to_ns(m.header.stamp) for _, m in got] == [f.stamp_ns for f in frames]
    for (_, msg), d in zip(got, direct, strict=True):
        labels = C.decode_detections(msg)
        assert labels.names == d.names
        np.testing.assert_allclose(labels.boxes.data, d.boxes.data, atol=1e-9)
    mcap = next((tmp_path / 'out').glob('*.mcap'))
    via_mcap = [m.ros_msg for m in read_ros2_messages(mcap) if m.channel.topic == '/perception/objects']
    assert [len(m.detections) for m in via_mcap] == [len(d) for d in direct]
    for m, d in zip(via_mcap, direct, strict=True):
        centres = np.array([[x.bbox.center.position.x, x.bbox.center.position.y] for x in m.detections]).reshape(-1, 2)
        np.testing.assert_allclose(centres, d.boxes.data[:, :2], atol=1e-9)


@pytest.fixture(scope='module')
def default_replay(tmp_path_factory: pytest.TempPathFactory, repo_root: Path):  # type: ignore[no-untyped-def]
    """Two night street frames (thermal matters), replayed with the shipped params file."""
    root = tmp_path_factory.mktemp('sim_default')
    frames = generate_sequence(33, 2, condition='night', lidar=LidarModel(n_azimuth=1000))
    write_frames_to_bag(frames, root / 'sim', distro='humble')
    params = load_params(repo_root / 'configs' / 'ros' / 'perception.yaml')
    summary = replay_bag(root / 'sim', root / 'out', params=params, progress=False)
    return frames, params, summary, root


def test_default_params_replay_equals_the_shipped_models_run_directly(default_replay) -> None:  # type: ignore[no-untyped-def]
    from omnifuse.apis.detection import FrameDetector
    from omnifuse.apis.occupancy import NearFieldOccupancyPredictor
    from omnifuse.apis.segmentation import FrameSegmenter

    frames, params, summary, root = default_replay
    assert summary.frames == 2 and summary.bad_count == 0 and summary.model_errors == 0
    topics = ('/perception/objects', '/perception/segmentation', '/perception/occupancy', '/diagnostics')
    assert all(summary.outputs[t] == 2 for t in topics)
    got = _read(root / 'out', 'humble', topics)
    stamps = [f.stamp_ns for f in frames]
    for topic in topics:  # every output stamped (and logged) with its LiDAR frame's stamp
        assert [C.stamp_to_ns(m.header.stamp) for _, m in got[topic]] == stamps, topic
        assert [t for t, _ in got[topic]] == stamps, topic
    diagnostics = [m.status[0] for _, m in got['/diagnostics']]
    assert all(s.level == 0 for s in diagnostics), [s.message for s in diagnostics]

    # objects: the shipped detector on the simulator's own frames (its image_2 is the bag's 'front')
    threshold = params['models']['detector']['score_threshold']
    detector = FrameDetector(score_threshold=threshold, camera='image_2')
    direct = [detector(f) for f in frames]
    assert sum(len(d) for d in direct) > 0, 'the shipped detector finds nothing in the simulated street'
    for (_, msg), d in zip(got['/perception/objects'], direct, strict=True):
        labels = C.decode_detections(msg)
        assert labels.names == d.names
        # The bag carries the calibration as TF quaternions and CameraInfo: equal up to float rounding.
        np.testing.assert_allclose(labels.boxes.data, d.boxes.data, atol=1e-3)

    # segmentation: mono8 class ids in the front camera, equal to FrameSegmenter on the same frame
    segmenter = FrameSegmenter()  # image_2 + thermal of the simulator frame
    front = FrameSegmenter.from_model(segmenter.model, segmenter.cfg, camera='front', thermal='front')
    bag_frames = [af.frame for af in read_bag_frames(root / 'sim')]
    for (_, msg), f, bf in zip(got['/perception/segmentation'], frames, bag_frames, strict=True):
        assert msg.encoding == 'mono8' and msg.header.frame_id == 'camera_front_optical'
        image = C.decode_image(msg)
        assert image.dtype == np.uint8 and image.shape == f.images['image_2'].shape[:2]
        assert segmenter.inputs(f).x is not None  # the thermal camera was warped in
        np.testing.assert_array_equal(image, front(bf))  # the frame as the replay assembled it
        np.testing.assert_array_equal(image, segmenter(f))  # the simulator's own frame
        assert len(np.unique(image)) >= 4

    # occupancy: the shipped near-field model on the same frame, in the ROS grid layout
    occupancy = PerceptionCore(occupancy=NearFieldOccupancyPredictor(camera='front'))  # one CPU thread, as replayed
    for (_, msg), bf in zip(got['/perception/occupancy'], bag_frames, strict=True):
        grid = np.asarray(msg.data, dtype=np.int8).reshape(msg.info.height, msg.info.width)
        np.testing.assert_array_equal(grid.astype(np.uint8), occupancy(bf).occupancy)

    # the independent reader sees the same images and boxes
    mcap = next((root / 'out').glob('*.mcap'))
    seen: dict[str, list] = {}
    for m in read_ros2_messages(mcap):
        if m.channel.topic in topics:
            seen.setdefault(m.channel.topic, []).append(m.ros_msg)
    for m, (_, msg) in zip(seen['/perception/segmentation'], got['/perception/segmentation'], strict=True):
        assert (m.height, m.width, m.encoding) == (msg.height, msg.width, 'mono8')
        np.testing.assert_array_equal(np.frombuffer(bytes(m.data), np.uint8).reshape(m.height, m.step)[:, :m.width],
                                      C.decode_image(msg))
    assert [len(m.detections) for m in seen['/perception/objects']] == [len(d) for d in direct]


def test_a_camera_named_otherwise_is_reported_not_substituted(tmp_path: Path, repo_root: Path) -> None:
    """A bag keeping the simulator's names (image_2, thermal): the 'front' models say so in /diagnostics,
    segmentation is not published, detections still come (from the LiDAR alone), one per frame."""
    frames = generate_sequence(33, 1, lidar=LidarModel(n_azimuth=500))
    write_frames_to_bag(frames, tmp_path / 'sim', distro='jazzy', sensor_names={})
    params = load_params(repo_root / 'configs' / 'ros' / 'perception.yaml')
    summary = replay_bag(tmp_path / 'sim', tmp_path / 'out', params=params, progress=False)
    assert summary.frames == 1 and summary.model_errors == 0 and 'camera/image_2' in summary.fusion_rates
    assert '/perception/segmentation' not in summary.outputs and summary.outputs['/perception/objects'] == 1
    diag = _read(tmp_path / 'out', 'jazzy', ('/diagnostics',))['/diagnostics'][0][1].status[0]
    assert diag.level == 1
    assert "detector: camera 'front' missing (the frame has image_2): detections from the LiDAR alone" in diag.message
    assert "segmenter: camera 'front' missing (the frame has image_2): no segmentation" in diag.message
    assert "occupancy: camera 'front' missing" in diag.message


def test_replay_writes_tracks_whose_ids_stay_with_their_objects(tmp_path: Path) -> None:
    frames = generate_sequence(21, 5, lidar=LidarModel(n_azimuth=1000))
    write_frames_to_bag(frames, tmp_path / 'sim', distro='jazzy')
    summary = replay_bag(tmp_path / 'sim', tmp_path / 'out', params=CLUSTER, progress=False)
    assert summary.outputs['/perception/tracks'] == summary.outputs['/perception/track_markers'] == 5
    got = _read(tmp_path / 'out', 'jazzy', ('/perception/tracks', '/perception/track_markers'))
    ids = [C.decode_detection_ids(m) for _, m in got['/perception/tracks']]
    assert [C.stamp_to_ns(m.header.stamp) for _, m in got['/perception/tracks']] == [f.stamp_ns for f in frames]
    # The objects confirmed by the third frame keep their ids to the end (the simulated world moves smoothly).
    lasting = set(ids[2]) & set(ids[3]) & set(ids[4])
    assert len(lasting) >= 3 and all(i.isdigit() for i in lasting)
    # Each track has its box, its '#id' text and its velocity arrow in the markers.
    markers = got['/perception/track_markers'][-1][1].markers
    texts = {m.text.split()[0] for m in markers if m.ns == 'track_ids'}
    assert texts == {f'#{i}' for i in ids[-1]}
    assert len([m for m in markers if m.ns == 'track_velocity' and m.type == 0]) == len(ids[-1])
