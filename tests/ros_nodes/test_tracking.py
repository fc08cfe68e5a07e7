"""Tracking in the ROS layer without ROS: coasting through skipped and late frames, resets, ego pose from /tf,
and the node's tracks topic carrying stable ids."""

from __future__ import annotations

import numpy as np
import pytest

from omnifuse.errors import FormatError
from omnifuse.ros_nodes import codec as C
from omnifuse.ros_nodes.codec import RosCodec, StaticTransform
from omnifuse.ros_nodes.frames import FrameAssembler
from omnifuse.ros_nodes.params import check_types, load_params
from omnifuse.ros_nodes.tracking import PoseBuffer, TrackingStage
from omnifuse.structures import Boxes3D, ObjectLabels
from omnifuse.tracking import MultiObjectTracker, TrackerConfig

PERIOD = 100_000_000
T0 = 1_000_000_000_000


def _dets(k: int, *, speed: float = 5.0, ego: float = 0.0) -> ObjectLabels:
    """A car driving along +x at `speed` and a pedestrian standing, seen from a sensor moving at `ego` m/s."""
    t = k * 0.1
    boxes = np.array([[10.0 + (speed - ego) * t, 3.0, -0.9, 4.2, 1.8, 1.5, 0.0],
                      [8.0 - ego * t, -4.0, -0.9, 0.7, 0.7, 1.7, 1.0]])
    n = len(boxes)
    return ObjectLabels(Boxes3D(boxes), ['Car', 'Pedestrian'], np.zeros(n), np.zeros(n, int), np.zeros(n),
                        np.zeros((n, 4)), np.array([0.9, 0.8]))


def _stage(**kw) -> TrackingStage:
    return TrackingStage(MultiObjectTracker(TrackerConfig.from_dict({'warmup_frames': 0})), **kw)


def _ids(tracks, name: str = 'Car') -> list[int]:
    return [int(i) for i, n in zip(tracks.ids, tracks.names, strict=True) if n == name]


def test_skipped_frames_coast_without_costing_the_tracks_their_life() -> None:
    stage = _stage()
    for k in range(5):
        step = stage.step(T0 + k * PERIOD, _dets(k))
    car = _ids(step.tracks)
    assert step.mode == 'update' and len(car) == 1
    # Five frames in a row without detections known (models busy): the car coasts at its velocity ...
    for k in range(5, 10):
        step = stage.step(T0 + k * PERIOD, None)
        assert step.mode == 'coast' and _ids(step.tracks) == car
        x = step.tracks.boxes.data[step.tracks.names.index('Car'), 0]
        assert abs(x - (10.0 + 5.0 * k * 0.1)) < 0.3
    # ... and the next real frame continues the same track (a skipped frame is no miss).
    step = stage.step(T0 + 10 * PERIOD, _dets(10))
    assert step.mode == 'update' and _ids(step.tracks) == car
    vel = step.tracks.velocities[step.tracks.names.index('Car')]
    assert abs(vel[0] - 5.0) < 0.5


def test_a_late_frame_coasts_and_time_jumping_back_resets() -> None:
    stage = _stage()
    for k in range(4):
        step = stage.step(T0 + k * PERIOD, _dets(k))
    car = _ids(step.tracks)
    late = stage.step(T0 + 2 * PERIOD + 50_000_000, _dets(2), late=True)
    assert late.mode == 'coast' and _ids(late.tracks) == car
    assert _ids(stage.step(T0 + 4 * PERIOD, _dets(4)).tracks) == car  # the tracker never saw the late frame
    # A stamp before the last one without the late flag is still not fed to the tracker.
    assert stage.step(T0, _dets(0)).mode == 'coast'
    # Reset (the bag looped): every track forgotten; new ids (never reused) once confirmed again.
    before = set(stage.step(T0 + 5 * PERIOD, _dets(5)).tracks.ids.tolist())
    first = stage.step(T0, _dets(0), reset=True)
    assert first.mode == 'reset' and not set(first.tracks.ids.tolist()) & before
    for k in range(1, 4):
        step = stage.step(T0 + k * PERIOD, _dets(k))
    assert len(_ids(step.tracks)) == 1 and _ids(step.tracks)[0] > max(before)


def test_ego_motion_gives_velocities_over_ground_and_a_pose_switch_restarts() -> None:
    stage = _stage()
    ego = 8.0
    for k in range(8):
        pose = np.eye(4)
        pose[0, 3] = ego * k * 0.1
        step = stage.step(T0 + k * PERIOD, _dets(k, ego=ego), pose=pose)
    vel = {n: v for n, v in zip(step.tracks.names, step.tracks.velocities, strict=True)}
    assert abs(vel['Car'][0] - 5.0) < 0.5 and np.abs(vel['Pedestrian'][:2]).max() < 0.5
    # Coasting with poses: the standing pedestrian stays where it is in the world.
    pose = np.eye(4)
    pose[0, 3] = ego * 0.8
    coast = stage.step(T0 + 8 * PERIOD, None, pose=pose)
    ped = coast.tracks.boxes.data[coast.tracks.names.index('Pedestrian')]
    assert abs(ped[0] - (8.0 - ego * 0.8)) < 0.2
    # The odometry stops: the tracker cannot mix frames, so the tracks restart (and /diagnostics says why).
    step = stage.step(T0 + 9 * PERIOD, _dets(9, ego=ego))
    assert step.mode == 'reset' and 'ego pose' in step.note
    # Without ego_motion the poses are ignored.
    plain = _stage(ego_motion=False)
    assert plain.step(T0, _dets(0), pose=np.eye(4)).mode == 'update'
    assert plain.step(T0 + PERIOD, _dets(1)).note == ''


def test_pose_buffer_interpolates_extrapolates_a_little_and_resets_on_a_jump_back() -> None:
    buf = PoseBuffer('odom', 'base_link', tolerance_ns=50_000_000)
    assert not buf.add('map', 'odom', np.eye(4), T0)
    for k, x in enumerate((0.0, 1.0)):
        T = np.eye(4)
        T[0, 3] = x
        c, s = np.cos(0.2 * k), np.sin(0.2 * k)
        T[:2, :2] = [[c, -s], [s, c]]
        assert buf.add('odom', '/base_link', T, T0 + k * PERIOD)
    mid = buf.pose_at(T0 + PERIOD // 2)
    assert abs(mid[0, 3] - 0.5) < 1e-9 and abs(np.arctan2(mid[1, 0], mid[0, 0]) - 0.1) < 1e-9
    ahead = buf.pose_at(T0 + PERIOD + 40_000_000)  # within the tolerance: extrapolated
    assert abs(ahead[0, 3] - 1.4) < 1e-9
    assert buf.pose_at(T0 + PERIOD + 60_000_000) is None and buf.pose_at(T0 - 60_000_000) is None
    buf.add('odom', 'base_link', np.eye(4), T0 - 10 * PERIOD * 100)  # time jumped back: old samples dropped
    assert len(buf) == 1


def _feed_tf(asm: FrameAssembler, codec: RosCodec, topic: str, edges: list[StaticTransform], t: int) -> None:
    asm.feed(topic, 'tf2_msgs/msg/TFMessage', codec.serialize(codec.tf_message(edges)), t)


def test_frames_carry_the_ego_pose_from_tf_odometry() -> None:
    codec = RosCodec('humble')
    params = load_params(overrides={'inputs': {'cameras': [''], 'thermal': ['']}})
    asm = FrameAssembler(params, codec)
    base_T_lidar = np.eye(4)
    base_T_lidar[:3, 3] = (1.2, 0.0, 1.7)
    _feed_tf(asm, codec, '/tf_static', [StaticTransform('base_link', 'lidar', base_T_lidar, T0)], T0)
    for k in range(3):
        odom = np.eye(4)
        odom[0, 3] = 2.0 * k
        _feed_tf(asm, codec, '/tf', [StaticTransform('odom', 'base_link', odom, T0 + k * PERIOD)], T0 + k * PERIOD)
    pts = np.zeros((10, 4), np.float32)
    cloud = codec.serialize(codec.pointcloud2(pts, T0 + 150_000_000, 'lidar'))
    frames = asm.feed('/sensors/lidar/points', 'sensor_msgs/msg/PointCloud2', cloud, T0 + 150_000_000)
    assert len(frames) == 1
    pose = frames[0].frame.meta['world_T_lidar']
    np.testing.assert_allclose(pose[:3, 3], (3.0 + 1.2, 0.0, 1.7), atol=1e-9)
    assert frames[0].frame.meta['world_frame'] == 'odom'
    # Without odometry near the stamp: no pose (the tracker then works in the LiDAR frame).
    cloud = codec.serialize(codec.pointcloud2(pts, T0 + 900_000_000, 'lidar'))
    far = asm.feed('/sensors/lidar/points', 'sensor_msgs/msg/PointCloud2', cloud, T0 + 900_000_000)
    assert 'world_T_lidar' not in far[0].frame.meta
    # tracking.ego_motion false: /tf is not even read.
    off = FrameAssembler(load_params(overrides={'tracking': {'ego_motion': False}}), codec)
    assert off.poses is None


def test_tracker_params_are_checked_by_name() -> None:
    check_types({'tracking': {'tracker': {'classes': {'Car': {'max_age': 4}}}}}, 'p.yaml')
    with pytest.raises(FormatError, match=r"p.yaml: .*tracking.tracker.*'max_agee'"):
        check_types({'tracking': {'tracker': {'max_agee': 4}}}, 'p.yaml')
    with pytest.raises(FormatError, match='p.yaml: .*min_hits'):
        check_types({'tracking': {'tracker': {'classes': {'Car': {'min_hits': 'many'}}}}}, 'p.yaml')
    with pytest.raises(FormatError, match='tracking.enabled: expected true or false'):
        check_types({'tracking': {'enabled': 'yes'}}, 'p.yaml')


def test_node_publishes_tracks_with_stable_ids_and_coasts_through_a_skipped_frame() -> None:
    from omnifuse.ros_nodes.core import PerceptionCore
    from omnifuse.ros_nodes.node import NodeLogic

    k_box = iter(range(100))

    def detector(frame):
        return _dets(next(k_box))

    core = PerceptionCore(detector=detector, tracker=_stage())
    params = {'inputs': {'cameras': [''], 'thermal': ['']}, 'ros_distro': 'jazzy'}
    logic = NodeLogic(params, core=core)
    assert ('/perception/tracks', 'vision_msgs/msg/Detection3DArray') in logic.publications()
    assert ('/perception/track_markers', 'visualization_msgs/msg/MarkerArray') in logic.publications()
    assert any(s.topic == '/tf' for s in logic.subscriptions())
    codec = logic.codec
    ids = []
    for k in range(8):
        stamp = T0 + k * PERIOD
        raw = codec.serialize(codec.pointcloud2(np.ones((5, 4), np.float32), stamp, 'lidar'))
        frames = logic.receive('/sensors/lidar/points', 'sensor_msgs/msg/PointCloud2', raw, stamp)
        assert len(frames) == 1
        if k == 5:
            out = logic.skip(frames[0], stamp, 'models busy')
            next(k_box)  # the detector never saw this frame
        else:
            out = logic.process(frames[0], stamp)
        msgs = dict(out)
        tracks = codec.deserialize(msgs['/perception/tracks'], 'vision_msgs/msg/Detection3DArray')
        assert C.stamp_to_ns(tracks.header.stamp) == stamp
        ids.append(C.decode_detection_ids(tracks))
        markers = codec.deserialize(msgs['/perception/track_markers'], 'visualization_msgs/msg/MarkerArray')
        assert {m.ns for m in markers.markers[1:]} == ({'track_boxes', 'track_ids', 'track_velocity'} if ids[-1]
                                                        else set())
    assert all(ids[k] == ids[-1] for k in range(2, 8)) and len(ids[-1]) == 2
