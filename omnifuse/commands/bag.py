"""`omnifuse bag`: write the frames of a KITTI-layout dataset as a ROS 2 bag (the robot's input topics)."""

from __future__ import annotations

import argparse
from pathlib import Path

from omnifuse.commands.vocabulary import add_subdir

__all__ = ['PATH', 'HELP', 'add_arguments', 'run']

PATH = ('bag',)
HELP = 'write KITTI-layout frames (real or simulated) as a ROS 2 bag of the input topics, for ros2 bag play'

_EPILOG = """The bag holds what a robot publishes (docs/ros.md): /tf_static from the calibration,
/sensors/lidar/points, and per camera image_raw + camera_info (KITTI's image_2 becomes 'front').
Frames without a stamp (KITTI) are stamped 10 Hz apart, in frame-id order.

examples:
  omnifuse bag --kitti-root ../shared/data/kitti_real/highway_2011_09_26 --out highway.bag --distro jazzy
  omnifuse bag --kitti-root ../shared/data/kitti --out kitti.bag --storage sqlite3 --frames 000000,000002
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `omnifuse bag`."""
    parser.epilog = _EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument('--kitti-root', required=True, metavar='DIR',
                        help='dataset root holding <subdir>/velodyne (+ calib, image_2, thermal, ultrasonic)')
    add_subdir(parser)
    parser.add_argument('--frames', default=None, metavar='ID,ID,...',
                        help='frame ids to write, in this order (default: every frame of velodyne/)')
    parser.add_argument('--out', required=True, metavar='BAG', help='bag directory to create (must not exist)')
    parser.add_argument('--distro', choices=('humble', 'jazzy'), default='jazzy',
                        help='message definitions (default: jazzy)')
    parser.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap', help='bag storage (default: mcap)')
    parser.add_argument('--compressed', action='store_true',
                        help='camera images as sensor_msgs/CompressedImage (png) on .../image_raw/compressed')


def run(args: argparse.Namespace) -> int:
    """Read the frames, write the bag, print what it holds."""
    from tqdm import tqdm

    from omnifuse.datasets.kitti import KittiReader
    from omnifuse.errors import OmnifuseError
    from omnifuse.ros_nodes.bag_io import write_frames_to_bag

    out = Path(args.out)
    if out.exists():
        raise OmnifuseError(f'{out}: exists already; omnifuse bag creates a new bag directory')
    reader = KittiReader(args.kitti_root, args.subdir)
    ids = list(reader.frame_ids)
    if args.frames:
        wanted = [f.strip() for f in args.frames.split(',') if f.strip()]
        unknown = [f for f in wanted if f not in reader]
        if unknown:
            raise OmnifuseError(f'--frames: {", ".join(unknown)} not in {reader.data_dir}/velodyne')
        ids = wanted
    if not ids:
        raise OmnifuseError(f'{reader.data_dir}/velodyne: no frames to write')
    frames = (reader.read(f) for f in tqdm(ids, desc='bag', unit='frame'))
    counts = write_frames_to_bag(frames, out, distro=args.distro, storage=args.storage, compressed=args.compressed)
    print(f'wrote {len(ids)} frames as a ROS 2 {args.distro} bag ({args.storage}) to {out}: '
          + ', '.join(f'{topic} {n}' for topic, n in sorted(counts.items())))
    return 0
