"""Benchmark: one simulated frame of all four sensors (LiDAR, camera, thermal, ultrasonic) plus labels.

    .venv/bin/python bench/bench_sim.py [--frames 12] [--conditions day night glare fog]

Prints, per condition and overall, the median and the best wall time of `generate_frame` (scene generation,
all renders, KITTI labels, occupancy), the median CPU time of the process per frame (less sensitive to other
jobs on a shared machine), and a per-stage breakdown. The target is < 0.5 s a frame.
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import numpy as np


def main() -> None:
    """Parse the arguments, time the simulator per condition and per stage, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--frames', type=int, default=12, help='frames per condition (default: 12)')
    parser.add_argument('--conditions', nargs='+', default=['day', 'night', 'glare', 'fog'],
                        help='conditions to time (default: all four)')
    args = parser.parse_args()

    import torch

    torch.set_num_threads(2)
    from omnifuse.datasets.sim.camera import render_camera
    from omnifuse.datasets.sim.generate import generate_frame
    from omnifuse.datasets.sim.labels import occupancy_grid
    from omnifuse.datasets.sim.lidar import render_lidar
    from omnifuse.datasets.sim.rig import default_calibration
    from omnifuse.datasets.sim.thermal import render_thermal
    from omnifuse.datasets.sim.ultrasonic import render_ultrasonic
    from omnifuse.datasets.sim.world import make_scene

    generate_frame(0)  # warm-up: ray grids are built and cached once per process
    all_times, all_cpu, points = [], [], []
    for cond in args.conditions:
        times, cpu = [], []
        for seed in range(100, 100 + args.frames):
            t0, c0 = time.perf_counter(), time.process_time()
            frame = generate_frame(seed, condition=cond)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            points.append(len(frame.points))
        all_times += times
        all_cpu += cpu
        print(f'{cond:6s} wall median {statistics.median(times):.3f} s  best {min(times):.3f} s  '
              f'cpu median {statistics.median(cpu):.3f} s  ({args.frames} frames)')
    print(f'ALL    wall median {statistics.median(all_times):.3f} s  best {min(all_times):.3f} s  '
          f'cpu median {statistics.median(all_cpu):.3f} s  ({len(all_times)} frames); '
          f'LiDAR points per frame: median {int(statistics.median(points))}')

    calib = default_calibration()
    stages: dict[str, list[float]] = {}
    for seed in range(200, 205):
        rng = np.random.default_rng(seed)
        t = time.perf_counter()
        snap = make_scene(seed).at(0.0)
        for name, fn in (('scene', lambda: None),
                         ('lidar', partial(render_lidar, snap, rng)),
                         ('camera', partial(render_camera, snap, calib.cameras['image_2'], rng)),
                         ('thermal', partial(render_thermal, snap, calib.thermal['thermal'], rng)),
                         ('ultrasonic', partial(render_ultrasonic, calib.ultrasonic, snap.parts.boxes, rng)),
                         ('occupancy', partial(occupancy_grid, snap))):
            fn()
            now = time.perf_counter()
            stages.setdefault(name, []).append(now - t)
            t = now
    print('stages (median of 5, day): ' + ', '.join(f'{k} {statistics.median(v) * 1000:.0f} ms'
                                                     for k, v in stages.items()))


if __name__ == '__main__':
    main()
