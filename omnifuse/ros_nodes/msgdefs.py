"""ROS 2 message type stores for Humble and Jazzy, with vision_msgs registered from .msg text.

rosbags ships the core ROS 2 interfaces of each distribution (sensor_msgs, nav_msgs,
visualization_msgs, diagnostic_msgs, tf2_msgs, ...) but not vision_msgs. Its definitions live as
plain .msg files next to this module (`msg/`) and are registered into each store at first use.

vision_msgs is released as 4.x in both Humble and Jazzy and the five messages omnifuse publishes
(ObjectHypothesis, ObjectHypothesisWithPose, BoundingBox3D, Detection3D, Detection3DArray) have the
same fields in both, so one set of .msg files serves both distributions. What does differ between
the distributions in the messages omnifuse uses is sensor_msgs/Range (Jazzy added `variance`);
that comes with rosbags' own stores.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from omnifuse.errors import OmnifuseError

__all__ = ['DISTROS', 'MSG_DIR', 'VISION_MSGS', 'typestore_for', 'check_distro']

DISTROS = ('humble', 'jazzy')
MSG_DIR = Path(__file__).with_name('msg')
# Registration order does not matter to rosbags, but keep dependencies first for readability.
VISION_MSGS = ('ObjectHypothesis', 'ObjectHypothesisWithPose', 'BoundingBox3D', 'Detection3D',
               'Detection3DArray')
_STORES = {'humble': Stores.ROS2_HUMBLE, 'jazzy': Stores.ROS2_JAZZY}


def check_distro(distro: str) -> str:
    """Return `distro` lower-cased, or raise OmnifuseError naming the supported ones."""
    name = str(distro).strip().lower()
    if name not in _STORES:
        raise OmnifuseError(f'unsupported ROS 2 distribution {distro!r}; expected one of {list(DISTROS)}')
    return name


@cache
def typestore_for(distro: str) -> Typestore:
    """The rosbags type store of `distro` ('humble' or 'jazzy') with vision_msgs registered.

    The store is built once per distribution and shared (it is not modified afterwards).
    """
    store = get_typestore(_STORES[check_distro(distro)])
    types: dict = {}
    for name in VISION_MSGS:
        path = MSG_DIR / f'{name}.msg'
        if not path.is_file():
            raise OmnifuseError(f'{path}: vision_msgs definition missing from the omnifuse install')
        types.update(get_types_from_msg(path.read_text(), f'vision_msgs/msg/{name}'))
    store.register(types)
    return store
