"""ROS 2 input messages -> synchronised `SensorFrame`s (shared by replay, `read_bag_frames` and the node).

`FrameAssembler.feed(topic, msgtype, raw, log_time_ns)` takes one serialized (CDR) message, decodes
it, hands it to the `SensorSync` and returns the frames that became complete. Topics are classified
by the `inputs` params:

    <lidar>                                       sensor_msgs/PointCloud2      -> points
    <camera_prefix>/<name>/image_raw[/compressed] Image / CompressedImage      -> images[name] (RGB)
    <camera_prefix>/<name>/camera_info            CameraInfo                   -> calib.cameras[name]
    <thermal_prefix>/<name>/image_raw, /camera_info  (the same)                -> thermal[name]
    <ultrasonic_prefix>/<name>                    sensor_msgs/Range            -> ultrasonic[name]
    <tf_static>                                   tf2_msgs/TFMessage           -> extrinsics
    <tf> (/tf)                                    tf2_msgs/TFMessage           -> ego pose (tracking: the
                                                  `tracking.odom_frame` -> `tracking.base_frame` edges)

Calibration: intrinsics from camera_info, extrinsics from /tf_static (chained to the LiDAR
cloud's frame), ultrasonic cones from the Range messages; the optional `calibration_file`
(KITTI-style text) fills in what the bag does not carry. Bad input (undecodable CDR, point_step
mismatch, wrong image size, unknown encoding) is recorded as a `BadMessage` (topic, stamp, reason)
and skipped; a bad LiDAR message still yields its frame (without points), so the output count
equals the LiDAR input count.

Ego pose: with tracking on and `tracking.ego_motion` true, the odometry edges of /tf are buffered
(`tracking.PoseBuffer`) and every frame whose stamp they cover gets `meta['world_T_lidar']` =
T_odom_base(stamp) @ T_base_lidar (the latter from /tf_static) and `meta['world_frame']`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from omnifuse.errors import FormatError
from omnifuse.ros_nodes import codec as C
from omnifuse.ros_nodes.params import default
from omnifuse.ros_nodes.params import names as param_names
from omnifuse.ros_nodes.sync import SensorSync, SyncedFrame, specs_from_params
from omnifuse.structures import Calibration, CameraModel, SensorFrame, UltrasonicSensor

__all__ = ['BadMessage', 'AssembledFrame', 'TopicRoles', 'TfTree', 'FrameAssembler']

_IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')


@dataclass(frozen=True)
class BadMessage:
    """A message that was skipped: where it came from and why."""

    topic: str
    stamp_ns: int
    reason: str

    def __str__(self) -> str:
        return f'{self.topic} @ {self.stamp_ns}: {self.reason}'


@dataclass
class AssembledFrame:
    """A synchronised SensorFrame plus what the diagnostics need.

    Attributes:
        frame: the SensorFrame (stamp = LiDAR stamp; stamps_ns keyed 'lidar', 'camera/<name>', ...).
        lidar_frame_id: frame_id of the LiDAR cloud (the frame of every output).
        log_time_ns: bag/receive time of the LiDAR message.
        missing: sensors that were not attached ('camera/front', ...).
        late, duplicate, reset: see SyncedFrame.
        lidar_error: why the LiDAR message itself was unusable (frame has no points), or ''.
        bad: input messages found bad since the previous frame (reported in this frame's diagnostics).
    """

    frame: SensorFrame
    lidar_frame_id: str
    log_time_ns: int
    missing: tuple[str, ...] = ()
    late: bool = False
    duplicate: bool = False
    lidar_error: str = ''
    reset: bool = False
    bad: list[BadMessage] = field(default_factory=list)


@dataclass
class _Lidar:
    points: np.ndarray | None
    frame_id: str
    log_time_ns: int
    error: str = ''


class TopicRoles:
    """Classifies topics into (role, sensor name) from the `inputs` params."""

    def __init__(self, inputs: Mapping[str, Any]) -> None:
        inputs = {**default('inputs'), **inputs}
        self.lidar = str(inputs['lidar'])
        self.tf_static = str(inputs['tf_static'])
        self.tf = str(inputs['tf'])
        self.prefixes = {kind: str(inputs[f'{kind}_prefix']).rstrip('/')
                         for kind in ('camera', 'thermal', 'ultrasonic')}

    def classify(self, topic: str, msgtype: str) -> tuple[str, str] | None:
        """(role, name) with role in lidar, camera, camera_info, thermal, thermal_info, ultrasonic, tf (static),
        odom (/tf); None for topics that are not inputs."""
        if topic == self.lidar and msgtype == 'sensor_msgs/msg/PointCloud2':
            return ('lidar', 'lidar')
        if topic == self.tf_static and msgtype == 'tf2_msgs/msg/TFMessage':
            return ('tf', '')
        if topic == self.tf and msgtype == 'tf2_msgs/msg/TFMessage':
            return ('odom', '')
        for kind in ('camera', 'thermal'):
            prefix = self.prefixes[kind] + '/'
            if not topic.startswith(prefix):
                continue
            rest = topic[len(prefix):]
            for suffix, role, types in (('/image_raw', kind, ('sensor_msgs/msg/Image',)),
                                        ('/image_raw/compressed', kind, ('sensor_msgs/msg/CompressedImage',)),
                                        ('/camera_info', f'{kind}_info', ('sensor_msgs/msg/CameraInfo',))):
                if rest.endswith(suffix) and '/' not in rest[: -len(suffix)] and msgtype in types:
                    return (role, rest[: -len(suffix)])
        prefix = self.prefixes['ultrasonic'] + '/'
        if topic.startswith(prefix) and msgtype == 'sensor_msgs/msg/Range' and '/' not in topic[len(prefix):]:
            return ('ultrasonic', topic[len(prefix):])
        return None

    def expected_type(self, topic: str) -> str | None:
        """The message type an input topic of this name must carry (None: not an input topic name)."""
        if topic == self.lidar:
            return 'sensor_msgs/msg/PointCloud2'
        if topic in (self.tf_static, self.tf):
            return 'tf2_msgs/msg/TFMessage'
        for kind in ('camera', 'thermal'):
            prefix = self.prefixes[kind] + '/'
            rest = topic[len(prefix):] if topic.startswith(prefix) else ''
            for suffix, msgtype in (('/image_raw/compressed', 'sensor_msgs/msg/CompressedImage'),
                                    ('/image_raw', 'sensor_msgs/msg/Image'),
                                    ('/camera_info', 'sensor_msgs/msg/CameraInfo')):
                if rest.endswith(suffix) and rest[: -len(suffix)] and '/' not in rest[: -len(suffix)]:
                    return msgtype
        prefix = self.prefixes['ultrasonic'] + '/'
        if topic.startswith(prefix) and topic[len(prefix):] and '/' not in topic[len(prefix):]:
            return 'sensor_msgs/msg/Range'
        return None

    def sensors_of(self, topics: Iterable[tuple[str, str]]) -> list[str]:
        """Sensor keys ('camera/front', ...) of the (topic, msgtype) pairs that are synced inputs."""
        out = []
        for topic, msgtype in topics:
            role = self.classify(topic, msgtype)
            if role is not None and role[0] in ('camera', 'thermal', 'ultrasonic'):
                out.append(f'{role[0]}/{role[1]}')
        return sorted(set(out))

    def topic(self, role: str, name: str = '', *, compressed: bool = False) -> str:
        """The topic of (role, name), inverse of `classify`."""
        if role == 'lidar':
            return self.lidar
        if role == 'tf':
            return self.tf_static
        if role == 'odom':
            return self.tf
        if role in ('camera', 'thermal'):
            return f'{self.prefixes[role]}/{name}/image_raw' + ('/compressed' if compressed else '')
        if role in ('camera_info', 'thermal_info'):
            return f'{self.prefixes[role.split("_")[0]]}/{name}/camera_info'
        if role == 'ultrasonic':
            return f'{self.prefixes["ultrasonic"]}/{name}'
        raise KeyError(role)


class TfTree:
    """Static transforms; `lookup(target, source)` chains edges into T_target_source (4x4)."""

    def __init__(self) -> None:
        self.edges: dict[str, C.StaticTransform] = {}  # child -> edge from its parent
        self.version = 0

    def add(self, edge: C.StaticTransform) -> None:
        """Insert or replace the edge into `edge.child`."""
        old = self.edges.get(edge.child)
        if old is None or old.parent != edge.parent or not np.array_equal(old.matrix, edge.matrix):
            self.edges[edge.child] = edge
            self.version += 1

    def _to_root(self, frame: str) -> tuple[str, np.ndarray]:
        T = np.eye(4)  # T_root_frame, accumulated
        seen = set()
        while frame in self.edges and frame not in seen:
            seen.add(frame)
            edge = self.edges[frame]
            T = edge.matrix @ T
            frame = edge.parent
        return frame, T

    def lookup(self, target: str, source: str) -> np.ndarray | None:
        """T_target_source, or None when the frames are not connected."""
        if target == source:
            return np.eye(4)
        root_t, T_rt = self._to_root(target)
        root_s, T_rs = self._to_root(source)
        if root_t != root_s:
            return None
        return np.linalg.inv(T_rt) @ T_rs


class FrameAssembler:
    """Decode input messages, keep calibration, synchronise, and build SensorFrames.

    Args:
        params: node params (see configs/ros/perception.yaml).
        codec: the RosCodec of the bag's / robot's distribution.
        thermal_scale: per thermal camera, factor turning stored uint16 values into float32
            (e.g. 0.01 for centi-kelvin); cameras not listed stay uint16.
        sensors: the sensors to wait for ('camera/front', 'ultrasonic/fl', ...); default: the
            `inputs` lists of the params (live use). A replay passes the sensors its bag has.
        max_bad: how many BadMessage records are kept (all are counted).
    """

    def __init__(self, params: Mapping[str, Any], codec: C.RosCodec, *,
                 thermal_scale: Mapping[str, float] | None = None, sensors: Iterable[str] | None = None,
                 max_bad: int = 1000) -> None:
        self.params = params
        self.codec = codec
        self.roles = TopicRoles(params.get('inputs', {}) or {})
        self.default_lidar_frame = str(params.get('lidar_frame', default('lidar_frame')) or default('lidar_frame'))
        sync_params = params.get('sync', {}) or {}
        self._sync_params = sync_params
        limits = {**default('sync'), **sync_params}
        self.sync = SensorSync({}, max_buffer=int(limits['max_buffer']), max_pending=int(limits['max_pending']),
                               jump_back_ns=int(float(limits['jump_back_ms']) * 1e6))
        inputs = params.get('inputs', {}) or {}
        if sensors is None:
            sensors = [f'{kind}/{name}' for kind, key in (('camera', 'cameras'), ('thermal', 'thermal'),
                                                          ('ultrasonic', 'ultrasonic'))
                       for name in param_names(inputs.get(key))]
        for key in sensors:
            self._add_sensor(key)
        self.tf = TfTree()
        self.infos: dict[str, tuple[CameraModel, str]] = {}  # 'camera/front' -> (intrinsics, optical frame)
        self.ranges: dict[str, tuple[C.RangeReading, str]] = {}  # last geometry + frame per sensor
        self.thermal_scale = dict(thermal_scale or {})
        self.file_calib = self._load_file_calibration(str(params.get('calibration_file', '') or ''))
        self.bad: deque[BadMessage] = deque(maxlen=max_bad)
        self.bad_count = 0
        self._new_bad: list[BadMessage] = []
        self.lidar_count = 0
        tracking = {**default('tracking'), **(params.get('tracking', {}) or {})}
        self.poses = None
        if bool(tracking['enabled']) and bool(tracking['ego_motion']):
            from omnifuse.ros_nodes.tracking import PoseBuffer

            self.poses = PoseBuffer(str(tracking['odom_frame'] or default('tracking.odom_frame')),
                                    str(tracking['base_frame'] or default('tracking.base_frame')),
                                    tolerance_ns=int(float(tracking['tf_tolerance_ms']) * 1e6))

    # ---- setup
    @staticmethod
    def _load_file_calibration(path: str) -> Calibration | None:
        return Calibration.from_kitti_file(Path(path)) if path else None

    def _add_sensor(self, key: str) -> None:
        if key not in self.sync.specs:
            self.sync.add_sensor(key, specs_from_params([key], self._sync_params)[key])

    def _bad(self, topic: str, stamp_ns: int, reason: str) -> None:
        item = BadMessage(topic, int(stamp_ns), reason)
        self.bad.append(item)
        self._new_bad.append(item)
        self.bad_count += 1

    def take_new_bad(self) -> list[BadMessage]:
        """BadMessages recorded since the last call (for per-frame diagnostics)."""
        out, self._new_bad = self._new_bad, []
        return out

    # ---- input
    def feed(self, topic: str, msgtype: str, raw: bytes | memoryview, log_time_ns: int) -> list[AssembledFrame]:
        """Feed one serialized message; returns frames that became complete (LiDAR stamp order)."""
        role = self.roles.classify(topic, msgtype)
        if role is None:
            expected = self.roles.expected_type(topic)
            if expected is not None and expected != msgtype:  # an input topic of the wrong type: say so
                reason = f'declared as {msgtype}; this input topic must carry {expected}'
                self._bad(topic, log_time_ns, reason)
                if topic == self.roles.lidar:  # the frame still counts, with no points
                    return self._finish(self.sync.push_lidar(
                        log_time_ns, _Lidar(None, self.default_lidar_frame, log_time_ns, reason), log_time_ns))
            return self._finish(self.sync.advance(log_time_ns))
        try:
            msg = self.codec.deserialize(raw, msgtype)
        except Exception as exc:  # rosbags raises SerdeError and friends on corrupt CDR
            self._bad(topic, log_time_ns, f'cannot deserialize {msgtype}: {exc}')
            if role[0] == 'lidar':  # the frame still counts, with no points
                return self._finish(self.sync.push_lidar(
                    log_time_ns, _Lidar(None, self.default_lidar_frame, log_time_ns, str(exc)), log_time_ns))
            return self._finish(self.sync.advance(log_time_ns))
        return self.feed_msg(topic, msgtype, msg, log_time_ns, role=role)

    def feed_msg(self, topic: str, msgtype: str, msg: object, log_time_ns: int, *,
                 role: tuple[str, str] | None = None) -> list[AssembledFrame]:
        """Feed one decoded message (rosbags or rclpy object)."""
        role = role or self.roles.classify(topic, msgtype)
        if role is None:
            return self._finish(self.sync.advance(log_time_ns))
        kind, name = role
        stamp = C.stamp_to_ns(msg.header.stamp) if kind not in ('tf', 'odom') else log_time_ns  # type: ignore[attr-defined]
        where = f'{topic} @ {stamp}'
        try:
            if kind == 'lidar':
                self.lidar_count += 1
                frame_id = str(msg.header.frame_id) or self.default_lidar_frame  # type: ignore[attr-defined]
                try:
                    pts = C.decode_pointcloud2(msg, where=where)
                    scan = _Lidar(pts, frame_id, log_time_ns)
                except FormatError as exc:
                    self._bad(topic, stamp, str(exc).removeprefix(where + ': '))
                    scan = _Lidar(None, frame_id, log_time_ns, str(exc))
                return self._finish(self.sync.push_lidar(stamp, scan, log_time_ns))
            if kind == 'tf':
                for edge in C.decode_tf(msg):
                    self.tf.add(edge)
                return self._finish(self.sync.advance(log_time_ns))
            if kind == 'odom':
                if self.poses is not None:
                    for edge in C.decode_tf(msg):
                        self.poses.add(edge.parent, edge.child, edge.matrix, edge.stamp_ns)
                return self._finish(self.sync.advance(log_time_ns))
            if kind in ('camera_info', 'thermal_info'):
                model = C.decode_camera_info(msg, where=where)
                self.infos[f'{kind.split("_")[0]}/{name}'] = (model, str(msg.header.frame_id))  # type: ignore[attr-defined]
                return self._finish(self.sync.advance(log_time_ns))
            key = f'{kind}/{name}'
            if kind == 'ultrasonic':
                reading = C.decode_range(msg, where=where)
                self.ranges[key] = (reading, str(msg.header.frame_id))  # type: ignore[attr-defined]
                payload: Any = reading.range
            else:
                payload = self._decode_image(kind, name, msgtype, msg, where)
            self._add_sensor(key)
            return self._finish(self.sync.push(key, stamp, payload, log_time_ns))
        except FormatError as exc:
            self._bad(topic, stamp, str(exc).removeprefix(where + ': '))
            return self._finish(self.sync.advance(log_time_ns))

    def _decode_image(self, kind: str, name: str, msgtype: str, msg: object, where: str) -> np.ndarray:
        if msgtype == 'sensor_msgs/msg/CompressedImage':
            img = C.decode_compressed_image(msg, where=where)
        else:
            img = C.decode_image(msg, where=where)
        info = self.infos.get(f'{kind}/{name}')
        if info is not None and info[0].width and (img.shape[1], img.shape[0]) != (info[0].width, info[0].height):
            raise FormatError(f'{where}: image is {img.shape[1]}x{img.shape[0]} but camera_info says '
                              f'{info[0].width}x{info[0].height}')
        if kind == 'camera':
            if img.ndim == 2:
                if img.dtype != np.uint8:
                    raise FormatError(f'{where}: colour camera image must be 8-bit, got {img.dtype}')
                img = np.repeat(img[:, :, None], 3, axis=2)
            return img
        if img.ndim != 2:
            raise FormatError(f'{where}: thermal image must have one channel, got shape {img.shape}')
        scale = self.thermal_scale.get(name)
        if scale is not None and img.dtype == np.uint16:
            img = img.astype(np.float32) * np.float32(scale)
        return img

    def advance(self, now_ns: int) -> list[AssembledFrame]:
        """Clock tick without a message."""
        return self._finish(self.sync.advance(now_ns))

    def flush(self) -> list[AssembledFrame]:
        """Emit every waiting frame (end of input)."""
        return self._finish(self.sync.flush())

    # ---- output
    def calibration(self, lidar_frame_id: str) -> Calibration:
        """Calibration of every sensor seen so far, extrinsics relative to `lidar_frame_id`."""
        calib = Calibration()
        if self.file_calib is not None:
            calib.cameras.update(self.file_calib.cameras)
            calib.thermal.update(self.file_calib.thermal)
            calib.ultrasonic.update(self.file_calib.ultrasonic)
            calib.kitti.update(self.file_calib.kitti)
        for key, (model, frame_id) in self.infos.items():
            kind, name = key.split('/', 1)
            store = calib.cameras if kind == 'camera' else calib.thermal
            T = self.tf.lookup(frame_id, lidar_frame_id) if frame_id else None
            if T is None:
                known = store.get(name)
                if known is None:
                    continue  # no extrinsics anywhere: leave the camera out of the calibration
                T = known.T_cam_lidar
            store[name] = CameraModel(model.P, T, model.width, model.height)
        for key, (reading, frame_id) in self.ranges.items():
            name = key.split('/', 1)[1]
            T = self.tf.lookup(lidar_frame_id, frame_id) if frame_id else None
            known_sensor = calib.ultrasonic.get(name)
            if T is not None:
                x, y, z, yaw = T[0, 3], T[1, 3], T[2, 3], math.atan2(T[1, 0], T[0, 0])
            elif known_sensor is not None:
                x, y, z, yaw = known_sensor.x, known_sensor.y, known_sensor.z, known_sensor.yaw
            else:
                continue
            calib.ultrasonic[name] = UltrasonicSensor(float(x), float(y), float(z), float(yaw),
                                                      reading.field_of_view / 2, reading.min_range,
                                                      reading.max_range)
        return calib

    def ego_pose(self, stamp_ns: int, lidar_frame_id: str) -> np.ndarray | None:
        """T_odom_lidar (4, 4) at `stamp_ns` from /tf odometry and /tf_static, or None (no odometry near the
        stamp, or the LiDAR not connected to the base frame)."""
        if self.poses is None or not len(self.poses):
            return None
        T_odom_base = self.poses.pose_at(stamp_ns)
        if T_odom_base is None:
            return None
        T_base_lidar = self.tf.lookup(self.poses.base_frame, lidar_frame_id)
        return None if T_base_lidar is None else T_odom_base @ T_base_lidar

    def _finish(self, synced: list[SyncedFrame]) -> list[AssembledFrame]:
        out = []
        for s in synced:
            lidar: _Lidar = s.lidar
            frame = SensorFrame(frame_id=str(s.stamp_ns), stamp_ns=s.stamp_ns, points=lidar.points,
                                calib=self.calibration(lidar.frame_id), stamps_ns={'lidar': s.stamp_ns})
            for key, (stamp, payload) in s.attached.items():
                kind, name = key.split('/', 1)
                frame.stamps_ns[key] = stamp
                if kind == 'camera':
                    frame.images[name] = payload
                elif kind == 'thermal':
                    frame.thermal[name] = payload
                else:
                    frame.ultrasonic[name] = float(payload)
            frame.meta['lidar_frame_id'] = lidar.frame_id
            frame.meta['frame_ids'] = {key: fid for key, (_, fid) in self.infos.items()}
            pose = self.ego_pose(s.stamp_ns, lidar.frame_id)
            if pose is not None:
                frame.meta['world_T_lidar'] = pose
                frame.meta['world_frame'] = self.poses.odom_frame  # type: ignore[union-attr]
            out.append(AssembledFrame(frame, lidar.frame_id, lidar.log_time_ns, s.missing, s.late, s.duplicate,
                                      lidar.error, s.reset))
        return out

