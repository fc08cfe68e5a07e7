"""A robot's sensors and a listener in one rclpy process, for the tests and the load benchmark.

Publishes LiDAR (+ camera, + thermal) frames as a robot does, with the calibration on /tf_static
(a tf2_ros StaticTransformBroadcaster: transient local) and camera_info, listens to the perception
outputs and writes what it sent and heard as JSON. Stamps are this process's clock at publication,
so `receive time - header stamp` is the end-to-end latency.

    python tests/ros2_driver.py --out result.json [--frames sim|synthetic] [--rate 10] [--count 30]
        [--qos best_effort|reliable] [--no-thermal] [--camera-gap 10:20] [--malformed 15]
        [--jump-back 25] [--settle 20]

Runs only where rclpy is importable (a sourced ROS 2); the frames come from omnifuse itself.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path
from typing import Any

OUTPUTS = {'/perception/objects': 'vision_msgs.msg.Detection3DArray',
           '/diagnostics': 'diagnostic_msgs.msg.DiagnosticArray'}


def _frames(kind: str, n: int) -> list[Any]:
    if kind == 'synthetic':
        from omnifuse.ros_nodes.synthetic import synthetic_frames

        return synthetic_frames(n, seed=4, n_points=4000, n_ultrasonic=0)
    from omnifuse.datasets.sim.generate import iter_sequence
    from omnifuse.ros_nodes.bag_io import ROS_SENSOR_NAMES, rename_sensors

    return [rename_sensors(f, ROS_SENSOR_NAMES) for f in iter_sequence(3, n, condition='day')]


def _cls(path: str) -> Any:
    import importlib

    module, _, name = path.rpartition('.')
    return getattr(importlib.import_module(module), name)


def _parse_span(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    a, b = text.split(':')
    return int(a), int(b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True)
    parser.add_argument('--frames', choices=('sim', 'synthetic'), default='sim')
    parser.add_argument('--distinct', type=int, default=10, help='distinct frames, cycled')
    parser.add_argument('--rate', type=float, default=10.0)
    parser.add_argument('--count', type=int, default=30, help='LiDAR messages to publish')
    parser.add_argument('--qos', choices=('best_effort', 'reliable'), default='best_effort')
    parser.add_argument('--no-thermal', action='store_true')
    parser.add_argument('--camera-gap', default=None, help='I:J: no camera image for LiDAR messages I..J-1')
    parser.add_argument('--malformed', type=int, default=None, help='message I on the LiDAR topic is garbage')
    parser.add_argument('--jump-back', type=int, default=None, help='from message I on, stamps are 30 s older')
    parser.add_argument('--settle', type=float, default=20.0, help='seconds to wait for the last outputs')
    parser.add_argument('--wait-node', type=float, default=120.0, help='seconds to wait for the node to subscribe')
    args = parser.parse_args()

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    from rclpy.serialization import deserialize_message
    from tf2_msgs.msg import TFMessage
    from tf2_ros import StaticTransformBroadcaster

    from omnifuse.ros_nodes.bag_io import calibration_transforms, sensor_frame_ids
    from omnifuse.ros_nodes.codec import RosCodec, stamp_to_ns

    frames = _frames(args.frames, args.distinct)
    codec = RosCodec('jazzy')
    rclpy.init()
    node = rclpy.create_node('omnifuse_test_driver')
    reliability = ReliabilityPolicy.RELIABLE if args.qos == 'reliable' else ReliabilityPolicy.BEST_EFFORT
    qos = QoSProfile(depth=5, history=HistoryPolicy.KEEP_LAST, reliability=reliability,
                     durability=DurabilityPolicy.VOLATILE)
    image_t, info_t, cloud_t = (_cls(f'sensor_msgs.msg.{n}') for n in ('Image', 'CameraInfo', 'PointCloud2'))
    pubs = {'lidar': node.create_publisher(cloud_t, '/sensors/lidar/points', qos)}
    kinds = ['camera'] + ([] if args.no_thermal else ['thermal'])
    for kind in kinds:
        pubs[kind] = node.create_publisher(image_t, f'/sensors/{kind}/front/image_raw', qos)
        pubs[f'{kind}_info'] = node.create_publisher(info_t, f'/sensors/{kind}/front/camera_info', qos)
    heard: dict[str, list[dict[str, Any]]] = {topic: [] for topic in OUTPUTS}
    lock = threading.Lock()

    def listener(topic: str) -> Any:
        def callback(msg: Any) -> None:
            now = node.get_clock().now().nanoseconds
            item: dict[str, Any] = {'stamp_ns': stamp_to_ns(msg.header.stamp), 'recv_ns': now}
            if topic == '/perception/objects':
                item['n'] = len(msg.detections)
            else:
                s = msg.status[0]
                item.update(level=int.from_bytes(s.level, 'little') if isinstance(s.level, bytes) else int(s.level),
                            message=s.message, values={kv.key: kv.value for kv in s.values},
                            inputs=[st.message for st in msg.status[1:]])
            with lock:
                heard[topic].append(item)
        return callback

    reliable = QoSProfile(depth=50, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
    for topic, cls in OUTPUTS.items():
        node.create_subscription(_cls(cls), topic, listener(topic), reliable)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()

    broadcaster = StaticTransformBroadcaster(node)
    first = frames[0]
    tf_raw = codec.serialize(codec.tf_message(calibration_transforms(first, first.stamp_ns)))
    broadcaster.sendTransform(list(deserialize_message(tf_raw, TFMessage).transforms))

    end = time.monotonic() + args.wait_node
    while pubs['lidar'].get_subscription_count() == 0 and time.monotonic() < end:
        time.sleep(0.2)
    time.sleep(1.0)  # let every subscription of the node match
    ids = sensor_frame_ids('lidar')
    gap = _parse_span(args.camera_gap)
    sent: list[int] = []
    period = 1.0 / args.rate
    t_next = time.monotonic()
    for i in range(args.count):
        f = frames[i % len(frames)]
        stamp = node.get_clock().now().nanoseconds
        if args.jump_back is not None and i >= args.jump_back:
            stamp -= 30_000_000_000
        if not (gap and gap[0] <= i < gap[1]):
            for kind in kinds:
                store = f.calib.cameras if kind == 'camera' else f.calib.thermal
                image = f.images['front'] if kind == 'camera' else f.thermal['front']
                fid = ids[kind].format(name='front')
                pubs[f'{kind}_info'].publish(codec.serialize(codec.camera_info(store['front'], stamp, fid)))
                enc = {} if kind == 'camera' else {'encoding': 'mono16'}
                if kind == 'thermal' and image.dtype != 'uint16':
                    image = (image * 100).clip(0, 65535).astype('uint16')
                pubs[kind].publish(codec.serialize(codec.image(image, stamp, fid, **enc)))
        if args.malformed is not None and i == args.malformed:
            pubs['lidar'].publish(b'\x00\x01\x00\x00' + b'\xff' * 37)  # CDR header, then garbage
        else:
            pubs['lidar'].publish(codec.serialize(codec.pointcloud2(f.points[:, :4], stamp, 'lidar')))
        sent.append(stamp)
        t_next += period
        time.sleep(max(0.0, t_next - time.monotonic()))
    want = len(sent)  # a garbage LiDAR message still makes its frame (no points)
    end = time.monotonic() + args.settle
    while time.monotonic() < end:
        with lock:
            if len(heard['/perception/objects']) >= want and len(heard['/diagnostics']) >= want:
                break
        time.sleep(0.2)
    time.sleep(0.5)
    with lock:
        result = {'sent_stamps_ns': sent, 'args': vars(args), **{k.strip('/').replace('/', '_'): v
                                                               for k, v in heard.items()}}
    Path(args.out).write_text(json.dumps(result))
    executor.shutdown()
    spinner.join(10)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == '__main__':
    main()
