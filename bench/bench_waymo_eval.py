"""Time the Waymo detection metrics (`omnifuse eval waymo`) on a synthetic validation-sized set.

Usage:
    python bench/bench_waymo_eval.py [--frames 4000] [--boxes 50] [--seed 0]

Each frame has `--boxes` ground-truth boxes (all four types, 0-75 m away) and `--boxes` predictions:
most are jittered copies of ground truth (some with a duplicate, so the matcher sees many-to-one
components), the rest false positives near other boxes or anywhere. Prints the wall time of the
whole evaluation (candidate pairs, exact rotated 3D IoU, matching at 101 score cut-offs, AP / APH for
the 4 types and 12 range shards at both levels) and a few resulting numbers.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from omnifuse.evaluation.waymo import TYPES, WaymoObjects, evaluate_waymo

SIZES = {'VEHICLE': (4.5, 2.0, 1.7), 'PEDESTRIAN': (0.8, 0.8, 1.8), 'CYCLIST': (1.8, 0.7, 1.7),
         'SIGN': (0.3, 0.6, 0.8)}


def synthetic(frames: int, boxes: int, seed: int) -> tuple[WaymoObjects, WaymoObjects]:
    """Ground truth and predictions, (frames * boxes) each."""
    rng = np.random.default_rng(seed)
    n = frames * boxes
    frame = np.repeat(np.arange(frames), boxes).astype(str)
    types = rng.choice(len(TYPES), size=n, p=[0.5, 0.3, 0.1, 0.1])
    dims = np.array([SIZES[t] for t in TYPES])[types] * rng.uniform(0.85, 1.15, (n, 3))
    dist, ang = rng.uniform(2, 75, n), rng.uniform(-np.pi, np.pi, n)
    centre = np.stack([dist * np.cos(ang), dist * np.sin(ang), rng.uniform(-1, 1, n)], 1)
    gt_boxes = np.concatenate([centre, dims, rng.uniform(-np.pi, np.pi, (n, 1))], 1)
    gt = WaymoObjects.create(frame, types, gt_boxes, num_points=rng.integers(0, 400, n))

    # 0: jittered GT, 1: duplicate of the previous box, 2: false positive
    kind = rng.choice(3, size=n, p=[0.75, 0.1, 0.15])
    pred_boxes = gt_boxes.copy()
    pred_boxes[:, :3] += rng.normal(0, 0.04, (n, 3)) * dims
    pred_boxes[:, 3:6] *= rng.uniform(0.95, 1.05, (n, 3))
    pred_boxes[:, 6] += rng.normal(0, 0.05, n) + np.where(rng.uniform(size=n) < 0.05, np.pi, 0)
    dup = np.nonzero(kind == 1)[0]
    dup = dup[dup % boxes > 0]
    pred_boxes[dup] = pred_boxes[dup - 1] + np.r_[rng.normal(0, 0.05, 3), 0, 0, 0, 0]
    types_pred = types.copy()
    types_pred[dup] = types[dup - 1]
    fp = kind == 2
    pred_boxes[fp, :2] += rng.normal(0, 3, (int(fp.sum()), 2))
    scores = np.where(kind == 0, rng.beta(5, 2, n), rng.beta(2, 5, n)).astype(np.float32)
    pred = WaymoObjects.create(frame, types_pred, pred_boxes, scores=scores)
    return gt, pred


def main() -> None:
    """Generate the set, evaluate it once and print the time."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--frames', type=int, default=4000, help='number of frames (default: 4000)')
    parser.add_argument('--boxes', type=int, default=50,
                        help='GT boxes and predictions per frame (default: 50)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default: 0)')
    args = parser.parse_args()
    gt, pred = synthetic(args.frames, args.boxes, args.seed)
    start = time.perf_counter()
    result = evaluate_waymo(gt, pred)
    elapsed = time.perf_counter() - start
    print(f'{args.frames} frames x {args.boxes} boxes ({len(gt)} GT, {len(pred)} predictions): '
          f'{elapsed:.2f} s')
    vehicle = result['VEHICLE']['LEVEL_2']
    print(f"VEHICLE L2 AP {vehicle['AP']:.4f} APH {vehicle['APH']:.4f}; mAPH_L2 {result['mAPH_L2']:.4f}")


if __name__ == '__main__':
    main()
