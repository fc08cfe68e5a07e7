"""ROS 2 bags (MCAP or sqlite3) <-> SensorFrames, without ROS.

`write_frames_to_bag(frames, path)` writes the input topics of the ROS 2 contract (docs/ros.md):

    /sensors/lidar/points                   sensor_msgs/PointCloud2 (float32 x y z intensity)
    /sensors/camera/<name>/image_raw        sensor_msgs/Image rgb8       + /camera_info
    /sensors/thermal/<name>/image_raw       sensor_msgs/Image mono16     + /camera_info
    /sensors/ultrasonic/<name>              sensor_msgs/Range (one topic per sensor)
    /tf_static                              tf2_msgs/TFMessage: lidar -> every sensor frame

Sensor names: a KITTI / simulator frame calls its colour camera 'image_2' and its thermal camera
'thermal'; the ROS contract calls both 'front'. By default the writer renames them (`ROS_SENSOR_NAMES`),
so `omnifuse sim --format bag` writes /sensors/camera/front/... and /sensors/thermal/front/..., the
names the perception params (configs/ros/perception.yaml) look for. Pass `sensor_names={}` to keep
the frame's own names.

Stamps: `frame.stamps_ns['camera/<name>']` (or `[<name>]`) etc. when given, else the frame's
LiDAR stamp; frames without any stamp are placed at 10 Hz. Float thermal images are stored as
mono16 with a scale recorded in the bag's custom_data (`omnifuse.thermal_scale.<name>`): 0.01
(centi-kelvin) when the values look like kelvin, else 1/65535 (normalised); `read_bag_frames`
applies it so the floats come back (quantised to the scale).

Distribution detection (`detect_distro`), first rule that answers wins:
    1. custom_data `omnifuse.ros_distro` (bags written by omnifuse);
    2. the metadata's `ros_distro` (rosbag2 writes it from metadata version 8 on);
    3. the bag's own sensor_msgs/msg/Range definition: with `variance` -> jazzy, without -> humble;
    4. the RIHS01 type hashes of the bag's connections against each distribution's;
    5. metadata version <= 5 (what Humble's rosbag2 writes) -> humble;
    6. otherwise humble (both stores decode every type omnifuse reads identically but Range).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from omnifuse.errors import FormatError, OmnifuseError
from omnifuse.ros_nodes.codec import RosCodec, StaticTransform
from omnifuse.ros_nodes.frames import AssembledFrame, FrameAssembler, TopicRoles
from omnifuse.ros_nodes.msgdefs import DISTROS, check_distro, typestore_for
from omnifuse.ros_nodes.params import DEFAULT_PARAMS
from omnifuse.structures import Calibration, SensorFrame, UltrasonicSensor

__all__ = ['write_frames_to_bag', 'read_bag_frames', 'open_reader', 'detect_distro', 'sensor_frame_ids',
           'calibration_transforms', 'close_writer', 'storage_plugin', 'tf_static_qos', 'writer_version',
           'thermal_scales',
           'ROS_SENSOR_NAMES', 'rename_sensors']

PERIOD_NS = 100_000_000  # 10 Hz
# KITTI / simulator sensor names -> ROS contract names, per kind ('camera', 'thermal').
ROS_SENSOR_NAMES: dict[str, dict[str, str]] = {'camera': {'image_2': 'front'}, 'thermal': {'thermal': 'front'}}


def storage_plugin(storage: str) -> Any:
    """rosbags StoragePlugin for 'mcap' or 'sqlite3'."""
    from rosbags.rosbag2 import StoragePlugin

    plugins = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
    if storage not in plugins:
        raise OmnifuseError(f'storage must be one of {sorted(plugins)}, got {storage!r}')
    return plugins[storage]


def writer_version(distro: str) -> Literal[8, 9]:
    """rosbag2 metadata version written for `distro` (rosbags writes 8 or 9)."""
    return 9 if check_distro(distro) == 'jazzy' else 8


def tf_static_qos() -> list[Any]:
    """Offered QoS of /tf_static: reliable, transient local (latched), keep last 1."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    zero = QosTime(0, 0)
    return [Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL,
                zero, zero, QosLiveliness.AUTOMATIC, zero, False)]


def sensor_frame_ids(lidar_frame: str = 'lidar') -> dict[str, str]:
    """Frame id pattern of each sensor kind (format with name=...)."""
    return {'lidar': lidar_frame, 'camera': 'camera_{name}_optical', 'thermal': 'thermal_{name}_optical',
            'ultrasonic': 'ultrasonic_{name}'}


def calibration_transforms(frame: SensorFrame, stamp_ns: int, lidar_frame: str = 'lidar') -> list[StaticTransform]:
    """/tf_static edges lidar -> each calibrated sensor (T_lidar_sensor = inv(T_sensor_lidar))."""
    ids = sensor_frame_ids(lidar_frame)
    out: list[StaticTransform] = []
    calib = frame.calib
    if calib is None:
        return out
    for kind, store in (('camera', calib.cameras), ('thermal', calib.thermal)):
        for name, cam in store.items():
            out.append(StaticTransform(lidar_frame, ids[kind].format(name=name),
                                       np.linalg.inv(cam.T_cam_lidar), stamp_ns))
    for name, us in calib.ultrasonic.items():
        T = np.eye(4)
        c, s = math.cos(us.yaw), math.sin(us.yaw)
        T[:2, :2] = [[c, -s], [s, c]]
        T[:3, 3] = (us.x, us.y, us.z)
        out.append(StaticTransform(lidar_frame, ids['ultrasonic'].format(name=name), T, stamp_ns))
    return out


def rename_sensors(frame: SensorFrame, names: Mapping[str, Mapping[str, str]]) -> SensorFrame:
    """A shallow copy of `frame` whose cameras / thermal cameras are renamed ({'camera': {old: new}, ...}):
    images, calibration and stream stamps ('<old>' and 'camera/<old>' keys become 'camera/<new>')."""
    cams, ths = dict(names.get('camera', {}) or {}), dict(names.get('thermal', {}) or {})
    if not any(n in frame.images or (frame.calib is not None and n in frame.calib.cameras) for n in cams) and \
            not any(n in frame.thermal or (frame.calib is not None and n in frame.calib.thermal) for n in ths):
        return frame
    for kind, mapping, store in (('camera', cams, frame.images), ('thermal', ths, frame.thermal)):
        targets = [mapping.get(n, n) for n in store]
        if len(set(targets)) != len(targets):
            raise OmnifuseError(f'frame {frame.frame_id}: renaming the {kind} images {sorted(store)} with '
                                f'{mapping} gives two with the same name')
    stamps = dict(frame.stamps_ns)
    for kind, mapping in (('camera', cams), ('thermal', ths)):
        for old, new in mapping.items():
            value = stamps.pop(f'{kind}/{old}', None)
            if value is None and old in stamps and old not in ('lidar', 'ultrasonic'):
                value = stamps.pop(old)
            if value is not None:
                stamps[f'{kind}/{new}'] = value
    calib = frame.calib
    if calib is not None:
        calib = Calibration(cameras={cams.get(n, n): c for n, c in calib.cameras.items()},
                            thermal={ths.get(n, n): c for n, c in calib.thermal.items()},
                            ultrasonic=dict(calib.ultrasonic), kitti=dict(calib.kitti))
    return dataclasses.replace(frame, images={cams.get(n, n): v for n, v in frame.images.items()},
                               thermal={ths.get(n, n): v for n, v in frame.thermal.items()}, calib=calib,
                               stamps_ns=stamps)


def _stream_stamp(frame: SensorFrame, kind: str, name: str, default: int) -> int:
    for key in (f'{kind}/{name}', name):
        if key in frame.stamps_ns:
            return int(frame.stamps_ns[key])
    return default


def _thermal_scale(img: np.ndarray) -> float:
    finite = img[np.isfinite(img)]
    top = float(finite.max()) if finite.size else 0.0
    return 0.01 if top > 1.5 else 1.0 / 65535.0


def write_frames_to_bag(frames: Iterable[SensorFrame], path: str | Path, *, distro: str = 'humble',
                        storage: str = 'mcap', params: Mapping[str, Any] | None = None,
                        compressed: bool = False,
                        sensor_names: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, int]:
    """Write SensorFrames as the ROS 2 input topics of the contract (see the module docstring).

    Args:
        frames: the frames, in time order.
        path: the bag directory to create (must not exist).
        distro: 'humble' or 'jazzy' message definitions.
        storage: 'mcap' or 'sqlite3'.
        params: node params whose `inputs` topic names and `lidar_frame` are used (defaults otherwise).
        compressed: write camera images as CompressedImage (png) on .../image_raw/compressed.
        sensor_names: renaming of the frames' sensors, {'camera': {old: new}, 'thermal': {old: new}};
            None = `ROS_SENSOR_NAMES` (KITTI / simulator names -> 'front'), {} = keep the names.

    Returns:
        messages written per topic.
    """
    from rosbags.rosbag2 import Writer

    distro = check_distro(distro)
    codec = RosCodec(distro)
    params = params or DEFAULT_PARAMS
    roles = TopicRoles(params.get('inputs', {}) or {})
    lidar_frame = str(params.get('lidar_frame', DEFAULT_PARAMS['lidar_frame']) or DEFAULT_PARAMS['lidar_frame'])
    ids = sensor_frame_ids(lidar_frame)
    path = Path(path)
    if path.exists():
        raise OmnifuseError(f'{path}: exists already; the bag writer only creates new bags')
    counts: dict[str, int] = {}
    writer = Writer(path, version=writer_version(distro), storage_plugin=storage_plugin(storage))
    writer.set_custom_data('omnifuse.ros_distro', distro)
    conns: dict[str, Any] = {}
    thermal_scales: dict[str, float] = {}

    def write(topic: str, msg: Any, t_ns: int, qos: list[Any] | None = None) -> None:
        if topic not in conns:
            conns[topic] = writer.add_connection(topic, msg.__msgtype__, typestore=codec.typestore,
                                                 offered_qos_profiles=qos or [])
        writer.write(conns[topic], int(t_ns), codec.serialize(msg))
        counts[topic] = counts.get(topic, 0) + 1

    writer.open()
    try:
        t0: int | None = None
        tf_written = False
        renames = ROS_SENSOR_NAMES if sensor_names is None else sensor_names
        for i, frame in enumerate(frames):
            frame = rename_sensors(frame, renames)
            stamp = int(frame.stamps_ns.get('lidar', frame.stamp_ns) or 0)
            if stamp == 0:
                stamp = (t0 if t0 is not None else 1_000_000_000) + i * PERIOD_NS
            t0 = stamp - i * PERIOD_NS if t0 is None else t0
            calib = frame.calib
            if not tf_written:
                edges = calibration_transforms(frame, stamp, lidar_frame)
                if not edges:  # keep the topic: Foxglove and the replay expect it
                    edges = [StaticTransform('base_link', lidar_frame, np.eye(4), stamp)]
                write(roles.tf_static, codec.tf_message(edges), stamp, tf_static_qos())
                tf_written = True
            for name, img in frame.images.items():
                t = _stream_stamp(frame, 'camera', name, stamp)
                fid = ids['camera'].format(name=name)
                if calib is not None and name in calib.cameras:
                    write(roles.topic('camera_info', name), codec.camera_info(calib.cameras[name], t, fid), t)
                msg = codec.compressed_image(img, t, fid) if compressed else codec.image(img, t, fid)
                write(roles.topic('camera', name, compressed=compressed), msg, t)
            for name, img in frame.thermal.items():
                t = _stream_stamp(frame, 'thermal', name, stamp)
                fid = ids['thermal'].format(name=name)
                if calib is not None and name in calib.thermal:
                    write(roles.topic('thermal_info', name), codec.camera_info(calib.thermal[name], t, fid), t)
                arr = np.asarray(img)
                if arr.dtype != np.uint16:
                    if arr.dtype.kind != 'f':
                        raise FormatError(f'frame {frame.frame_id}: thermal {name!r} must be uint16 or float, '
                                          f'got {arr.dtype}')
                    scale = thermal_scales.setdefault(name, _thermal_scale(arr))
                    arr = np.clip(np.nan_to_num(arr / scale), 0, 65535).round().astype(np.uint16)
                write(roles.topic('thermal', name), codec.image(arr, t, fid, encoding='mono16'), t)
            for name, value in frame.ultrasonic.items():
                t = _stream_stamp(frame, 'ultrasonic', name, stamp)
                us = (calib.ultrasonic.get(name) if calib is not None else None) or UltrasonicSensor(0, 0, 0, 0)
                msg = codec.range(value, t, ids['ultrasonic'].format(name=name), field_of_view=2 * us.half_angle,
                                  min_range=us.min_range, max_range=us.max_range)
                write(roles.topic('ultrasonic', name), msg, t)
            if frame.points is not None:
                pts = np.asarray(frame.points, dtype=np.float32)
                if pts.shape[1] < 4:
                    pts = np.concatenate([pts[:, :3], np.zeros((len(pts), 1), np.float32)], 1)
                write(roles.lidar, codec.pointcloud2(pts[:, :4], stamp, lidar_frame), stamp)
        for name, scale in thermal_scales.items():
            writer.set_custom_data(f'omnifuse.thermal_scale.{name}', repr(scale))
    except BaseException:
        writer.close()
        raise
    close_writer(writer, path)
    return counts


def close_writer(writer: Any, path: str | Path) -> None:
    """Close a rosbags Writer of the bag directory `path` and give its MCAP files their CRCs
    (`mcap_crc.add_crcs`: rosbags leaves them 0, so a damaged byte would go unnoticed)."""
    from omnifuse.ros_nodes.mcap_crc import add_crcs

    writer.close()
    for data_file in sorted(Path(path).glob('*.mcap')):
        add_crcs(data_file)


def open_reader(path: str | Path) -> Any:
    """An opened rosbags Reader for a bag directory or a single .mcap / .db3 file.

    Raises:
        FileNotFoundError: nothing at `path`.
        FormatError: not a readable ROS 2 bag (the reason from rosbags).
    """
    from rosbags.rosbag2 import Reader
    from rosbags.rosbag2.errors import ReaderError

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, 'no such bag', str(path))
    try:
        reader = Reader(path)
        reader.open()
    except ReaderError as exc:
        text = ' '.join(line.strip() for line in str(exc).splitlines()[:2])
        raise FormatError(f'{path}: not a readable ROS 2 bag ({text[:300]})') from None
    except FileNotFoundError:
        raise FormatError(f'{path}: not a ROS 2 bag (no metadata.yaml, and not a .mcap or .db3 file)') from None
    except UnicodeDecodeError:
        raise FormatError(f'{path / "metadata.yaml" if path.is_dir() else path}: not text; a ROS 2 bag\'s '
                          'metadata.yaml is a YAML text file') from None
    except Exception as exc:  # ruamel/yaml and the storage plugins raise their own kinds on a damaged bag
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise FormatError(f'{path}: not a readable ROS 2 bag ({type(exc).__name__}: {first[:200]})') from None
    return reader


def _metadata_version(path: Path) -> int | None:
    meta = path / 'metadata.yaml' if path.is_dir() else None
    if meta is None or not meta.is_file():
        return None
    import yaml

    try:
        doc = yaml.safe_load(meta.read_text()) or {}
        return int(doc['rosbag2_bagfile_information']['version'])
    except (KeyError, TypeError, ValueError, yaml.YAMLError):
        return None


def detect_distro(reader: Any, path: str | Path | None = None) -> tuple[str, str]:
    """(distro, how it was decided) for an opened rosbags Reader; rules in the module docstring."""
    meta = reader.storage.metadata if hasattr(reader, 'storage') else None
    custom = (getattr(meta, 'custom', None) or {}) if meta is not None else {}
    if str(custom.get('omnifuse.ros_distro', '')).lower() in DISTROS:
        return str(custom['omnifuse.ros_distro']).lower(), 'custom_data omnifuse.ros_distro'
    named = str(getattr(reader, 'ros_distro', None) or '').lower()
    if named in DISTROS:
        return named, 'metadata ros_distro'
    for conn in reader.connections:
        if conn.msgtype == 'sensor_msgs/msg/Range' and conn.msgdef.data:
            first = conn.msgdef.data.split('=' * 80)[0]
            has = any(line.split('#')[0].split()[1:2] == ['variance'] for line in first.splitlines()
                      if line.split('#')[0].strip())
            return ('jazzy' if has else 'humble'), 'sensor_msgs/Range definition'
    votes = {d: 0 for d in DISTROS}
    for conn in reader.connections:
        if not conn.digest:
            continue
        for d in DISTROS:
            store = typestore_for(d)
            if conn.msgtype in store.fielddefs and store.hash_rihs01(conn.msgtype) == conn.digest:
                votes[d] += 1
    if votes['humble'] != votes['jazzy']:
        best = max(votes, key=lambda d: votes[d])
        return best, 'type description hashes'
    version = _metadata_version(Path(path)) if path is not None else None
    if version is not None and version <= 5:
        return 'humble', f'metadata version {version}'
    return 'humble', 'default (nothing in the bag tells the distributions apart)'


def thermal_scales(reader: Any) -> dict[str, float]:
    """Per thermal camera, the scale of float thermal images stored as mono16 (custom_data)."""
    meta = reader.storage.metadata if hasattr(reader, 'storage') else None
    custom = (getattr(meta, 'custom', None) or {}) if meta is not None else {}
    out = {}
    for key, value in custom.items():
        if key.startswith('omnifuse.thermal_scale.'):
            try:
                out[key.split('.', 2)[2]] = float(value)
            except ValueError:
                raise FormatError(f'bag custom_data {key}: not a number: {value!r}') from None
    return out


def read_bag_frames(path: str | Path, params: Mapping[str, Any] | None = None, *,
                    distro: str | None = None) -> Iterator[AssembledFrame]:
    """Synchronised frames of a bag, one per LiDAR message, in LiDAR stamp order (mostly).

    Args:
        path: bag directory, .mcap or .db3 file.
        params: node params (topics, sync windows); defaults when None.
        distro: force the message definitions; detected from the bag when None.

    Yields:
        AssembledFrame (`.frame` is the SensorFrame). Skipped bad messages are collected on the
        generator's assembler: use `FrameAssembler` directly to see them.
    """
    params = params or DEFAULT_PARAMS
    reader = open_reader(path)
    try:
        chosen = check_distro(distro) if distro else detect_distro(reader, path)[0]
        roles = TopicRoles(params.get('inputs', {}) or {})
        assembler = FrameAssembler(params, RosCodec(chosen), thermal_scale=thermal_scales(reader),
                                   sensors=roles.sensors_of((c.topic, c.msgtype) for c in reader.connections))
        for conn, t, raw in reader.messages():
            yield from assembler.feed(conn.topic, conn.msgtype, raw, t)
        yield from assembler.flush()
    finally:
        reader.close()

