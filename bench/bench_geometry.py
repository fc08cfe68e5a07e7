"""Time omnifuse.structures.geometry.box_iou_bev on KITTI-evaluation-shaped input.

Per frame: 30 detections × 10 ground-truth boxes, scattered over the KITTI range
(x 0..70 m, y -40..40 m), with about half the detections near a ground-truth box, as an
evaluation sees them. One `box_iou_bev` call per frame, as the KITTI evaluation makes it.

    .venv/bin/python bench/bench_geometry.py [--frames 3769] [--dets 30] [--gts 10] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from omnifuse.structures.geometry import box_iou_3d, box_iou_bev


def make_frame(rng: np.random.Generator, n_det: int, n_gt: int) -> tuple[np.ndarray, np.ndarray]:
    """Random (n_det, 7) detections and (n_gt, 7) ground-truth car-like boxes, LiDAR frame."""
    def cars(n: int) -> np.ndarray:
        xyz = np.c_[rng.uniform(0, 70, n), rng.uniform(-40, 40, n), rng.uniform(-2, 0, n)]
        size = np.c_[rng.uniform(3.5, 4.8, n), rng.uniform(1.5, 1.9, n), rng.uniform(1.4, 1.7, n)]
        return np.c_[xyz, size, rng.uniform(-np.pi, np.pi, n)]
    gt = cars(n_gt)
    det = cars(n_det)
    near = rng.random(n_det) < 0.5
    pick = rng.integers(0, n_gt, n_det)
    det[near] = gt[pick[near]] + rng.normal(0, [0.5, 0.5, 0.2, 0.2, 0.1, 0.1, 0.2], (int(near.sum()), 7))
    return det, gt


def main() -> None:
    """Run the benchmark and print the timings."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--frames', type=int, default=3769, help='frames (KITTI val has 3769)')
    parser.add_argument('--dets', type=int, default=30, help='detections per frame')
    parser.add_argument('--gts', type=int, default=10, help='ground-truth boxes per frame')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    frames = [make_frame(rng, args.dets, args.gts) for _ in range(args.frames)]
    for name, fn in (('box_iou_bev', box_iou_bev), ('box_iou_3d', box_iou_3d)):
        fn(*frames[0])  # warm up
        t0 = time.perf_counter()
        overlapping = 0
        for det, gt in frames:
            overlapping += int((fn(det, gt) > 0).sum())
        dt = time.perf_counter() - t0
        print(f'{name}: {args.frames} frames x ({args.dets} x {args.gts}) in {dt:.3f} s '
              f'({1e3 * dt / args.frames:.3f} ms/frame, {overlapping} overlapping pairs)')


if __name__ == '__main__':
    main()
