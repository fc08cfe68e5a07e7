"""The ROS 2 perception node: a thin rclpy lifecycle node around the ROS-free core.

All the work happens in `NodeLogic` (no rclpy): serialized input messages in, serialized output
messages out, using the same FrameAssembler / PerceptionCore / OutputWriter as `omnifuse replay`.
The rclpy part only moves bytes: subscriptions are created with `raw=True` and publishers publish
the CDR bytes that rosbags produced, so a robot and a replay run exactly the same code.

Lifecycle:
    configure   read parameters, choose the message definitions (ros_distro or $ROS_DISTRO),
                load the models and the calibration file, create the publishers
    activate    create the subscriptions (sensor-data QoS; /tf_static transient local) and a
                20 Hz timer that releases LiDAR frames whose sensors timed out
    deactivate  drop subscriptions and timer;  cleanup  drop publishers and models

Outputs use reliable keep-last(10) QoS. Besides the perception topics, the node publishes
/diagnostics (processing time, per-sensor freshness, missing sensors, bad input) and
`~/debug/pipeline_latency_ms` (std_msgs/Float64: publish time minus LiDAR stamp).

rclpy is imported only inside this module's functions: it is not on PyPI and comes from the
robot's ROS 2 installation.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from omnifuse.errors import OmnifuseError
from omnifuse.ros_nodes.codec import RosCodec
from omnifuse.ros_nodes.core import PerceptionCore
from omnifuse.ros_nodes.frames import AssembledFrame, FrameAssembler
from omnifuse.ros_nodes.params import DEFAULT_PARAMS, merge, names, unflatten
from omnifuse.ros_nodes.replay import OutputWriter, frame_statuses, run_core

__all__ = ['NodeLogic', 'Subscription', 'choose_distro', 'main', 'LATENCY_TOPIC']

LATENCY_TOPIC = '~/debug/pipeline_latency_ms'
_OUTPUT_TYPES = {'objects': 'vision_msgs/msg/Detection3DArray', 'markers': 'visualization_msgs/msg/MarkerArray',
                 'occupancy': 'nav_msgs/msg/OccupancyGrid', 'segmentation': 'sensor_msgs/msg/Image',
                 'diagnostics': 'diagnostic_msgs/msg/DiagnosticArray'}


@dataclass(frozen=True)
class Subscription:
    """One input: topic, ROS type name and QoS kind ('sensor' or 'latched')."""

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


class NodeLogic:
    """Everything the node does, without rclpy.

    Args:
        params: nested node params (see configs/ros/perception.yaml).
        core: the perception core; built from params when None.
        distro: message definitions; `choose_distro(params)` when None.
    """

    def __init__(self, params: Mapping[str, Any], *, core: PerceptionCore | None = None,
                 distro: str | None = None) -> None:
        self.params = merge(DEFAULT_PARAMS, params)
        self.distro = distro or choose_distro(self.params)
        self.codec = RosCodec(self.distro)
        self.core = core if core is not None else PerceptionCore.from_params(self.params)
        self.assembler = FrameAssembler(self.params, self.codec)
        self.outputs = OutputWriter(self.codec, self.core, self.params['outputs'])
        self.last_stamp: dict[str, int] = {}
        self.processing_ms: list[float] = []

    def subscriptions(self) -> list[Subscription]:
        """Input topics with their types and QoS kinds."""
        roles = self.assembler.roles
        inputs = self.params['inputs']
        subs = [Subscription(roles.lidar, 'sensor_msgs/msg/PointCloud2'),
                Subscription(roles.tf_static, 'tf2_msgs/msg/TFMessage', 'latched')]
        for kind, key in (('camera', 'cameras'), ('thermal', 'thermal')):
            for name in names(inputs.get(key)):
                subs.append(Subscription(roles.topic(kind, name), 'sensor_msgs/msg/Image'))
                subs.append(Subscription(roles.topic(f'{kind}_info', name), 'sensor_msgs/msg/CameraInfo'))
        for name in names(inputs.get('ultrasonic')):
            subs.append(Subscription(roles.topic('ultrasonic', name), 'sensor_msgs/msg/Range'))
        return subs

    def publications(self) -> list[tuple[str, str]]:
        """(topic, type) of every output this node publishes."""
        produced = set(self.core.produces)
        out = []
        for key, msgtype in _OUTPUT_TYPES.items():
            needed = {'objects': 'objects', 'markers': 'objects', 'occupancy': 'occupancy',
                      'segmentation': 'segmentation'}.get(key)
            if needed is None or needed in produced:
                out.append((str(self.params['outputs'][key]), msgtype))
        out.append((LATENCY_TOPIC, 'std_msgs/msg/Float64'))
        return out

    def on_message(self, topic: str, msgtype: str, raw: bytes, now_ns: int) -> list[tuple[str, bytes]]:
        """One serialized input message; returns (topic, serialized output) pairs to publish."""
        frames = self.assembler.feed(topic, msgtype, raw, now_ns)
        role = self.assembler.roles.classify(topic, msgtype)
        if role is not None:
            self.last_stamp[f'{role[0]}/{role[1]}' if role[0] != 'lidar' else 'lidar'] = now_ns
        return self._process(frames, now_ns)

    def on_timer(self, now_ns: int) -> list[tuple[str, bytes]]:
        """Clock tick: frames whose sensors timed out are processed."""
        return self._process(self.assembler.advance(now_ns), now_ns)

    def freshness_ms(self, now_ns: int) -> dict[str, float]:
        """Per input stream, time since its last message [ms]."""
        return {k: (now_ns - t) / 1e6 for k, t in sorted(self.last_stamp.items())}

    def _process(self, frames: Sequence[AssembledFrame], now_ns: int) -> list[tuple[str, bytes]]:
        out: list[tuple[str, bytes]] = []
        for af in frames:
            t0 = time.perf_counter()
            result, error = run_core(self.core, af.frame)
            processing = (time.perf_counter() - t0) * 1e3
            statuses = frame_statuses(af, result, bad=self.assembler.take_new_bad(), model_error=error,
                                      processing_ms=processing)
            for key, age in self.freshness_ms(now_ns).items():
                statuses[0]['values'][f'freshness_ms.{key}'] = f'{age:.1f}'
            for topic, msg in self.outputs.messages(af, result, statuses):
                out.append((topic, self.codec.serialize(msg)))
            latency_ms = (now_ns - af.frame.stamp_ns) / 1e6 + processing
            out.append((LATENCY_TOPIC, self.codec.serialize(self.codec.float64(latency_ms))))
            self.processing_ms.append(processing)
            del self.processing_ms[:-1000]
        return out


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

        def _params(self) -> dict[str, Any]:
            flat = {name: p.value for name, p in self.get_parameters_by_prefix('').items()}
            return unflatten({k: v for k, v in flat.items() if k != 'use_sim_time'})

        def on_configure(self, state: State) -> TransitionCallbackReturn:
            try:
                self.logic = NodeLogic(self._params())
            except (OmnifuseError, FileNotFoundError) as exc:
                self.get_logger().error(f'configure failed: {exc}')
                return TransitionCallbackReturn.FAILURE
            reliable = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
            for topic, msgtype in self.logic.publications():
                self._pubs[topic] = self.create_lifecycle_publisher(_ros_type(msgtype), topic, reliable)
            self.get_logger().info(f'configured: {self.logic.distro} definitions, models {self.logic.core.produces}')
            return TransitionCallbackReturn.SUCCESS

        def on_activate(self, state: State) -> TransitionCallbackReturn:
            assert self.logic is not None
            latched = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                                 durability=DurabilityPolicy.TRANSIENT_LOCAL)
            for sub in self.logic.subscriptions():
                qos = latched if sub.qos == 'latched' else qos_profile_sensor_data
                self._subs.append(self.create_subscription(
                    _ros_type(sub.msgtype), sub.topic, self._callback(sub.topic, sub.msgtype), qos, raw=True))
            self._timer = self.create_timer(0.05, self._tick)
            return super().on_activate(state)

        def on_deactivate(self, state: State) -> TransitionCallbackReturn:
            for sub in self._subs:
                self.destroy_subscription(sub)
            self._subs.clear()
            if self._timer is not None:
                self.destroy_timer(self._timer)
                self._timer = None
            return super().on_deactivate(state)

        def on_cleanup(self, state: State) -> TransitionCallbackReturn:
            for pub in self._pubs.values():
                self.destroy_publisher(pub)
            self._pubs.clear()
            self.logic = None
            return TransitionCallbackReturn.SUCCESS

        def on_shutdown(self, state: State) -> TransitionCallbackReturn:
            if self._subs:
                self.on_deactivate(state)
            return self.on_cleanup(state)

        def _now(self) -> int:
            return int(self.get_clock().now().nanoseconds)

        def _callback(self, topic: str, msgtype: str) -> Any:
            def callback(raw: bytes) -> None:
                if self.logic is not None:
                    self._publish(self.logic.on_message(topic, msgtype, raw, self._now()))
            return callback

        def _tick(self) -> None:
            if self.logic is not None:
                self._publish(self.logic.on_timer(self._now()))

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
