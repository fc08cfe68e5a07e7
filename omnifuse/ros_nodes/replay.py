"""Replay a ROS 2 bag through omnifuse without ROS: input bag in, input + perception outputs out.

Every input message is copied unchanged (same topic, type, definition, QoS and log time). For each
LiDAR message exactly one set of outputs is written, all stamped with the LiDAR stamp (header) and
logged at the LiDAR message's log time:

    /perception/objects       vision_msgs/Detection3DArray   (empty when nothing is found)
    /perception/markers       visualization_msgs/MarkerArray (boxes + labels, for Foxglove / RViz)
    /perception/tracks        vision_msgs/Detection3DArray   tracked objects, `id` = track id (tracking on)
    /perception/track_markers visualization_msgs/MarkerArray track boxes, '#id class speed' texts, velocity
                              arrows (tracking on; see omnifuse/ros_nodes/tracking.py)
    /perception/segmentation  sensor_msgs/Image mono8 class ids in the segmenter's camera image (when a
                              segmenter is configured and the frame has that camera)
    /perception/occupancy     nav_msgs/OccupancyGrid          (when an occupancy model is configured)
    /diagnostics              diagnostic_msgs/DiagnosticArray (missing sensors, bad input, timings)

/tf_static is copied from the input; a bag without it gets one from the params' calibration file
(or an identity base_link -> LiDAR edge). Bad input messages are reported (topic, stamp, reason) in
/diagnostics and the summary, and skipped; they never stop the replay or remove a LiDAR frame.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from omnifuse.errors import FormatError, OmnifuseError
from omnifuse.ros_nodes.bag_io import (
    calibration_transforms,
    close_writer,
    detect_distro,
    open_reader,
    storage_plugin,
    tf_static_qos,
    thermal_scales,
    writer_version,
)
from omnifuse.ros_nodes.codec import RosCodec, StaticTransform
from omnifuse.ros_nodes.core import PerceptionCore, PerceptionOutputs
from omnifuse.ros_nodes.frames import AssembledFrame, BadMessage, FrameAssembler, TopicRoles
from omnifuse.ros_nodes.msgdefs import check_distro
from omnifuse.ros_nodes.params import DEFAULT_PARAMS
from omnifuse.structures import ObjectLabels, SensorFrame
from omnifuse.structures.tracks import Tracks

__all__ = ['ReplaySummary', 'replay_bag', 'frame_statuses', 'OutputWriter', 'foxglove_hint']


@dataclass
class ReplaySummary:
    """What a replay did.

    Attributes:
        frames: LiDAR frames processed (== LiDAR messages in the input).
        input_messages: messages read.
        distro, distro_reason: message definitions used and how they were chosen.
        fusion_rates: per sensor, fraction of frames it was attached to.
        latency_ms: p50 / p90 / p99 / max of the time from a frame being complete to its outputs written.
        overhead_ms_per_frame: wall time per frame outside the models (decode, sync, encode, copy, write),
            measured over the message loop (opening and closing the bags are not included).
        overhead_cpu_ms_per_frame: the same in CPU time of this process (less sensitive to other jobs).
        model_ms_per_frame: model time per frame.
        outputs: messages written per output topic.
        bad_count, bad: skipped input messages (count, and the first ones).
        model_errors: frames whose model raised (outputs written empty).
        skipped_topics: input topics that could not be copied (no message definition), with the reason.
    """

    frames: int = 0
    input_messages: int = 0
    distro: str = ''
    distro_reason: str = ''
    fusion_rates: dict[str, float] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    overhead_ms_per_frame: float = 0.0
    overhead_cpu_ms_per_frame: float = 0.0
    model_ms_per_frame: float = 0.0
    outputs: dict[str, int] = field(default_factory=dict)
    bad_count: int = 0
    bad: list[BadMessage] = field(default_factory=list)
    model_errors: int = 0
    skipped_topics: dict[str, str] = field(default_factory=dict)

    def format(self) -> str:
        """Human-readable multi-line summary."""
        lines = [f'frames: {self.frames} (from {self.input_messages} input messages; '
                 f'{self.distro} definitions, {self.distro_reason})']
        if self.fusion_rates:
            rates = ', '.join(f'{k} {v:.0%}' for k, v in sorted(self.fusion_rates.items()))
            lines.append(f'fusion rate per sensor: {rates}')
        if self.latency_ms:
            lat = ', '.join(f'{k} {v:.1f}' for k, v in self.latency_ms.items())
            lines.append(f'latency [ms]: {lat}')
        lines.append(f'per frame: {self.overhead_ms_per_frame:.2f} ms overhead (decode, sync, encode, write; '
                     f'{self.overhead_cpu_ms_per_frame:.2f} ms CPU) + {self.model_ms_per_frame:.2f} ms models')
        lines.append('outputs: ' + ', '.join(f'{k} {v}' for k, v in sorted(self.outputs.items())))
        if self.bad_count:
            lines.append(f'skipped {self.bad_count} bad input message(s):')
            lines.extend(f'  {b}' for b in self.bad[:20])
            if self.bad_count > 20:
                lines.append(f'  ... and {self.bad_count - 20} more (see /diagnostics)')
        if self.model_errors:
            lines.append(f'model errors: {self.model_errors} frame(s) written with empty outputs (see /diagnostics)')
        for topic, reason in self.skipped_topics.items():
            lines.append(f'not copied: {topic} ({reason})')
        return '\n'.join(lines)


def frame_statuses(af: AssembledFrame, out: PerceptionOutputs, *, bad: list[BadMessage],
                   model_error: str = '', processing_ms: float | None = None,
                   skipped: str = '') -> list[dict[str, Any]]:
    """DiagnosticStatus dicts for one frame: the pipeline status, then one ERROR per bad input.

    `skipped` says why the models did not run on this frame (its outputs are empty); a WARN.
    """
    frame = af.frame
    level, problems = 0, []
    if skipped:
        level = 1
        problems.append(f'skipped: {skipped}')
    if af.missing:
        level = 1
        problems.append('missing ' + ', '.join(af.missing))
    if af.late:
        level = max(level, 1)
        problems.append('LiDAR message arrived late')
    if af.duplicate:
        level = max(level, 1)
        problems.append('duplicate LiDAR stamp')
    if af.reset:
        level = max(level, 1)
        problems.append('time jumped backwards: synchronisation reset')
    if af.lidar_error:
        level = 2
        problems.append('LiDAR message unusable')
    if out.notes:  # a configured camera the frame lacks: the models ran without it
        level = max(level, 1)
        problems.extend(out.notes)
    if model_error:
        level = 2
        problems.append(f'model error: {model_error}')
    values: dict[str, Any] = {
        'stamp_ns': frame.stamp_ns,
        'points': 0 if frame.points is None else len(frame.points),
        'objects': '' if out.objects is None else len(out.objects),
        'missing': ','.join(af.missing),
    }
    if out.tracks is not None:
        values['tracks'] = len(out.tracks)
    if skipped:
        values['skipped'] = 'true'
    for key, stamp in sorted(frame.stamps_ns.items()):
        if key != 'lidar':
            values[f'age_ms.{key}'] = f'{(stamp - frame.stamp_ns) / 1e6:.1f}'
    for name, ms in out.timings_ms.items():
        values[f'{name}_ms'] = f'{ms:.2f}'
    if processing_ms is not None:
        values['processing_ms'] = f'{processing_ms:.2f}'
    statuses = [{'name': 'omnifuse/perception', 'level': level, 'message': '; '.join(problems) or 'ok',
                 'hardware_id': af.lidar_frame_id, 'values': values}]
    for b in bad:
        statuses.append({'name': 'omnifuse/input', 'level': 2, 'message': str(b), 'hardware_id': b.topic,
                         'values': {'topic': b.topic, 'stamp_ns': b.stamp_ns, 'reason': b.reason}})
    return statuses


class OutputWriter:
    """Encodes PerceptionOutputs and writes them through a callback `write(topic, msg, log_time_ns)`."""

    def __init__(self, codec: RosCodec, core: PerceptionCore, outputs: Mapping[str, str]) -> None:
        self.codec = codec
        self.core = core
        self.topics = {k: str(v) for k, v in outputs.items()}

    def messages(self, af: AssembledFrame, out: PerceptionOutputs,
                 statuses: list[dict[str, Any]]) -> list[tuple[str, Any]]:
        """(topic, message) pairs for one frame, every header stamped with the LiDAR stamp."""
        c, stamp, fid = self.codec, af.frame.stamp_ns, af.lidar_frame_id
        msgs: list[tuple[str, Any]] = []
        if self.core.detector is not None:
            objects = out.objects if out.objects is not None else ObjectLabels.empty()
            msgs.append((self.topics['objects'], c.detections(objects, stamp, fid)))
            msgs.append((self.topics['markers'], c.markers(objects, stamp, fid)))
        if self.core.tracker is not None:
            tracks = out.tracks if out.tracks is not None else Tracks.empty(fid)
            msgs.append((self.topics['tracks'], c.tracks(tracks, stamp, fid)))
            msgs.append((self.topics['track_markers'], c.track_markers(tracks, stamp, fid)))
        if out.segmentation is not None:
            cam = self.core.segmentation_camera
            frame_ids = af.frame.meta.get('frame_ids', {}) or {}
            assert isinstance(frame_ids, Mapping)  # FrameAssembler writes {'camera/<name>': frame id, ...}
            seg_fid = frame_ids.get(f'camera/{cam}', f'camera_{cam}_optical')
            msgs.append((self.topics['segmentation'], c.image(out.segmentation, stamp, seg_fid, encoding='mono8')))
        if out.occupancy is not None:
            msgs.append((self.topics['occupancy'], c.occupancy_grid(out.occupancy, stamp, fid, spec=self.core.grid)))
        msgs.append((self.topics['diagnostics'], c.diagnostics(stamp, statuses)))
        return msgs


def run_core(core: PerceptionCore, frame: SensorFrame, *, reset: bool = False,
             late: bool = False) -> tuple[PerceptionOutputs, str]:
    """Run the core, then its tracking (`reset` / `late`: the frame's sync flags); a model exception becomes
    empty outputs plus its message (never raised)."""
    try:
        out = core(frame)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # a failure outside the models (e.g. thread settings) must not stop the stream
        out = PerceptionOutputs(frame.stamp_ns)
        core.track(out, frame, reset=reset, late=late)
        return out, f'{type(exc).__name__}: {exc}'
    core.track(out, frame, reset=reset, late=late)
    return out, '; '.join(f'{role}: {error}' for role, error in out.errors.items())


def _bag_sensors(reader: Any, params: Mapping[str, Any]) -> list[str]:
    """The synced sensors a bag has topics for (a replay never waits for a sensor the bag lacks)."""
    roles = TopicRoles(params.get('inputs', {}) or {})
    return roles.sensors_of((c.topic, c.msgtype) for c in reader.connections)


def _prepare_output(path: Path, force: bool) -> None:
    if not path.exists():
        return
    if not force:
        raise OmnifuseError(f'{path}: exists already (use --force to replace an existing bag)')
    if path.is_dir() and ((path / 'metadata.yaml').is_file() or not any(path.iterdir())):
        shutil.rmtree(path)
    else:
        raise OmnifuseError(f'{path}: exists and is not a ROS 2 bag directory; not removing it')


def replay_bag(in_path: str | Path, out_path: str | Path, *, params: Mapping[str, Any] | None = None,
               core: PerceptionCore | None = None, storage: str = 'mcap', distro: str | None = None,
               progress: bool = True, force: bool = False) -> ReplaySummary:
    """Replay `in_path` into a new bag `out_path` (see the module docstring).

    Args:
        in_path: input bag (directory, .mcap or .db3).
        out_path: output bag directory (must not exist unless `force`).
        params: node params; defaults when None.
        core: the perception core; `PerceptionCore.from_params(params)` when None.
        storage: 'mcap' or 'sqlite3' for the output.
        distro: force 'humble' / 'jazzy' definitions instead of detecting them.
        progress: show a tqdm progress bar.
        force: replace an existing output bag directory.
    """
    from rosbags.rosbag2 import Writer
    from rosbags.rosbag2.errors import WriterError
    from tqdm import tqdm

    params = params or DEFAULT_PARAMS
    out_path = Path(out_path)
    src = Path(in_path).resolve()
    if out_path.resolve() == src or out_path.resolve() in src.parents:
        raise OmnifuseError(f'{out_path}: the output bag must not be (or contain) the input bag {in_path}')
    plugin = storage_plugin(storage)
    if out_path.exists() and not force:  # fail before loading the models
        raise OmnifuseError(f'{out_path}: exists already (use --force to replace an existing bag)')
    reader = open_reader(in_path)
    summary = ReplaySummary()
    try:
        core = core if core is not None else PerceptionCore.from_params(params)
        if distro:
            summary.distro, summary.distro_reason = check_distro(distro), 'chosen by the user'
        else:
            summary.distro, summary.distro_reason = detect_distro(reader, in_path)
        codec = RosCodec(summary.distro)
        assembler = FrameAssembler(params, codec, thermal_scale=thermal_scales(reader),
                                   sensors=_bag_sensors(reader, params))
        outputs = OutputWriter(codec, core, {**DEFAULT_PARAMS['outputs'], **(params.get('outputs', {}) or {})})
        _prepare_output(out_path, force)
        writer = Writer(out_path, version=writer_version(summary.distro), storage_plugin=plugin)
        writer.set_custom_data('omnifuse.ros_distro', summary.distro)
        writer.open()
        try:
            conn_map = _copy_connections(reader, writer, codec, summary)
            out_conns: dict[str, Any] = {}
            counts: Counter[str] = Counter()

            def write(topic: str, msg: Any, t_ns: int, qos: list[Any] | None = None) -> None:
                if topic not in out_conns:
                    out_conns[topic] = writer.add_connection(topic, msg.__msgtype__, typestore=codec.typestore,
                                                             offered_qos_profiles=qos or [])
                writer.write(out_conns[topic], int(t_ns), codec.serialize(msg))
                counts[topic] += 1

            tf_topic = assembler.roles.tf_static
            if not any(c.topic == tf_topic for c in reader.connections):
                start = reader.start_time if reader.message_count else 0
                shipped_frame = DEFAULT_PARAMS['lidar_frame']
                lidar_frame = str(params.get('lidar_frame', shipped_frame) or shipped_frame)
                edges = []
                if assembler.file_calib is not None:
                    edges = calibration_transforms(SensorFrame('calib', calib=assembler.file_calib), start, lidar_frame)
                edges = edges or [StaticTransform('base_link', lidar_frame, np.eye(4), start)]
                write(tf_topic, codec.tf_message(edges), start, tf_static_qos())

            latencies: list[float] = []
            model_ms = 0.0
            model_cpu_s = 0.0

            def process(frames: list[AssembledFrame]) -> None:
                nonlocal model_ms, model_cpu_s
                for af in frames:
                    t0 = time.perf_counter()
                    c0 = time.thread_time()
                    out, error = run_core(core, af.frame, reset=af.reset, late=af.late)
                    model_cpu_s += time.thread_time() - c0
                    summary.model_errors += bool(error)
                    model_ms += out.model_ms
                    statuses = frame_statuses(af, out, bad=assembler.take_new_bad(), model_error=error)
                    for topic, msg in outputs.messages(af, out, statuses):
                        write(topic, msg, af.log_time_ns)
                    latencies.append((time.perf_counter() - t0) * 1e3)
                    summary.frames += 1

            t_start = time.perf_counter()
            cpu_start = time.process_time()
            bar = tqdm(total=reader.message_count, unit='msg', desc='replay', disable=not progress)
            with bar:
                for conn, t, raw in _checked_messages(reader, in_path):
                    summary.input_messages += 1
                    target = conn_map.get(conn.id)
                    if target is not None:
                        writer.write(target, t, raw)
                    process(assembler.feed(conn.topic, conn.msgtype, raw, t))
                    bar.update(1)
                process(assembler.flush())
            elapsed_ms = (time.perf_counter() - t_start) * 1e3
            elapsed_cpu_ms = (time.process_time() - cpu_start) * 1e3
        except BaseException:
            try:
                writer.close()
            except (WriterError, AssertionError, OSError):
                pass
            shutil.rmtree(out_path, ignore_errors=True)  # no half-written bag left behind
            raise
        close_writer(writer, out_path)
    finally:
        reader.close()
    summary.outputs = dict(counts)
    summary.fusion_rates = assembler.sync.fusion_rates()
    summary.bad_count, summary.bad = assembler.bad_count, list(assembler.bad)[:100]
    if latencies:
        arr = np.asarray(latencies)
        summary.latency_ms = {'p50': float(np.percentile(arr, 50)), 'p90': float(np.percentile(arr, 90)),
                              'p99': float(np.percentile(arr, 99)), 'max': float(arr.max())}
    n = max(summary.frames, 1)
    summary.model_ms_per_frame = model_ms / n
    summary.overhead_ms_per_frame = (elapsed_ms - model_ms) / n
    summary.overhead_cpu_ms_per_frame = (elapsed_cpu_ms - model_cpu_s * 1e3) / n
    return summary


def foxglove_hint(out_bag: str | Path) -> str:
    """How to look at a replayed bag in Foxglove (multi-line)."""
    out = Path(out_bag)
    files = sorted(out.glob('*.mcap')) or sorted(out.glob('*.db3'))
    target = files[0] if files else out
    return (f'open it in Foxglove: File > Open local file... > {target}\n'
            '  3D panel: /sensors/lidar/points, /perception/markers (boxes + labels), /perception/track_markers '
            '(track ids + velocity arrows), /perception/occupancy (near-field grid), frame "lidar"\n'
            '  Image panel: /sensors/camera/front/image_raw; a second one with /perception/segmentation '
            '(mono8 class ids; set its colour mode to a colour map)\n'
            '  Diagnostics panel: /diagnostics (missing sensors, bad input, model timings)')


def _checked_messages(reader: Any, path: str | Path) -> Iterator[tuple[Any, int, bytes]]:
    """The reader's messages; a storage error (a corrupt .db3 page, a damaged MCAP chunk) is a FormatError
    naming the bag and how far it got."""
    count = 0
    iterator = iter(reader.messages())
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except Exception as exc:  # apsw / sqlite3 / mcap / rosbags raise their own kinds on corrupt storage
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise FormatError(f'{path}: the bag is damaged after {count} messages ({type(exc).__name__}: '
                              f'{first[:200]})') from None
        count += 1
        yield item


def _copy_connections(reader: Any, writer: Any, codec: RosCodec, summary: ReplaySummary) -> dict[int, Any]:
    """Add every input connection to the writer; returns input connection id -> output connection."""
    from rosbags.rosbag2.errors import WriterError
    from rosbags.typesys import get_types_from_msg

    store = codec.typestore
    mapping: dict[int, Any] = {}
    added: dict[tuple, Any] = {}
    for conn in reader.connections:
        key = (conn.topic, conn.msgtype, repr(conn.ext))
        if key in added:
            mapping[conn.id] = added[key]
            continue
        msgdef, digest = conn.msgdef.data, conn.digest
        try:
            if not msgdef or not digest:
                if conn.msgtype not in store.fielddefs and msgdef:
                    store.register(get_types_from_msg(msgdef, conn.msgtype))
                if conn.msgtype not in store.fielddefs:
                    summary.skipped_topics[conn.topic] = f'no definition of {conn.msgtype} in the bag'
                    continue
                msgdef = msgdef or store.generate_msgdef(conn.msgtype, ros_version=2)[0]
                digest = digest or store.hash_rihs01(conn.msgtype)
            out = writer.add_connection(conn.topic, conn.msgtype, msgdef=msgdef, rihs01=digest,
                                        offered_qos_profiles=list(getattr(conn.ext, 'offered_qos_profiles', [])))
        except (WriterError, Exception) as exc:  # a definition rosbags cannot parse: report, go on
            summary.skipped_topics[conn.topic] = f'{type(exc).__name__}: {exc}'
            continue
        added[key] = out
        mapping[conn.id] = out
    return mapping
