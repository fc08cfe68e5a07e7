"""Replay overhead beyond the model: decode, sync, encode, copy and write, per LiDAR frame.

Input per frame: a 120k-point cloud (float32 x y z intensity), one 640x480 rgb8 camera (+ camera_info)
and 12 ultrasonic Range topics, at 10 Hz, in an MCAP bag. The models are the default params' (shipped
detector, segmenter and occupancy); their time is measured separately and subtracted
(`overhead = wall - model`).
A short warm-up replay runs first so rosbags' generated (de)serialisers are compiled. The overhead
is measured over the message loop (the one-off bag open/close, mostly metadata YAML, is reported
separately in the whole-call figure); the CPU figure (process time minus the model's thread time)
is less sensitive to other jobs on this shared machine than the wall figure.

    .venv/bin/python bench/bench_replay.py [--frames 40] [--storage mcap] [--distro humble]

Target: < 15 ms per frame.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from omnifuse.ros_nodes.bag_io import write_frames_to_bag
from omnifuse.ros_nodes.replay import replay_bag
from omnifuse.ros_nodes.synthetic import synthetic_frames


def make_frames(n: int, seed: int = 0) -> list:
    """n frames of 120k points + a 640x480 camera + 12 ultrasonic ranges (thermal removed)."""
    # synthetic_frames adds n_points // 10 points per object (3 objects): 92310 -> 120003, cut to 120000
    frames = synthetic_frames(n, seed=seed, n_points=92_310, image_size=(640, 480), n_ultrasonic=12)
    for f in frames:
        f.points = f.points[:120_000]
        f.thermal.clear()
        f.calib.thermal.clear()
        f.stamps_ns.pop('thermal/front', None)
        assert len(f.points) == 120_000, len(f.points)
    return frames


def main() -> None:
    """Parse the arguments, write the input bag, replay it and print the timings."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--frames', type=int, default=40, help='LiDAR frames in the bag (default: 40)')
    parser.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap', help='output storage')
    parser.add_argument('--distro', choices=('humble', 'jazzy'), default='humble', help='message definitions')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_frames_to_bag(make_frames(3, seed=1), root / 'warm', distro=args.distro)
        replay_bag(root / 'warm', root / 'warm_out', progress=False, storage=args.storage)
        t0 = time.perf_counter()
        write_frames_to_bag(make_frames(args.frames), root / 'in', distro=args.distro)
        t_write = time.perf_counter() - t0
        t0 = time.perf_counter()
        summary = replay_bag(root / 'in', root / 'out', progress=False, storage=args.storage)
        t_total = (time.perf_counter() - t0) / args.frames * 1e3
        size = sum(p.stat().st_size for p in (root / 'out').iterdir()) / 1e6
    print(f'machine: {platform.processor() or platform.machine()}, python {platform.python_version()}, '
          f'numpy {np.__version__}')
    print(f'input: {args.frames} frames x (120000 points + 640x480 rgb8 + 12 ranges), {args.distro}, '
          f'output {args.storage} ({size:.0f} MB); '
          f'writing the input bag took {t_write / args.frames * 1e3:.1f} ms/frame')
    print(summary.format())
    with open('/proc/loadavg') as f:
        load = f.read().split()[0]
    print(f'RESULT replay overhead beyond the model: {summary.overhead_ms_per_frame:.2f} ms/frame wall, '
          f'{summary.overhead_cpu_ms_per_frame:.2f} ms/frame CPU (target < 15 ms); models '
          f'{summary.model_ms_per_frame:.1f} ms/frame; whole replay call incl. opening/closing the bags '
          f'{t_total:.1f} ms/frame; load average {load} on {os.cpu_count()} cores')


if __name__ == '__main__':
    main()
