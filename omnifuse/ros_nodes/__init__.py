"""ROS 2 layer: a ROS-free core (codec, sync, bag I/O, replay) and a thin rclpy node.

    codec.py     ROS 2 messages <-> omnifuse structures (rosbags types, Humble and Jazzy)
    msgdefs.py   type stores per distribution, vision_msgs registered from msg/*.msg
    sync.py      LiDAR-driven synchronisation of the other sensors
    frames.py    serialized input messages -> synchronised SensorFrames (+ calibration from TF)
    core.py      PerceptionCore: injected detector / segmenter / occupancy models
    cluster.py   ClusterDetector, the geometric fallback detector
    bag_io.py    write SensorFrames to a bag, read frames back, detect the distribution
    replay.py    bag in -> bag with perception outputs out (`omnifuse replay`)
    node.py      the rclpy lifecycle node (rclpy imported only there)
    params.py    the node parameters (configs/ros/perception.yaml)

Names are imported lazily so that `import omnifuse.ros_nodes` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ['RosCodec', 'SensorSync', 'SensorSyncSpec', 'FrameAssembler', 'PerceptionCore', 'ClusterDetector',
           'write_frames_to_bag', 'read_bag_frames', 'replay_bag', 'load_params']

_WHERE = {'RosCodec': 'codec', 'SensorSync': 'sync', 'SensorSyncSpec': 'sync', 'FrameAssembler': 'frames',
          'PerceptionCore': 'core', 'ClusterDetector': 'cluster', 'write_frames_to_bag': 'bag_io',
          'read_bag_frames': 'bag_io', 'replay_bag': 'replay', 'load_params': 'params'}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f'omnifuse.ros_nodes.{_WHERE[name]}'), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
