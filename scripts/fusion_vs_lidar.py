"""Does the camera help or hurt on real images? One detector run twice on every frame of a KITTI-layout root:
fusing the camera, and with the camera dropped (its LiDAR-only path), then compared.

Prints, per run: detections a frame (score >= --score-thr, in the camera's view); where the root has labels,
each labelled Car / Pedestrian / Cyclist (any class name in --classes) with the best 3D IoU reached by a detection
of its class and that detection's score; and the two runs against each other (detections of the same class
within 1 m: the mean score change; detections only one run makes). Labels are read for scoring only.

    .venv/bin/python scripts/fusion_vs_lidar.py --root ../shared/data/kitti/training/..
    .venv/bin/python scripts/fusion_vs_lidar.py --root ../shared/data/kitti_real/highway_2011_09_26
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from omnifuse.apis.detection import Detector, load_detector  # noqa: E402
from omnifuse.datasets.kitti import KittiReader  # noqa: E402
from omnifuse.structures.geometry import box_iou_3d  # noqa: E402

RUNS = ('fused', 'lidar')


def in_view(boxes: np.ndarray, frame: object, camera: str) -> np.ndarray:
    """(K,) bool: the box centre projects into the camera image, in front of it."""
    cam = frame.calib.cameras[camera]  # type: ignore[attr-defined]
    img = frame.images.get(camera)  # type: ignore[attr-defined]
    if img is not None:
        cam = dataclasses.replace(cam, width=img.shape[1], height=img.shape[0])
    uv, depth = cam.project(boxes)
    return cam.in_image(uv, depth)


def main() -> int:
    """Run both paths on every frame and print the comparison; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--root', required=True, help='KITTI-layout root with image_2 images')
    parser.add_argument('--checkpoint', default=None, help='detector (default: the shipped default fusion model)')
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--classes', default='Car,Pedestrian,Cyclist')
    parser.add_argument('--json', default=None, help='write the figures here')
    args = parser.parse_args()
    reader = KittiReader(args.root, split='training')
    model, cfg, _ = load_detector(None, args.checkpoint)
    det = Detector(model, cfg, main_camera='image_2')
    classes = args.classes.split(',')
    per_run: dict[str, dict[str, list]] = {r: {'count': [], 'best_iou': [], 'best_score': []} for r in RUNS}
    score_delta, only = [], {r: 0 for r in RUNS}
    n_labels = 0
    for fid in reader.frame_ids:
        frame = reader.read(fid)
        if 'image_2' not in frame.images:
            raise SystemExit(f'{args.root}: frame {fid} has no image_2 image (this compares camera fusion)')
        out = {}
        for run in RUNS:
            boxes, scores, labels = det(frame, use_camera=run == 'fused', score_threshold=args.score_thr).numpy()
            view = in_view(boxes, frame, 'image_2')
            out[run] = (boxes[view], scores[view], np.array([det.class_names[i] for i in labels[view]]))
            per_run[run]['count'].append(int(view.sum()))
        if frame.labels is not None:
            gt_boxes, gt_names = frame.labels.boxes.data, list(frame.labels.names)
            for b, name in zip(gt_boxes, gt_names, strict=True):
                if name not in classes:
                    continue
                n_labels += 1
                for run in RUNS:
                    boxes, scores, names = out[run]
                    same = names == name
                    iou = box_iou_3d(b[None], boxes[same])[0] if same.any() else np.zeros(0)
                    j = int(np.argmax(iou)) if len(iou) else -1
                    per_run[run]['best_iou'].append(float(iou[j]) if j >= 0 else 0.0)
                    per_run[run]['best_score'].append(float(scores[same][j]) if j >= 0 and iou[j] > 0 else 0.0)
        (fb, fs, fn), (lb, ls, ln) = out['fused'], out['lidar']
        used = np.zeros(len(lb), bool)
        for b, s, n in zip(fb, fs, fn, strict=True):
            d = np.hypot(*(lb[:, :2] - b[:2]).T) if len(lb) else np.zeros(0)
            cand = np.where((ln == n) & ~used & (d < 1.0))[0]
            if len(cand):
                k = cand[np.argmin(d[cand])]
                used[k] = True
                score_delta.append(float(s - ls[k]))
            else:
                only['fused'] += 1
        only['lidar'] += int((~used).sum())
    frames = len(reader.frame_ids)
    result = {'frames': frames, 'score_thr': args.score_thr, 'labelled_objects': n_labels,
              'matched_pairs': len(score_delta),
              'mean_score_change_fused_minus_lidar': float(np.mean(score_delta)) if score_delta else 0.0,
              'only': only}
    print(f'{args.root}: {frames} frame(s), score >= {args.score_thr}, detections in the camera view')
    for run in RUNS:
        r = per_run[run]
        result[run] = {'detections_per_frame': float(np.mean(r['count'])),
                       'best_iou': r['best_iou'], 'best_score': r['best_score']}
        line = f'  {run:5s}: {np.mean(r["count"]):.1f} detections a frame'
        if r['best_iou']:
            line += (f'; labelled objects: best 3D IoU {", ".join(f"{v:.2f}" for v in r["best_iou"])}'
                     f' (scores {", ".join(f"{v:.2f}" for v in r["best_score"])})')
        print(line)
    print(f'  the same detection in both runs: {len(score_delta)}, score fused - LiDAR-only '
          f'{result["mean_score_change_fused_minus_lidar"]:+.3f} on average; only fused: {only["fused"]}, '
          f'only LiDAR-only: {only["lidar"]}')
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
