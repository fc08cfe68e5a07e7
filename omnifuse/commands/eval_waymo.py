"""`omnifuse eval waymo`: Waymo Open Dataset 3D detection AP / APH, offline and without TensorFlow."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable

from omnifuse.commands.vocabulary import add_json, text_stream, write_json

PATH = ('eval', 'waymo')
HELP = 'Waymo 3D detection AP/APH (LEVEL_1/LEVEL_2, by type and range) from JSON Lines or .bin files'

EPILOG = """\
input files (--gt, --pred): JSON Lines, one box per line, empty lines ignored:
  {"frame": "<context>_<timestamp>", "type": "VEHICLE" | "PEDESTRIAN" | "CYCLIST" | "SIGN",
   "box": [cx, cy, cz, length, width, height, heading],   (vehicle/LiDAR frame, geometric centre, m, rad)
   "score": 0.87,                        (required in --pred)
   "num_lidar_points_in_box": 42,        (--gt, optional: 0 drops the box; <= 5 points makes it LEVEL_2)
   "difficulty": 1 | 2}                  (--gt, optional: overrides the level from the point count)
  A file ending in .bin is read as a serialized waymo.open_dataset.Objects proto (the official metrics
  input), with no protobuf or TensorFlow installed.

definitions (official Waymo metrics): Hungarian matching per frame on 7-DoF 3D IoU >= 0.7 (VEHICLE) or
  0.5 (others) at score cut-offs 0.00..1.00; a matched prediction is a TP at both levels, an unmatched
  ground truth is a FN at LEVEL_1 only if it is LEVEL_1; APH weights TPs by 1 - |dheading|/pi. Range
  shards use the 3D distance of the box centre: [0, 30), [30, 50), [50, +inf) m.

output: a table (AP/APH in %), and with --json FILE a file (with --json - this JSON alone on stdout, the
  table on stderr)
  {"VEHICLE": {"LEVEL_1": {"AP": 0.71, "APH": 0.70}, "LEVEL_2": {...}}, "PEDESTRIAN": ..., "CYCLIST": ...,
   "SIGN": ..., "mAP_L1", "mAPH_L1", "mAP_L2", "mAPH_L2": ...,
   "ranges": {"VEHICLE": {"[0, 30)": {"LEVEL_1": {...}, "LEVEL_2": {...}}, ...}, ...},
   "counts": {"frames": F, "predictions": P, "ground_truth": {"VEHICLE": {"LEVEL_1": n, ...}, ...}}}
  with AP/APH in [0, 1]. A type or range shard without ground truth at a level gets AP = APH = null
  (shown as '-'). mAPH_L2 (the leaderboard's number) averages VEHICLE, PEDESTRIAN and CYCLIST over those
  with ground truth (null if none has any); SIGN is not in the means.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `omnifuse eval waymo`."""
    parser.epilog = EPILOG
    parser.add_argument('--gt', required=True, metavar='FILE',
                        help='ground-truth boxes: JSON Lines (format below) or an Objects .bin file')
    parser.add_argument('--pred', required=True, metavar='FILE',
                        help='predicted boxes with scores: JSON Lines (format below) or an Objects .bin file')
    add_json(parser, 'also write the metrics as JSON to FILE, shaped as "output" below')


def run(args: argparse.Namespace) -> int:
    """Read both files, evaluate, print the table and optionally write the JSON."""
    from tqdm import tqdm

    from omnifuse.evaluation.waymo import evaluate_waymo, format_waymo_table, read_waymo_objects

    def lines(name: str) -> Callable[[Iterable[str]], tqdm]:
        return lambda f: tqdm(f, desc=f'reading {name}', unit=' boxes', leave=False)

    gt = read_waymo_objects(args.gt, predictions=False, progress=lines(args.gt))
    pred = read_waymo_objects(args.pred, predictions=True, progress=lines(args.pred))
    result = evaluate_waymo(gt, pred, progress=lambda chunks: tqdm(chunks, desc='3D IoU of candidate pairs',
                                                                   unit='chunk', leave=False))
    text = text_stream(args.json)
    print(format_waymo_table(result), file=text)
    if args.json:
        out = write_json(args.json, result)
        if out is not None:
            print(f'wrote {out}', file=text)
    return 0
