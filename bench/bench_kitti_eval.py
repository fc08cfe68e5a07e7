"""Benchmark: the KITTI evaluation on a KITTI-val-sized synthetic input.

Generates (seeded) 3,769 frames with about 10 ground-truth objects (Car, Pedestrian, Cyclist, Van,
Person_sitting, Truck, DontCare) and about 30 detections per frame (noisy copies of the ground truth plus
false positives), with 2D boxes projected from the 3D boxes through a KITTI-like P2, then times
`evaluate_kitti` for Car, Pedestrian and Cyclist, both overlap sets, all metrics (bbox, bev, 3d, aos).
With --io it also writes the label files to a temporary folder and times the whole
`omnifuse eval kitti` command (parsing included).

    /work/main/.venv/bin/python bench/bench_kitti_eval.py [--frames 3769] [--seed 0] [--repeat 3] [--io]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from omnifuse.evaluation.kitti import evaluate_kitti
from omnifuse.structures.kitti_labels import KittiLabels, write_kitti_label

P2 = np.array([[721.54, 0.0, 609.56, 44.86], [0.0, 721.54, 172.85, 0.22], [0.0, 0.0, 1.0, 0.003]])
IMAGE_W, IMAGE_H = 1242, 375
# class: (probability, mean (h, w, l) [m])
CLASSES = {'Car': (0.62, (1.53, 1.63, 3.88)), 'Pedestrian': (0.14, (1.76, 0.66, 0.84)),
           'Cyclist': (0.06, (1.74, 0.60, 1.76)), 'Van': (0.07, (2.21, 1.90, 5.08)),
           'Person_sitting': (0.02, (1.27, 0.54, 0.80)), 'Truck': (0.04, (3.25, 2.59, 10.1)),
           'DontCare': (0.05, (1.0, 1.0, 1.0))}


def _project(dims: np.ndarray, loc: np.ndarray, ry: np.ndarray) -> np.ndarray:
    """(N, 4) image boxes of KITTI camera boxes (h, w, l; bottom centre; ry), clipped to the image."""
    h, w, length = dims[:, 0:1], dims[:, 1:2], dims[:, 2:3]
    sx = np.array([1, 1, -1, -1, 1, 1, -1, -1]) / 2
    sz = np.array([1, -1, -1, 1, 1, -1, -1, 1]) / 2
    sy = np.array([0, 0, 0, 0, -1, -1, -1, -1])
    x, y, z = length * sx, h * sy, w * sz  # (N, 8) object frame
    c, s = np.cos(ry)[:, None], np.sin(ry)[:, None]
    pts = np.stack([c * x + s * z + loc[:, 0:1], y + loc[:, 1:2], -s * x + c * z + loc[:, 2:3]], -1)
    pts[..., 2] = np.maximum(pts[..., 2], 0.5)
    hom = pts @ P2[:, :3].T + P2[:, 3]
    uv = hom[..., :2] / hom[..., 2:3]
    box = np.concatenate([uv.min(1), uv.max(1)], 1)
    box[:, [0, 2]] = box[:, [0, 2]].clip(0, IMAGE_W - 1)
    box[:, [1, 3]] = box[:, [1, 3]].clip(0, IMAGE_H - 1)
    return box


def _labels(name: np.ndarray, dims: np.ndarray, loc: np.ndarray, ry: np.ndarray, trunc: np.ndarray,
            occ: np.ndarray, score: np.ndarray) -> KittiLabels:
    bbox = _project(dims, loc, ry)
    alpha = ry - np.arctan2(loc[:, 0], loc[:, 2])
    dc = name == 'DontCare'
    dims, loc, ry, alpha = dims.copy(), loc.copy(), ry.copy(), alpha.copy()
    dims[dc], loc[dc], ry[dc], alpha[dc] = -1, -1000, -10, -10
    return KittiLabels(name=name, truncated=trunc, occluded=occ, alpha=alpha, bbox=bbox, dimensions=dims,
                       location=loc, rotation_y=ry, score=score)


def make_dataset(num_frames: int, seed: int, *, gt_per_frame: float = 10.0,
                 det_per_frame: float = 30.0) -> tuple[list[KittiLabels], list[KittiLabels]]:
    """Synthetic ground truth and detections of a KITTI-val-sized split."""
    rng = np.random.default_rng(seed)
    names = np.array(list(CLASSES))
    probs = np.array([p for p, _ in CLASSES.values()])
    mean_dims = {k: np.array(d) for k, (_, d) in CLASSES.items()}
    gts, dets = [], []
    for _ in range(num_frames):
        n = max(1, rng.poisson(gt_per_frame))
        name = rng.choice(names, n, p=probs / probs.sum())
        dims = np.array([mean_dims[c] for c in name]).reshape(n, 3) * rng.normal(1, 0.08, (n, 3))
        loc = np.stack([rng.uniform(-18, 18, n), rng.normal(1.65, 0.1, n), rng.uniform(4, 65, n)], 1)
        ry = rng.uniform(-np.pi, np.pi, n)
        trunc = np.round(rng.choice([0.0, 0.0, 0.0, 0.1, 0.3, 0.6], n), 2)
        occ = rng.choice([0, 0, 1, 1, 2, 3], n)
        gts.append(_labels(name, dims, loc, ry, trunc, occ, np.full(n, np.nan)))
        # Detections: noisy copies of most objects (some twice), then false positives.
        real = np.flatnonzero(name != 'DontCare')
        hit = real[rng.random(len(real)) < 0.85]
        dup = hit[rng.random(len(hit)) < 0.1]
        src = np.concatenate([hit, dup])
        k = len(src)
        d_name = name[src].copy()
        d_name[np.isin(d_name, ['Van', 'Truck'])] = 'Car'
        d_name[d_name == 'Person_sitting'] = 'Pedestrian'
        d_dims = dims[src] * rng.normal(1, 0.03, (k, 3))
        d_loc = loc[src] + rng.normal(0, 1, (k, 3)) * np.array([0.08, 0.04, 0.15])
        d_ry = ry[src] + rng.normal(0, 0.05, k) + np.pi * (rng.random(k) < 0.1)
        d_score = np.clip(rng.beta(5, 2, k), 0.01, 0.999)
        m = max(0, rng.poisson(det_per_frame) - k)
        f_name = rng.choice(['Car', 'Pedestrian', 'Cyclist'], m, p=[0.6, 0.25, 0.15])
        f_dims = np.array([mean_dims[c] for c in f_name]).reshape(m, 3) * rng.normal(1, 0.1, (m, 3))
        f_loc = np.stack([rng.uniform(-20, 20, m), rng.normal(1.65, 0.1, m), rng.uniform(4, 70, m)], 1)
        f_ry = rng.uniform(-np.pi, np.pi, m)
        f_score = np.clip(rng.beta(1.5, 5, m), 0.01, 0.999)
        dets.append(_labels(np.concatenate([d_name, f_name]), np.concatenate([d_dims, f_dims]),
                            np.concatenate([d_loc, f_loc]), np.concatenate([d_ry, f_ry]), np.zeros(k + m),
                            np.zeros(k + m, np.int64), np.concatenate([d_score, f_score])))
    return gts, dets


def main() -> None:
    """Generate the split, time the evaluation, optionally time the command on files."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--frames', type=int, default=3769,
                        help='number of frames (default: 3769, KITTI val)')
    parser.add_argument('--seed', type=int, default=0, help='generator seed (default: 0)')
    parser.add_argument('--repeat', type=int, default=3, help='timed runs; the best is reported (default: 3)')
    parser.add_argument('--io', action='store_true', help='also time `omnifuse eval kitti` on written files')
    args = parser.parse_args()

    t0 = time.perf_counter()
    gts, dets = make_dataset(args.frames, args.seed)
    n_gt, n_dt = sum(len(g) for g in gts), sum(len(d) for d in dets)
    print(f'generated {args.frames} frames, {n_gt} ground-truth objects ({n_gt / args.frames:.1f}/frame), '
          f'{n_dt} detections ({n_dt / args.frames:.1f}/frame) in {time.perf_counter() - t0:.1f} s')
    times, cpu = [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = evaluate_kitti(gts, dets, classes=('Car', 'Pedestrian', 'Cyclist'))
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    print(f'evaluate_kitti (3 classes, strict + loose, bbox/bev/3d/aos): best {min(times):.2f} s wall, '
          f'{min(cpu):.2f} s CPU; runs {", ".join(f"{t:.2f}" for t in times)} s')
    car = result.ap['Car']['strict']
    print(f'sanity: Car strict 3d AP40 = {car["3d"]["AP40"]}, bbox AP40 = {car["bbox"]["AP40"]}')
    if args.io:
        from omnifuse.cli import main as cli_main

        with tempfile.TemporaryDirectory() as tmp:
            gt_dir, pred_dir = Path(tmp, 'gt'), Path(tmp, 'pred')
            gt_dir.mkdir()
            pred_dir.mkdir()
            for i, (g, d) in enumerate(zip(gts, dets, strict=True)):
                write_kitti_label(gt_dir / f'{i:06d}.txt', g, decimals=2)
                write_kitti_label(pred_dir / f'{i:06d}.txt', d)
            t0 = time.perf_counter()
            code = cli_main(['eval', 'kitti', '--gt', str(gt_dir), '--pred', str(pred_dir),
                             '--json', str(Path(tmp, 'ap.json'))])
            print(f'omnifuse eval kitti on {args.frames} label files: {time.perf_counter() - t0:.2f} s '
                  f'(exit {code})')


if __name__ == '__main__':
    main()
