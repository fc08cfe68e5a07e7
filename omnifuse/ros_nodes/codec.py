"""ROS 2 messages <-> omnifuse structures, without ROS (rosbags message classes).

Decoding works on any object with the ROS field names (rosbags messages, or rclpy messages on a
robot) and is vectorised: a PointCloud2 becomes a numpy view of its byte buffer, never a Python
loop over points. Encoding builds rosbags messages of one distribution (`RosCodec('humble')` or
`RosCodec('jazzy')`): the two differ in sensor_msgs/Range, which gained `variance` in Jazzy.

Frames and conventions:
    - Points: (N, C) float32, LiDAR frame (x forward, y left, z up), columns named by `fields`.
    - Images: (H, W, 3) uint8 RGB; mono images (H, W) uint8 / uint16 / float32.
    - TF: a transform parent -> child is `T_parent_child` (4x4), the pose of the child in the parent;
      it maps child coordinates into the parent frame. omnifuse's `T_cam_lidar` is therefore the
      inverse of the TF lidar -> camera.
    - Time: int64 nanoseconds <-> builtin_interfaces/Time (sec, nanosec).

Bad input raises FormatError whose message starts with `where` (the caller passes "topic @ stamp").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from omnifuse.errors import FormatError
from omnifuse.ros_nodes.msgdefs import check_distro, typestore_for
from omnifuse.structures import Boxes3D, CameraModel, ObjectLabels
from omnifuse.structures.geometry import box_corners, wrap_angle
from omnifuse.structures.tracks import Tracks
from omnifuse.viz.colors import class_color

__all__ = [
    'RosCodec', 'RosMessage', 'StaticTransform', 'RangeReading', 'OccupancyGridSpec',
    'stamp_to_ns', 'decode_pointcloud2', 'decode_image', 'decode_compressed_image',
    'decode_camera_info', 'decode_range', 'decode_tf', 'decode_detections', 'decode_detection_ids',
    'decode_occupancy_grid',
    'quaternion_to_matrix', 'matrix_to_quaternion', 'IMAGE_ENCODINGS',
]

# sensor_msgs/PointField datatypes -> numpy type codes.
_PF_TYPES = {1: 'i1', 2: 'u1', 3: 'i2', 4: 'u2', 5: 'i4', 6: 'u4', 7: 'f4', 8: 'f8'}
_PF_CODES = {'int8': 1, 'uint8': 2, 'int16': 3, 'uint16': 4, 'int32': 5, 'uint32': 6,
             'float32': 7, 'float64': 8}
# Image encodings: (channels, numpy type code).
IMAGE_ENCODINGS = {
    'rgb8': (3, 'u1'), 'bgr8': (3, 'u1'), '8UC3': (3, 'u1'), 'rgba8': (4, 'u1'), 'bgra8': (4, 'u1'),
    'mono8': (1, 'u1'), '8UC1': (1, 'u1'), 'mono16': (1, 'u2'), '16UC1': (1, 'u2'), '32FC1': (1, 'f4'),
}
# Box edges for LINE_LIST markers: bottom, top, verticals (corner order of structures.geometry),
# plus a cross on the front face so the heading is visible.
_BOX_EDGES = np.array([(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4),
                       (0, 4), (1, 5), (2, 6), (3, 7), (0, 5), (1, 4)])


def _marker_colour(name: str) -> tuple[float, float, float]:
    """The class's colour in the pictures (omnifuse.viz.colors), as ColorRGBA's 0..1 floats."""
    r, g, b = class_color(name)
    return r / 255.0, g / 255.0, b / 255.0


class RosMessage(Protocol):
    """A message built by `RosCodec` (an instance of one of the typestore's generated classes)."""

    __msgtype__: ClassVar[str]


# ----------------------------------------------------------------------------------- helpers

def stamp_to_ns(stamp: object) -> int:
    """builtin_interfaces/Time (sec, nanosec) -> int ns."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)  # type: ignore[attr-defined]


def _buffer(data: object) -> np.ndarray:
    """uint8 view of a message byte field (numpy array, bytes, array.array, memoryview)."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8)
    return np.frombuffer(memoryview(data).cast('B'), dtype=np.uint8)  # type: ignore[arg-type]


def quaternion_to_matrix(q: Sequence[float]) -> np.ndarray:
    """(x, y, z, w) unit quaternion -> (3, 3) rotation matrix (normalised first)."""
    x, y, z, w = (float(v) for v in q)
    n = math.sqrt(x * x + y * y + z * z + w * w)
    if n == 0.0 or not math.isfinite(n):
        raise FormatError(f'quaternion {tuple(q)} has no rotation (norm {n})')
    x, y, z, w = x / n, y / n, z / n, w / n
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def matrix_to_quaternion(R: np.ndarray) -> tuple[float, float, float, float]:
    """(3, 3) rotation matrix -> (x, y, z, w) quaternion with w >= 0."""
    m = np.asarray(R, dtype=np.float64)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * math.sqrt(trace + 1.0)
        q = ((m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s)
    elif m[0, 0] >= m[1, 1] and m[0, 0] >= m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = (0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s)
    elif m[1, 1] >= m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = ((m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s)
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = ((m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s)
    if q[3] < 0:
        q = (-q[0], -q[1], -q[2], -q[3])
    return (float(q[0]), float(q[1]), float(q[2]), float(q[3]))


def _yaw_of(q: object) -> float:
    x, y, z, w = q.x, q.y, q.z, q.w  # type: ignore[attr-defined]
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


# ----------------------------------------------------------------------------------- decoding

def decode_pointcloud2(msg: object, *, fields: Sequence[str] = ('x', 'y', 'z', 'intensity'),
                       keep_invalid: bool = False, where: str = 'PointCloud2') -> np.ndarray:
    """sensor_msgs/PointCloud2 -> (N, len(fields)) float32 points, LiDAR frame.

    Any field layout with x, y and z works: float32 or float64 (or integer) fields at any offsets,
    extra fields ignored, `is_bigendian` honoured, organised (height > 1, rows possibly padded to
    `row_step`) or unorganised. Requested fields other than x, y, z that the cloud lacks are zeros.

    Args:
        msg: the message.
        fields: columns to return, in order; must start with x, y, z.
        keep_invalid: keep points with a non-finite x, y or z (organised clouds mark missing
            returns with NaN); they are dropped by default.
        where: prefix of error messages (topic and stamp).

    Raises:
        FormatError: x/y/z missing, unknown datatype, a field beyond `point_step`, `row_step`
            shorter than a row, or a data size that does not match `row_step * height`.
    """
    width, height = int(msg.width), int(msg.height)  # type: ignore[attr-defined]
    point_step, row_step = int(msg.point_step), int(msg.row_step)  # type: ignore[attr-defined]
    endian = '>' if msg.is_bigendian else '<'  # type: ignore[attr-defined]
    layout: dict[str, tuple[int, str]] = {}
    for f in msg.fields:  # type: ignore[attr-defined]
        code = _PF_TYPES.get(int(f.datatype))
        if code is None:
            raise FormatError(f'{where}: PointCloud2 field {f.name!r} has unknown datatype {f.datatype}')
        size = np.dtype(code).itemsize * max(int(f.count), 1)
        if int(f.offset) + size > point_step:
            raise FormatError(f'{where}: PointCloud2 point_step {point_step} is too small: field {f.name!r} '
                              f'needs bytes {f.offset}..{int(f.offset) + size}')
        if str(f.name) in layout:
            raise FormatError(f'{where}: PointCloud2 lists field {f.name!r} twice (offsets '
                              f'{layout[str(f.name)][0]} and {f.offset}); which one is meant is unknown')
        layout[str(f.name)] = (int(f.offset), code)
    missing = [n for n in ('x', 'y', 'z') if n not in layout]
    if missing:
        raise FormatError(f'{where}: PointCloud2 has no field(s) {missing}; fields are {list(layout)}')
    if tuple(fields[:3]) != ('x', 'y', 'z'):
        raise FormatError(f'{where}: requested fields must start with x, y, z, got {tuple(fields)}')
    if width * point_step > row_step:
        raise FormatError(f'{where}: PointCloud2 row_step {row_step} < width {width} * point_step {point_step}')
    data = _buffer(msg.data)  # type: ignore[attr-defined]
    if data.size != row_step * height:
        raise FormatError(f'{where}: PointCloud2 data has {data.size} bytes, expected row_step {row_step} '
                          f'* height {height} = {row_step * height}')
    n = width * height
    if row_step != width * point_step and height > 0:  # padded rows: drop the padding
        data = np.ascontiguousarray(data.reshape(height, row_step)[:, : width * point_step]).reshape(-1)
    present = [name for name in fields if name in layout]
    offsets = [layout[name][0] for name in present]
    codes = {layout[name][1] for name in present}
    out = np.zeros((n, len(fields)), dtype=np.float32)
    if n == 0:
        return out
    code = next(iter(codes))
    itemsize = np.dtype(code).itemsize
    if (present == list(fields[: len(present)]) and len(codes) == 1
            and offsets == [offsets[0] + i * itemsize for i in range(len(offsets))]):
        # One strided view over the buffer: the usual x y z intensity layout.
        view = np.ndarray((n, len(present)), dtype=endian + code, buffer=data, offset=offsets[0],
                          strides=(point_step, itemsize))
        out[:, : len(present)] = view
    else:
        dt = np.dtype({'names': present, 'formats': [endian + layout[p][1] for p in present],
                       'offsets': offsets, 'itemsize': point_step})
        rec = np.frombuffer(data, dtype=dt, count=n)
        for i, name in enumerate(fields):
            if name in layout:
                out[:, i] = rec[name]
    if not keep_invalid:
        # inf * 0 and nan * 0 are nan, finite * 0 is 0: one cheap pass instead of an (N, 3) boolean reduce
        probe = out[:, 0] * 0
        probe += out[:, 1] * 0
        probe += out[:, 2] * 0
        bad = np.isnan(probe)
        if bad.any():
            out = out[~bad]
    return out


def decode_image(msg: object, *, where: str = 'Image') -> np.ndarray:
    """sensor_msgs/Image -> (H, W, 3) uint8 RGB for colour encodings, (H, W) for mono ones.

    Encodings: rgb8, bgr8 (and 8UC3 as bgr8), rgba8, bgra8 (alpha dropped), mono8/8UC1 (uint8),
    mono16/16UC1 (uint16, `is_bigendian` honoured), 32FC1 (float32).

    Raises:
        FormatError: unknown encoding, `step` shorter than a row, or a data size that is not
            `step * height`.
    """
    enc = str(msg.encoding)  # type: ignore[attr-defined]
    if enc not in IMAGE_ENCODINGS:
        raise FormatError(f'{where}: unknown image encoding {enc!r}; supported: {sorted(IMAGE_ENCODINGS)}')
    ch, code = IMAGE_ENCODINGS[enc]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)  # type: ignore[attr-defined]
    row = w * ch * np.dtype(code).itemsize
    if step < row:
        raise FormatError(f'{where}: image step {step} < width {w} * {ch} channel(s) * '
                          f'{np.dtype(code).itemsize} bytes = {row}')
    data = _buffer(msg.data)  # type: ignore[attr-defined]
    if data.size != step * h:
        raise FormatError(f'{where}: image {w}x{h} {enc} with step {step} needs {step * h} bytes, '
                          f'got {data.size}')
    rows = data.reshape(h, step)[:, :row]
    endian = '>' if (msg.is_bigendian and np.dtype(code).itemsize > 1) else '<'  # type: ignore[attr-defined]
    img = np.ascontiguousarray(rows).view(endian + code).reshape(h, w, ch)
    if endian == '>':
        img = img.astype(code)
    if enc in ('bgr8', '8UC3'):
        img = img[..., ::-1]
    elif enc == 'rgba8':
        img = img[..., :3]
    elif enc == 'bgra8':
        img = img[..., 2::-1]
    img = img[..., 0] if ch == 1 else img
    return np.ascontiguousarray(img)


def decode_compressed_image(msg: object, *, where: str = 'CompressedImage') -> np.ndarray:
    """sensor_msgs/CompressedImage (png / jpeg) -> (H, W, 3) uint8 RGB or (H, W) mono (uint8 / uint16)."""
    import cv2

    data = _buffer(msg.data)  # type: ignore[attr-defined]
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise FormatError(f'{where}: cannot decode compressed image (format {msg.format!r}, '  # type: ignore[attr-defined]
                          f'{data.size} bytes)')
    if img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    elif img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img


def decode_camera_info(msg: object, *, T_cam_lidar: np.ndarray | None = None,
                       where: str = 'CameraInfo') -> CameraModel:
    """sensor_msgs/CameraInfo -> CameraModel(P, T_cam_lidar, width, height).

    P is the 3x4 `p` field (rectified projection); when it is all zero, `[K | 0]` is used.
    T_cam_lidar (LiDAR -> optical frame) comes from TF; identity when not given.
    """
    P: np.ndarray = np.asarray(msg.p, dtype=np.float64).reshape(-1)  # type: ignore[attr-defined]
    K = np.asarray(msg.k, dtype=np.float64).reshape(-1)  # type: ignore[attr-defined]
    if P.size != 12 or K.size != 9:
        raise FormatError(f'{where}: CameraInfo needs 12 values in p and 9 in k, got {P.size} and {K.size}')
    P = P.reshape(3, 4)
    if not P.any():
        if not K.any():
            raise FormatError(f'{where}: CameraInfo has neither p nor k')
        P = np.concatenate([K.reshape(3, 3), np.zeros((3, 1))], 1)
    try:
        return CameraModel(P, np.eye(4) if T_cam_lidar is None else T_cam_lidar,
                           int(msg.width), int(msg.height))  # type: ignore[attr-defined]
    except FormatError as exc:  # NaN or singular: unusable, and it must not blind the fused models silently
        raise FormatError(f'{where}: CameraInfo p/k unusable: {exc}') from None


@dataclass(frozen=True)
class RangeReading:
    """A decoded sensor_msgs/Range: range [m] (NaN = no echo), cone and limits."""

    range: float
    field_of_view: float
    min_range: float
    max_range: float


def decode_range(msg: object, *, where: str = 'Range') -> RangeReading:
    """sensor_msgs/Range -> RangeReading; +/-inf, NaN and out-of-limit ranges become NaN (REP 117).

    Raises:
        FormatError: limits that cannot bound a reading (NaN or infinite, negative, min above max).
    """
    r = float(msg.range)  # type: ignore[attr-defined]
    lo, hi = float(msg.min_range), float(msg.max_range)  # type: ignore[attr-defined]
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo <= hi):
        raise FormatError(f'{where}: Range limits min_range {lo} / max_range {hi} must be finite with '
                          '0 <= min_range <= max_range')
    if not math.isfinite(r) or r < lo or r > hi:
        r = math.nan
    return RangeReading(r, float(msg.field_of_view), lo, hi)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class StaticTransform:
    """One TF edge: `T_parent_child` (4x4) maps child-frame coordinates into the parent frame."""

    parent: str
    child: str
    matrix: np.ndarray
    stamp_ns: int = 0


def decode_tf(msg: object) -> list[StaticTransform]:
    """tf2_msgs/TFMessage -> one StaticTransform per geometry_msgs/TransformStamped."""
    out = []
    for t in msg.transforms:  # type: ignore[attr-defined]
        T = np.eye(4)
        r, p = t.transform.rotation, t.transform.translation
        T[:3, :3] = quaternion_to_matrix((r.x, r.y, r.z, r.w))
        T[:3, 3] = (p.x, p.y, p.z)
        if not np.isfinite(T).all():
            raise FormatError(f'TFMessage: transform {t.header.frame_id} -> {t.child_frame_id} holds a NaN or inf')
        out.append(StaticTransform(str(t.header.frame_id), str(t.child_frame_id), T, stamp_to_ns(t.header.stamp)))
    return out


def decode_detections(msg: object) -> ObjectLabels:
    """vision_msgs/Detection3DArray -> ObjectLabels (boxes in the header frame, best hypothesis each)."""
    rows, names, scores = [], [], []
    for det in msg.detections:  # type: ignore[attr-defined]
        c, s = det.bbox.center, det.bbox.size
        rows.append((c.position.x, c.position.y, c.position.z, s.x, s.y, s.z,
                     float(wrap_angle(_yaw_of(c.orientation)))))
        best = max(det.results, key=lambda h: h.hypothesis.score, default=None)
        names.append(best.hypothesis.class_id if best is not None else '')
        scores.append(best.hypothesis.score if best is not None else 0.0)
    n = len(rows)
    frame = str(msg.header.frame_id) or 'lidar'  # type: ignore[attr-defined]
    return ObjectLabels(Boxes3D(np.asarray(rows, dtype=np.float64).reshape(n, 7), frame), names,
                        np.zeros(n), np.zeros(n, int), np.zeros(n), np.full((n, 4), np.nan), np.asarray(scores))


def decode_detection_ids(msg: object) -> list[str]:
    """The `id` of every Detection3D of a Detection3DArray (track ids on /perception/tracks;
    '' on /perception/objects)."""
    return [str(det.id) for det in msg.detections]  # type: ignore[attr-defined]


@dataclass(frozen=True)
class OccupancyGridSpec:
    """Geometry of a BEV grid: cell (row i, column j) covers x = origin_x + (j + 0.5) * resolution,
    y = origin_y + (i + 0.5) * resolution in the LiDAR frame (rows along +y, columns along +x)."""

    resolution: float
    origin_x: float
    origin_y: float


def decode_occupancy_grid(msg: object) -> tuple[np.ndarray, OccupancyGridSpec]:
    """nav_msgs/OccupancyGrid -> ((H, W) int8 values -1..100, grid geometry)."""
    info = msg.info  # type: ignore[attr-defined]
    grid = np.asarray(msg.data, dtype=np.int8).reshape(int(info.height), int(info.width))  # type: ignore[attr-defined]
    spec = OccupancyGridSpec(float(info.resolution), float(info.origin.position.x), float(info.origin.position.y))
    return grid, spec


# ----------------------------------------------------------------------------------- encoding

class RosCodec:
    """Builds rosbags messages of one ROS 2 distribution and (de)serialises them as CDR.

    Args:
        distro: 'humble' or 'jazzy'.
    """

    def __init__(self, distro: str = 'humble') -> None:
        self.distro = check_distro(distro)
        self.typestore = typestore_for(self.distro)
        self._t = self.typestore.types
        self._range_has_variance = any(
            name == 'variance' for name, _ in self.typestore.fielddefs['sensor_msgs/msg/Range'][1])

    # ---- generic
    def serialize(self, msg: object) -> bytes:
        """CDR bytes (little endian, with the 4-byte encapsulation header)."""
        return bytes(self.typestore.serialize_cdr(msg, msg.__msgtype__))  # type: ignore[attr-defined]

    def deserialize(self, raw: bytes | memoryview, msgtype: str) -> object:
        """Message object from CDR bytes."""
        return self.typestore.deserialize_cdr(raw, msgtype)

    def time(self, stamp_ns: int) -> RosMessage:
        """builtin_interfaces/Time of `stamp_ns`."""
        sec, nsec = divmod(int(stamp_ns), 1_000_000_000)
        return self._t['builtin_interfaces/msg/Time'](sec=sec, nanosec=nsec)

    def header(self, stamp_ns: int, frame_id: str) -> RosMessage:
        """std_msgs/Header."""
        return self._t['std_msgs/msg/Header'](stamp=self.time(stamp_ns), frame_id=frame_id)

    def _pose(self, xyz: Sequence[float], quat: Sequence[float] = (0.0, 0.0, 0.0, 1.0)) -> RosMessage:
        t = self._t
        return t['geometry_msgs/msg/Pose'](
            position=t['geometry_msgs/msg/Point'](x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2])),
            orientation=t['geometry_msgs/msg/Quaternion'](x=quat[0], y=quat[1], z=quat[2], w=quat[3]))

    # ---- sensor inputs
    def pointcloud2(self, points: np.ndarray, stamp_ns: int, frame_id: str, *,
                    fields: Sequence[str] = ('x', 'y', 'z', 'intensity'), datatype: str = 'float32',
                    big_endian: bool = False, shape: tuple[int, int] | None = None,
                    point_step: int | None = None, row_padding: int = 0) -> RosMessage:
        """(N, >=len(fields)) points -> sensor_msgs/PointCloud2, fields packed in order.

        Args:
            points: (N, C) points, LiDAR frame; the first len(fields) columns are written.
            stamp_ns: the header stamp [ns].
            frame_id: the header frame id.
            fields: the field names, in column order.
            datatype: 'float32' or 'float64' (any PointField type name) for every field.
            big_endian: write big-endian values and set `is_bigendian`.
            shape: (height, width) of an organised cloud, height * width == N; default (1, N).
            point_step: bytes per point (>= the packed size; the rest is padding).
            row_padding: extra bytes at the end of each row (row_step = width * point_step + padding).
        """
        pts = np.asarray(points)
        if pts.ndim != 2 or pts.shape[1] < len(fields):
            raise FormatError(f'pointcloud2: need (N, >={len(fields)}) points, got {pts.shape}')
        n = len(pts)
        height, width = shape if shape is not None else (1, n)
        if height * width != n:
            raise FormatError(f'pointcloud2: shape {shape} does not hold {n} points')
        dt = np.dtype(('>' if big_endian else '<') + _PF_TYPES[_PF_CODES[datatype]])
        packed = dt.itemsize * len(fields)
        step = packed if point_step is None else int(point_step)
        if step < packed:
            raise FormatError(f'pointcloud2: point_step {step} < {packed} bytes of fields')
        row_step = width * step + int(row_padding)
        values = pts[:, : len(fields)].astype(dt, copy=False)
        if step == packed and row_padding == 0:
            data = np.frombuffer(np.ascontiguousarray(values).tobytes(), dtype=np.uint8)
        else:
            buf = np.zeros((height, row_step), dtype=np.uint8)
            cells = buf[:, : width * step].reshape(height, width, step)
            cells[:, :, :packed] = np.ascontiguousarray(values).view(np.uint8).reshape(height, width, packed)
            data = buf.reshape(-1)
        pf = self._t['sensor_msgs/msg/PointField']
        return self._t['sensor_msgs/msg/PointCloud2'](
            header=self.header(stamp_ns, frame_id), height=height, width=width,
            fields=[pf(name=f, offset=i * dt.itemsize, datatype=_PF_CODES[datatype], count=1)
                    for i, f in enumerate(fields)],
            is_bigendian=bool(big_endian), point_step=step, row_step=row_step, data=data,
            is_dense=bool(np.isfinite(pts[:, :3]).all()))

    def image(self, img: np.ndarray, stamp_ns: int, frame_id: str, *, encoding: str | None = None) -> RosMessage:
        """Array -> sensor_msgs/Image.

        Default encodings: (H, W, 3) uint8 -> rgb8 (RGB in memory); (H, W) uint8 -> mono8;
        uint16 -> mono16; float32 -> 32FC1. `encoding='bgr8'` swaps the channels on the way out.
        """
        arr = np.asarray(img)
        if encoding is None:
            encoding = {('u1', 3): 'rgb8', ('u1', 2): 'mono8', ('u2', 2): 'mono16',
                        ('f4', 2): '32FC1'}.get((arr.dtype.str[1:], arr.ndim), '')
            if not encoding:
                raise FormatError(f'image: no ROS encoding for a {arr.shape} {arr.dtype} array')
        if encoding not in IMAGE_ENCODINGS:
            raise FormatError(f'image: unknown encoding {encoding!r}; supported: {sorted(IMAGE_ENCODINGS)}')
        ch, code = IMAGE_ENCODINGS[encoding]
        if encoding in ('bgr8', '8UC3'):
            arr = arr[..., ::-1]
        arr = np.ascontiguousarray(arr, dtype='<' + code if code != 'u1' else np.uint8)
        if arr.ndim != (3 if ch > 1 else 2) or (ch > 1 and arr.shape[2] != ch):
            raise FormatError(f'image: encoding {encoding} needs {ch} channel(s), got shape {arr.shape}')
        h, w = arr.shape[:2]
        return self._t['sensor_msgs/msg/Image'](
            header=self.header(stamp_ns, frame_id), height=h, width=w, encoding=encoding, is_bigendian=0,
            step=w * ch * arr.dtype.itemsize, data=arr.reshape(-1).view(np.uint8))

    def compressed_image(self, img: np.ndarray, stamp_ns: int, frame_id: str, *, fmt: str = 'png') -> RosMessage:
        """Array -> sensor_msgs/CompressedImage ('png' or 'jpeg'; RGB / mono8 / mono16 (png))."""
        import cv2

        arr = np.asarray(img)
        if fmt not in ('png', 'jpeg'):
            raise FormatError(f'compressed_image: format must be png or jpeg, got {fmt!r}')
        src = 'rgb8' if arr.ndim == 3 else ('mono16' if arr.dtype == np.uint16 else 'mono8')
        bgr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR) if arr.ndim == 3 else arr
        ok, buf = cv2.imencode('.png' if fmt == 'png' else '.jpg', bgr)
        if not ok:
            raise FormatError(f'compressed_image: OpenCV cannot encode a {arr.shape} {arr.dtype} image as {fmt}')
        packed = 'bgr8' if arr.ndim == 3 else src
        return self._t['sensor_msgs/msg/CompressedImage'](
            header=self.header(stamp_ns, frame_id), format=f'{src}; {fmt} compressed {packed}',
            data=buf.reshape(-1))

    def camera_info(self, cam: CameraModel, stamp_ns: int, frame_id: str) -> RosMessage:
        """CameraModel -> sensor_msgs/CameraInfo (rectified: no distortion, R = I, K = P[:, :3])."""
        t = self._t
        return t['sensor_msgs/msg/CameraInfo'](
            header=self.header(stamp_ns, frame_id), height=int(cam.height), width=int(cam.width),
            distortion_model='plumb_bob', d=np.zeros(5), k=cam.P[:, :3].reshape(-1).copy(),
            r=np.eye(3).reshape(-1), p=cam.P.reshape(-1).copy(), binning_x=0, binning_y=0,
            roi=t['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0, width=0,
                                                       do_rectify=False))

    def range(self, value: float, stamp_ns: int, frame_id: str, *, field_of_view: float,
              min_range: float, max_range: float, variance: float = 0.0) -> RosMessage:
        """sensor_msgs/Range (ULTRASOUND). NaN (no echo) is written as +inf (REP 117).

        Jazzy messages carry `variance` (0 = unknown); Humble messages have no such field.
        """
        r = float(value)
        kwargs: dict[str, RosMessage | int | float] = dict(header=self.header(stamp_ns, frame_id), radiation_type=0,
                      field_of_view=float(field_of_view), min_range=float(min_range),
                      max_range=float(max_range), range=math.inf if math.isnan(r) else r)
        if self._range_has_variance:
            kwargs['variance'] = float(variance)
        return self._t['sensor_msgs/msg/Range'](**kwargs)

    def tf_message(self, transforms: Iterable[StaticTransform]) -> RosMessage:
        """tf2_msgs/TFMessage from `T_parent_child` edges (for /tf_static)."""
        t = self._t
        out = []
        for edge in transforms:
            T = np.asarray(edge.matrix, dtype=np.float64)
            q = matrix_to_quaternion(T[:3, :3])
            out.append(t['geometry_msgs/msg/TransformStamped'](
                header=self.header(edge.stamp_ns, edge.parent), child_frame_id=edge.child,
                transform=t['geometry_msgs/msg/Transform'](
                    translation=t['geometry_msgs/msg/Vector3'](x=T[0, 3], y=T[1, 3], z=T[2, 3]),
                    rotation=t['geometry_msgs/msg/Quaternion'](x=q[0], y=q[1], z=q[2], w=q[3]))))
        return t['tf2_msgs/msg/TFMessage'](transforms=out)

    # ---- perception outputs
    def detections(self, labels: ObjectLabels, stamp_ns: int, frame_id: str, *,
                   ids: Sequence[str] | None = None) -> RosMessage:
        """ObjectLabels -> vision_msgs/Detection3DArray (one hypothesis per box: name and score).

        `ids` fills each Detection3D's `id` (track ids); '' by default (plain detections have none).
        """
        t = self._t
        header = self.header(stamp_ns, frame_id)
        boxes = labels.boxes.data
        scores = labels.scores if labels.scores is not None else np.ones(len(labels))
        if ids is not None and len(ids) != len(labels):
            raise FormatError(f'detections: {len(ids)} ids for {len(labels)} boxes')
        dets = []
        for i in range(len(labels)):
            x, y, z, dx, dy, dz, yaw = (float(v) for v in boxes[i])
            quat = (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))
            pose = self._pose((x, y, z), quat)
            hyp = t['vision_msgs/msg/ObjectHypothesisWithPose'](
                hypothesis=t['vision_msgs/msg/ObjectHypothesis'](class_id=str(labels.names[i]),
                                                                 score=float(scores[i])),
                pose=t['geometry_msgs/msg/PoseWithCovariance'](pose=pose, covariance=np.zeros(36)))
            dets.append(t['vision_msgs/msg/Detection3D'](
                header=header, results=[hyp],
                bbox=t['vision_msgs/msg/BoundingBox3D'](
                    center=self._pose((x, y, z), quat), size=t['geometry_msgs/msg/Vector3'](x=dx, y=dy, z=dz)),
                id='' if ids is None else str(ids[i])))
        return t['vision_msgs/msg/Detection3DArray'](header=header, detections=dets)

    def tracks(self, tracks: Tracks, stamp_ns: int, frame_id: str) -> RosMessage:
        """Tracks -> vision_msgs/Detection3DArray (/perception/tracks): per track its box, `id` = the track id
        (decimal text, stable over the frames the object is tracked), class and score in results[0].hypothesis.
        The velocity has no field in Detection3D: see `track_markers`."""
        labels = ObjectLabels(tracks.boxes, list(tracks.names), np.zeros(len(tracks)), np.zeros(len(tracks), int),
                              np.zeros(len(tracks)), np.zeros((len(tracks), 4)), tracks.scores)
        return self.detections(labels, stamp_ns, frame_id, ids=[str(int(i)) for i in tracks.ids])

    def track_markers(self, tracks: Tracks, stamp_ns: int, frame_id: str) -> RosMessage:
        """Tracks -> visualization_msgs/MarkerArray (/perception/track_markers): DELETEALL, then per track (marker
        id = track id in each namespace) a LINE_LIST outline in 'track_boxes', a TEXT_VIEW_FACING
        '#<id> <class> <speed> m/s' in 'track_ids', and in 'track_velocity' an ARROW from the box centre to where
        the object will be in one second (points[0] -> points[1], i.e. the velocity [m/s] in the header frame;
        a zero-length arrow for a standing object)."""
        t = self._t
        header = self.header(stamp_ns, frame_id)
        point = t['geometry_msgs/msg/Point']
        out = [self._marker(header, 'omnifuse_tracks', 0, 0, 3, scale=(0.0, 0.0, 0.0), colour=(0.0, 0.0, 0.0))]
        if len(tracks):
            boxes = tracks.boxes.data
            segments = box_corners(boxes)[:, _BOX_EDGES.reshape(-1)]  # (M, 28, 3)
            for i in range(len(tracks)):
                tid = int(tracks.ids[i])
                mid = tid & 0x7FFFFFFF  # Marker.id is int32
                colour = _marker_colour(tracks.names[i])
                pts = [point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in segments[i]]
                out.append(self._marker(header, 'track_boxes', mid, 5, 0, scale=(0.05, 0.0, 0.0), colour=colour,
                                        points=pts))
                vel = tracks.velocities[i]
                speed = float(np.hypot(vel[0], vel[1]))
                top = boxes[i, :3] + (0.0, 0.0, boxes[i, 5] / 2 + 0.3)
                out.append(self._marker(header, 'track_ids', mid, 9, 0, scale=(0.0, 0.0, 0.6), colour=colour,
                                        text=f'#{tid} {tracks.names[i]} {speed:.1f} m/s', position=top))
                start = boxes[i, :3]
                end = start + vel
                out.append(self._marker(header, 'track_velocity', mid, 0, 0, scale=(0.15, 0.3, 0.3), colour=colour,
                                        points=[point(x=float(start[0]), y=float(start[1]), z=float(start[2])),
                                                point(x=float(end[0]), y=float(end[1]), z=float(end[2]))]))
        return t['visualization_msgs/msg/MarkerArray'](markers=out)

    def _marker(self, header: RosMessage, ns: str, mid: int, mtype: int, action: int, *, scale: tuple,
                colour: tuple, points: list | None = None, text: str = '',
                position: Sequence[float] = (0.0, 0.0, 0.0)) -> RosMessage:
        t = self._t
        return t['visualization_msgs/msg/Marker'](
            header=header, ns=ns, id=mid, type=mtype, action=action, pose=self._pose(position),
            scale=t['geometry_msgs/msg/Vector3'](x=scale[0], y=scale[1], z=scale[2]),
            color=t['std_msgs/msg/ColorRGBA'](r=colour[0], g=colour[1], b=colour[2], a=1.0),
            lifetime=t['builtin_interfaces/msg/Duration'](sec=0, nanosec=0), frame_locked=False,
            points=points or [], colors=[], texture_resource='',
            texture=t['sensor_msgs/msg/CompressedImage'](header=header, format='', data=np.zeros(0, np.uint8)),
            uv_coordinates=[], text=text, mesh_resource='',
            mesh_file=t['visualization_msgs/msg/MeshFile'](filename='', data=np.zeros(0, np.uint8)),
            mesh_use_embedded_materials=False)

    def markers(self, labels: ObjectLabels, stamp_ns: int, frame_id: str) -> RosMessage:
        """ObjectLabels -> visualization_msgs/MarkerArray: DELETEALL, then per box a LINE_LIST
        outline (with a cross on the front face) and a TEXT_VIEW_FACING label 'Name 0.87'."""
        t = self._t
        header = self.header(stamp_ns, frame_id)
        point = t['geometry_msgs/msg/Point']
        out = [self._marker(header, 'omnifuse', 0, 0, 3, scale=(0.0, 0.0, 0.0), colour=(0.0, 0.0, 0.0))]
        if len(labels):
            corners = box_corners(labels.boxes.data)  # (N, 8, 3)
            segments = corners[:, _BOX_EDGES.reshape(-1)]  # (N, 28, 3)
            scores = labels.scores
            for i in range(len(labels)):
                colour = _marker_colour(labels.names[i])
                pts = [point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in segments[i]]
                out.append(self._marker(header, 'boxes', i, 5, 0, scale=(0.05, 0.0, 0.0), colour=colour,
                                        points=pts))
                text = labels.names[i] if scores is None else f'{labels.names[i]} {scores[i]:.2f}'
                top = labels.boxes.data[i, :3] + (0.0, 0.0, labels.boxes.data[i, 5] / 2 + 0.3)
                out.append(self._marker(header, 'labels', i, 9, 0, scale=(0.0, 0.0, 0.5), colour=colour,
                                        text=text, position=top))
        return t['visualization_msgs/msg/MarkerArray'](markers=out)

    def occupancy_grid(self, grid: np.ndarray, stamp_ns: int, frame_id: str, *,
                       spec: OccupancyGridSpec) -> RosMessage:
        """(H, W) grid -> nav_msgs/OccupancyGrid. uint8 input: 255 = unknown (-1), else 0..100 [%];
        int8 input is written as is (-1..100). Geometry in `spec` (rows along +y)."""
        arr = np.asarray(grid)
        if arr.ndim != 2:
            raise FormatError(f'occupancy_grid: expected (H, W), got {arr.shape}')
        if arr.dtype == np.uint8:
            data = np.where(arr == 255, -1, np.minimum(arr, 100)).astype(np.int8)
        else:
            data = np.clip(arr, -1, 100).astype(np.int8)
        t = self._t
        info = t['nav_msgs/msg/MapMetaData'](
            map_load_time=self.time(stamp_ns), resolution=float(spec.resolution), width=arr.shape[1],
            height=arr.shape[0], origin=self._pose((spec.origin_x, spec.origin_y, 0.0)))
        return t['nav_msgs/msg/OccupancyGrid'](header=self.header(stamp_ns, frame_id), info=info,
                                               data=data.reshape(-1))

    def diagnostics(self, stamp_ns: int, statuses: Iterable[Mapping[str, object]]) -> RosMessage:
        """diagnostic_msgs/DiagnosticArray. Each status: name, level (0 OK, 1 WARN, 2 ERROR,
        3 STALE), message, hardware_id (optional), values (a mapping, written as strings)."""
        t = self._t
        out = []
        for s in statuses:
            values = s.get('values') or {}
            if not isinstance(values, Mapping):
                raise FormatError(f"diagnostics: status {s.get('name')!r}: 'values' must be a mapping, got {values!r}")
            out.append(t['diagnostic_msgs/msg/DiagnosticStatus'](
                level=int(s.get('level', 0)), name=str(s['name']), message=str(s.get('message', '')),  # type: ignore[call-overload]
                hardware_id=str(s.get('hardware_id', '')),
                values=[t['diagnostic_msgs/msg/KeyValue'](key=str(k), value=str(v))
                        for k, v in values.items()]))
        return t['diagnostic_msgs/msg/DiagnosticArray'](header=self.header(stamp_ns, ''), status=out)

    def float64(self, value: float) -> RosMessage:
        """std_msgs/Float64 (the ~/debug/pipeline_latency_ms topic)."""
        return self._t['std_msgs/msg/Float64'](data=float(value))
