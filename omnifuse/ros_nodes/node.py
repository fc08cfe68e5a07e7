"""The ROS 2 perception node: a thin rclpy lifecycle node around the ROS-free core.

All the work happens in `NodeLogic` (no rclpy): serialized input messages in, serialized output
messages out, using the same FrameAssembler / PerceptionCore / OutputWriter as `omnifuse replay`.
The rclpy part only moves bytes: subscriptions are created with `raw=True` and publishers publish
the CDR bytes that rosbags produced, so a robot and a replay run exactly the same code.

Lifecycle:
    configure   read parameters, choose the message definitions (ros_distro or $ROS_DISTRO),
                load the models and the calibration file, create the publishers
    activate    create the subscriptions (sensor-data QoS; /tf_static transient local), a 20 Hz
                timer that releases LiDAR frames whose sensors timed out, and the models' worker thread
    deactivate  drop subscriptions, timer and worker;  cleanup  drop publishers and models

Threads: the executor thread only decodes and synchronises (milliseconds), so no input queue fills
up while a model runs; complete frames go to a `FrameQueue` of `sync.max_queue` frames (default 1)
that the worker thread drains. When the models fall behind the sensors, the oldest waiting frame is
answered at once with empty objects and a WARN "skipped" in /diagnostics: latency stays bounded and
every LiDAR message still gets exactly one set of outputs.

Tracking (`tracking.enabled`, with a detector): /perception/tracks and /perception/track_markers per frame,
skipped frames included (the tracks coast through them); /tf is subscribed (reliable, keep-last 100) for the
odometry when `tracking.ego_motion` is true. See omnifuse/ros_nodes/tracking.py.

Outputs use reliable keep-last(10) QoS. Besides the perception topics, the node publishes
/diagnostics (processing time, per-sensor freshness, missing sensors, bad input) and
`~/debug/pipeline_latency_ms` (std_msgs/Float64: publish time minus LiDAR stamp).

rclpy is imported only inside this module's functions: it is not on PyPI and comes from the
robot's ROS 2 installation.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from omnifuse.errors import OmnifuseError
from omnifuse.ros_nodes.codec import RosCodec
from omnifuse.ros_nodes.core import PerceptionCore, PerceptionOutputs
from omnifuse.ros_nodes.frames import AssembledFrame, FrameAssembler
from omnifuse.ros_nodes.params import DEFAULT_PARAMS, check_types, merge, names, unflatten
from omnifuse.ros_nodes.replay import OutputWriter, frame_statuses, run_core

__all__ = ['FrameQueue', 'NodeLogic', 'Subscription', 'choose_distro', 'main', 'LATENCY_TOPIC']

LATENCY_TOPIC = '~/debug/pipeline_latency_ms'
_OUTPUT_TYPES = {'objects': 'vision_msgs/msg/Detection3DArray', 'markers': 'visualization_msgs/msg/MarkerArray',
                 'tracks': 'vision_msgs/msg/Detection3DArray', 'track_markers': 'visualization_msgs/msg/MarkerArray',
                 'occupancy': 'nav_msgs/msg/OccupancyGrid', 'segmentation': 'sensor_msgs/msg/Image',
                 'diagnostics': 'diagnostic_msgs/msg/DiagnosticArray'}


@dataclass(frozen=True)
class Subscription:
    """One input: topic, ROS type name and QoS kind ('sensor', 'latched' or 'tf')."""

    topic: str
    msgtype: str
    qos: str = 'sensor'


def choose_distro(params: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> str:
    """`ros_distro` param, else $ROS_DISTRO; must be humble or jazzy."""
    from omnifuse.ros_nodes.msgdefs import DISTROS

    env = os.environ if environ is None else environ
    name = str(params.get('ros_distro', '') or env.get('ROS_DISTRO', '')).lower()
    if name not in DISTROS:
        raise OmnifuseError(f'ros_distro: cannot use {name or "an unset ROS_DISTRO"!r}; set the ros_distro '
                            f'parameter to one of {list(DISTROS)}')
    return name


class FrameQueue:
    """Assembled frames waiting for the models: at most `size`, the newest kept (thread-safe).

    On a robot the models may be slower than the sensors. Rather than let a queue grow (latency
    without bound), `put` on a full queue evicts the oldest waiting frames and returns them; the node
    publishes those as skipped (empty objects, a WARN in /diagnostics), so every LiDAR message still
    gets its outputs and latency stays within about `size + 1` model runs.
    """

    def __init__(self, size: int = 1) -> None:
        if size < 1:
            raise OmnifuseError(f'sync.max_queue: must be >= 1, got {size}')
        self.size = int(size)
        self._items: deque[AssembledFrame] = deque()
        self._cond = threading.Condition()
        self._closed = False

    def put(self, af: AssembledFrame) -> list[AssembledFrame]:
        """Queue a frame; returns the frames it evicted (or the frame itself once closed)."""
        with self._cond:
            if self._closed:
                return [af]
            self._items.append(af)
            evicted = [self._items.popleft() for _ in range(len(self._items) - self.size)]
            self._cond.notify()
            return evicted

    def get(self, timeout: float | None = None) -> AssembledFrame | None:
        """The oldest waiting frame; None when closed (or after `timeout` seconds with nothing)."""
        with self._cond:
            self._cond.wait_for(lambda: self._items or self._closed, timeout)
            return self._items.popleft() if self._items else None

    def close(self) -> list[AssembledFrame]:
        """Stop: wakes the consumer; returns the frames still waiting."""
        with self._cond:
            self._closed = True
            rest = list(self._items)
            self._items.clear()
            self._cond.notify_all()
            return rest

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


class NodeLogic:
    """Everything the node does, without rclpy.

    Two stages, so that a node can run the models on a worker thread while it keeps receiving:
    `receive` / `release` (decode + synchronise, fast) give the frames that are complete, `process`
    runs the models on one frame and `skip` publishes a frame the models had no time for.
    `on_message` / `on_timer` do both in one call (every frame processed).

    Args:
        params: nested node params (see configs/ros/perception.yaml).
        core: the perception core; built from params when None.
        distro: message definitions; `choose_distro(params)` when None.
    """

    def __init__(self, params: Mapping[str, Any], *, core: PerceptionCore | None = None,
                 distro: str | None = None) -> None:
        check_types(params, 'node parameters')
        self.params = merge(DEFAULT_PARAMS, params)
        self.distro = distro or choose_distro(self.params)
        self.codec = RosCodec(self.distro)
        self.core = core if core is not None else PerceptionCore.from_params(self.params)
        self.assembler = FrameAssembler(self.params, self.codec)
        self.outputs = OutputWriter(self.codec, self.core, self.params['outputs'])
        self.last_stamp: dict[str, int] = {}
        self.processing_ms: deque[float] = deque(maxlen=1000)
        self.counts = {'frames': 0, 'processed': 0, 'skipped': 0}

    def subscriptions(self) -> list[Subscription]:
        """Input topics with their types and QoS kinds, calibration first.

        rclpy serves ready subscriptions in creation order, so camera_info and /tf_static come
        before the images and the LiDAR: a frame completed by an image already has its calibration.
        """
        roles = self.assembler.roles
        inputs = self.params['inputs']
        infos, images = [], []
        for kind, key in (('camera', 'cameras'), ('thermal', 'thermal')):
            for name in names(inputs.get(key)):
                infos.append(Subscription(roles.topic(f'{kind}_info', name), 'sensor_msgs/msg/CameraInfo'))
                images.append(Subscription(roles.topic(kind, name), 'sensor_msgs/msg/Image'))
        ranges = [Subscription(roles.topic('ultrasonic', name), 'sensor_msgs/msg/Range')
                  for name in names(inputs.get('ultrasonic'))]
        odom = [Subscription(roles.tf, 'tf2_msgs/msg/TFMessage', 'tf')] if self._wants_odometry() else []
        return [Subscription(roles.tf_static, 'tf2_msgs/msg/TFMessage', 'latched'), *odom, *infos, *images, *ranges,
                Subscription(roles.lidar, 'sensor_msgs/msg/PointCloud2')]

    def _wants_odometry(self) -> bool:
        """/tf is subscribed only for tracking's ego motion."""
        return self.core.tracker is not None and self.assembler.poses is not None

    def publications(self) -> list[tuple[str, str]]:
        """(topic, type) of every output this node publishes."""
        produced = set(self.core.produces)
        out = []
        for key, msgtype in _OUTPUT_TYPES.items():
            needed = {'objects': 'objects', 'markers': 'objects', 'tracks': 'tracks', 'track_markers': 'tracks',
                      'occupancy': 'occupancy', 'segmentation': 'segmentation'}.get(key)
            if needed is None or needed in produced:
                out.append((str(self.params['outputs'][key]), msgtype))
        out.append((LATENCY_TOPIC, 'std_msgs/msg/Float64'))
        return out

    # ---- stage 1: decode and synchronise (fast)
    def receive(self, topic: str, msgtype: str, raw: bytes, now_ns: int) -> list[AssembledFrame]:
        """One serialized input message -> the frames it completed."""
        frames = self.assembler.feed(topic, msgtype, raw, now_ns)
        role = self.assembler.roles.classify(topic, msgtype)
        if role is not None:
            self.last_stamp[f'{role[0]}/{role[1]}' if role[0] != 'lidar' else 'lidar'] = now_ns
        return self._claim_bad(frames)

    def release(self, now_ns: int) -> list[AssembledFrame]:
        """Clock tick: the frames whose sensors timed out."""
        return self._claim_bad(self.assembler.advance(now_ns))

    def _claim_bad(self, frames: list[AssembledFrame]) -> list[AssembledFrame]:
        if frames:  # bad input since the last frame is reported with the next one
            frames[0].bad = self.assembler.take_new_bad() + frames[0].bad
        self.counts['frames'] += len(frames)
        return frames

    # ---- stage 2: models (slow) or skip
    def process(self, af: AssembledFrame, now_ns: int) -> list[tuple[str, bytes]]:
        """Run the models on one frame; returns (topic, serialized output) pairs to publish."""
        t0 = time.perf_counter()
        result, error = run_core(self.core, af.frame, reset=af.reset, late=af.late)
        processing = (time.perf_counter() - t0) * 1e3
        statuses = frame_statuses(af, result, bad=af.bad, model_error=error, processing_ms=processing)
        self.processing_ms.append(processing)
        self.counts['processed'] += 1
        return self._encode(af, result, statuses, now_ns, (now_ns - af.frame.stamp_ns) / 1e6 + processing)

    def skip(self, af: AssembledFrame, now_ns: int, reason: str) -> list[tuple[str, bytes]]:
        """Outputs of a frame the models did not run on: empty objects, diagnostics saying why."""
        result = PerceptionOutputs(af.frame.stamp_ns)
        self.core.track(result, af.frame, reset=af.reset, late=af.late)  # no detections: the tracks coast
        statuses = frame_statuses(af, result, bad=af.bad, skipped=reason)
        self.counts['skipped'] += 1
        return self._encode(af, result, statuses, now_ns, (now_ns - af.frame.stamp_ns) / 1e6)

    def _encode(self, af: AssembledFrame, result: PerceptionOutputs, statuses: list[dict[str, Any]],
                now_ns: int, latency_ms: float) -> list[tuple[str, bytes]]:
        statuses[0]['values']['frames_skipped_total'] = str(self.counts['skipped'])
        for key, age in self.freshness_ms(now_ns).items():
            statuses[0]['values'][f'freshness_ms.{key}'] = f'{age:.1f}'
        out = [(topic, self.codec.serialize(msg)) for topic, msg in self.outputs.messages(af, result, statuses)]
        out.append((LATENCY_TOPIC, self.codec.serialize(self.codec.float64(latency_ms))))
        return out

    # ---- both stages at once (every frame processed)
    def on_message(self, topic: str, msgtype: str, raw: bytes, now_ns: int) -> list[tuple[str, bytes]]:
        """One serialized input message; returns (topic, serialized output) pairs to publish."""
        return [item for af in self.receive(topic, msgtype, raw, now_ns) for item in self.process(af, now_ns)]

    def on_timer(self, now_ns: int) -> list[tuple[str, bytes]]:
        """Clock tick: frames whose sensors timed out are processed."""
        return [item for af in self.release(now_ns) for item in self.process(af, now_ns)]

    def freshness_ms(self, now_ns: int) -> dict[str, float]:
        """Per input stream, time since its last message [ms]."""
        return {k: (now_ns - t) / 1e6 for k, t in sorted(self.last_stamp.items())}


def _ros_type(msgtype: str) -> Any:
    """The rosidl Python class of 'pkg/msg/Name'."""
    import importlib

    pkg, _, name = msgtype.split('/')
    return getattr(importlib.import_module(f'{pkg}.msg'), name)


def _node_class() -> type:
    """Define the rclpy lifecycle node class (rclpy imported here only)."""
    from rclpy.lifecycle import Node as LifecycleNode
    from rclpy.lifecycle import State, TransitionCallbackReturn
    from rclpy.qos import (
        DurabilityPolicy,
        HistoryPolicy,
        QoSProfile,
        ReliabilityPolicy,
        qos_profile_sensor_data,
    )

    class PerceptionNode(LifecycleNode):
        """omnifuse perception as a ROS 2 lifecycle node (see the module docstring)."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__('perception_node', automatically_declare_parameters_from_overrides=True, **kwargs)
            self.logic: NodeLogic | None = None
            self._pubs: dict[str, Any] = {}
            self._subs: list[Any] = []
            self._timer: Any = None
            self._queue: FrameQueue | None = None
            self._worker: threading.Thread | None = None
            self._max_queue = 1

        def _params(self) -> dict[str, Any]:
            flat = {name: p.value for name, p in self.get_parameters_by_prefix('').items()}
            return unflatten({k: v for k, v in flat.items() if k != 'use_sim_time'})

        def on_configure(self, state: State) -> TransitionCallbackReturn:
            try:
                self.logic = NodeLogic(self._params())
                self._max_queue = int(self.logic.params['sync']['max_queue'])  # merged over the defaults
                FrameQueue(self._max_queue)  # checks the value before anything is created
            except (OmnifuseError, FileNotFoundError, ValueError) as exc:
                self.get_logger().error(f'configure failed: {exc}')
                self.logic = None
                return TransitionCallbackReturn.FAILURE
            reliable = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
            for topic, msgtype in self.logic.publications():
                self._pubs[topic] = self.create_lifecycle_publisher(_ros_type(msgtype), topic, reliable)
            self.get_logger().info(f'configured: {self.logic.distro} definitions, models {self.logic.core.produces}')
            return TransitionCallbackReturn.SUCCESS

        def on_activate(self, state: State) -> TransitionCallbackReturn:
            if self.logic is None:
                return TransitionCallbackReturn.FAILURE
            latched = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                                 durability=DurabilityPolicy.TRANSIENT_LOCAL)
            tf_qos = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
            # Lifecycle publishers only publish once active: activate them before any frame can complete.
            result = super().on_activate(state)
            self._queue = FrameQueue(self._max_queue)
            self._worker = threading.Thread(target=self._work, args=(self._queue, self.logic),
                                            name='omnifuse-models', daemon=True)
            self._worker.start()
            for sub in self.logic.subscriptions():
                qos = {'latched': latched, 'tf': tf_qos}.get(sub.qos, qos_profile_sensor_data)
                self._subs.append(self.create_subscription(
                    _ros_type(sub.msgtype), sub.topic, self._callback(sub.topic, sub.msgtype), qos, raw=True))
            self._timer = self.create_timer(0.05, self._tick)
            return result

        def on_deactivate(self, state: State) -> TransitionCallbackReturn:
            for sub in self._subs:
                self.destroy_subscription(sub)
            self._subs.clear()
            if self._timer is not None:
                self.destroy_timer(self._timer)
                self._timer = None
            self._stop_worker()
            return super().on_deactivate(state)

        def on_cleanup(self, state: State) -> TransitionCallbackReturn:
            self._stop_worker()
            for pub in self._pubs.values():
                self.destroy_publisher(pub)
            self._pubs.clear()
            self.logic = None
            return TransitionCallbackReturn.SUCCESS

        def on_shutdown(self, state: State) -> TransitionCallbackReturn:
            if self._subs:
                self.on_deactivate(state)
            return self.on_cleanup(state)

        def _stop_worker(self) -> None:
            if self._queue is not None:
                for af in self._queue.close():  # frames never run: still answered, flagged
                    if self.logic is not None:
                        self._publish(self.logic.skip(af, self._now(), 'node deactivated'))
                self._queue = None
            if self._worker is not None:
                self._worker.join(timeout=30.0)
                self._worker = None

        def _now(self) -> int:
            return int(self.get_clock().now().nanoseconds)

        def _callback(self, topic: str, msgtype: str) -> Any:
            def callback(raw: bytes) -> None:
                logic = self.logic
                if logic is not None:
                    self._dispatch(logic, logic.receive(topic, msgtype, raw, self._now()))
            return callback

        def _tick(self) -> None:
            logic = self.logic
            if logic is not None:
                self._dispatch(logic, logic.release(self._now()))

        def _dispatch(self, logic: NodeLogic, frames: list[AssembledFrame]) -> None:
            queue = self._queue
            reason = f'models busy (queue of {self._max_queue} full)' if queue is not None else 'node not active'
            for af in frames:
                for old in (queue.put(af) if queue is not None else [af]):
                    self._publish(logic.skip(old, self._now(), reason))

        def _work(self, queue: FrameQueue, logic: NodeLogic) -> None:
            """Worker thread: run the models on each queued frame, newest kept."""
            while True:
                af = queue.get()
                if af is None:
                    return
                try:
                    self._publish(logic.process(af, self._now()))
                except Exception as exc:  # never let the worker die silently: the frame is still answered
                    self.get_logger().error(f'frame {af.frame.stamp_ns}: {type(exc).__name__}: {exc}')
                    self._publish(logic.skip(af, self._now(), f'{type(exc).__name__}: {exc}'))

        def _publish(self, items: list[tuple[str, bytes]]) -> None:
            for topic, raw in items:
                pub = self._pubs.get(topic)
                if pub is not None:
                    pub.publish(raw)

    return PerceptionNode


def main(argv: Sequence[str] | None = None) -> None:
    """`ros2 run omnifuse perception_node` entry point."""
    try:
        import rclpy
        from rclpy.executors import ExternalShutdownException
    except ImportError:
        raise SystemExit('perception_node needs rclpy from a ROS 2 installation (source /opt/ros/<distro>/setup.bash); '
                         'without ROS use `omnifuse replay`') from None
    rclpy.init(args=list(argv) if argv is not None else None)
    node = _node_class()()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


if __name__ == '__main__':
    main()
