"""`omnifuse eval tracking`: KITTI 3D MOT (AB3DMOT's sAMOTA / CLEAR MOT) and HOTA (TrackEval) from result files."""

from __future__ import annotations

import argparse
from pathlib import Path

from omnifuse.commands.vocabulary import add_json, text_stream, write_json

PATH = ('eval', 'tracking')
HELP = 'KITTI tracking: sAMOTA, AMOTA, AMOTP, MOTA, MOTP, IDS, FRAG, FP, FN (3D IoU) and HOTA, DetA, AssA, LocA (2D)'

EPILOG = """\
input: --gt, a KITTI tracking label folder (label_02: <seq>.txt, one per sequence), and --pred, a folder of
  result files with the same names, one object per line (KITTI tracking devkit format):
    frame track_id type truncated occluded alpha x1 y1 x2 y2 h w l x y z ry score
  (rectified camera frame, (x, y, z) the bottom centre; 18 columns, or 17 where the score is taken as -1).
  All classes of a sequence are in one file. Rows with track id -1 are skipped; DontCare rows, ids below -1
  and an id twice in one frame of a class are refused.

protocol: docs/tracking.md, "Evaluation protocol".
  3D MOT (car, pedestrian, cyclist): AB3DMOT's scripts/KITTI/evaluate.py - Hungarian matching per frame on
  3D IoU >= --iou; ignored ground truth (occluded > 2, truncated > 0, Van for car) and ignored predictions
  (unmatched Van for car, 2D height <= 25 px, > 50 % inside DontCare); tracks scored by their mean score;
  sAMOTA/AMOTA/AMOTP averaged over 40 recall thresholds, MOTA/MOTP/IDS/FRAG/FP/FN at the best-MOTA threshold.
  HOTA (car, pedestrian): TrackEval's Kitti2DBox + HOTA on the 2D boxes, mean over alpha 0.05..0.95.

output: a table, and with --json FILE a file (percentages; counts as integers; HOTA keys for car and pedestrian;
  with --json - this JSON alone on stdout, the table and notes on stderr):
  {"car": {"sAMOTA", "AMOTA", "AMOTP", "MOTA", "MOTP", "IDS", "FRAG", "FP", "FN", "HOTA", "DetA", "AssA", "LocA"},
   "pedestrian": {...}, "cyclist": {... without the HOTA keys}}
  (MOTA is null where no ground truth is left after the ignore rules: AB3DMOT's -inf)

examples:
  omnifuse eval tracking --gt ../shared/data/kitti_tracking/training/label_02 --pred results/data --seqs val
  omnifuse eval tracking --gt label_02 --pred results/data --seqs 1,6,8 --iou 0.5 --classes car --json out.json
"""

# AB3DMOT's KITTI split (AB3DMOT_libs/utils.py, get_subfolder_seq).
SPLITS = {'val': (1, 6, 8, 10, 12, 13, 14, 15, 16, 18, 19), 'train': (0, 2, 3, 4, 5, 7, 9, 11, 17, 20)}
CLASSES = ('car', 'pedestrian', 'cyclist')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `omnifuse eval tracking`."""
    parser.epilog = EPILOG
    parser.add_argument('--gt', required=True, metavar='DIR', help='ground-truth folder (KITTI label_02: <seq>.txt)')
    parser.add_argument('--pred', required=True, metavar='DIR',
                        help='tracking results: <seq>.txt per sequence, KITTI tracking format with a score')
    parser.add_argument('--seqs', default=None, metavar='LIST',
                        help='sequences to score: comma-separated numbers (1,6,8 or 0001,0006), "val" '
                        '(AB3DMOT: 1,6,8,10,12,13,14,15,16,18,19) or "train" (0,2,3,4,5,7,9,11,17,20); '
                        'default: every <seq>.txt in --pred')
    parser.add_argument('--iou', type=float, default=0.25, metavar='T',
                        help='3D IoU a match needs for the MOT metrics (AB3DMOT reports 0.25, 0.5, 0.7; default 0.25)')
    parser.add_argument('--classes', default=','.join(CLASSES), metavar='LIST',
                        help='comma-separated classes from car, pedestrian, cyclist (default: all three)')
    add_json(parser, 'also write the numbers as JSON to FILE, shaped as "output" below')


def _sequences(spec: str | None, pred_dir: Path) -> list[str]:
    from omnifuse.errors import FormatError

    if spec is None:
        names = sorted(p.stem for p in pred_dir.glob('*.txt'))
        if not names:
            raise FormatError(f'{pred_dir}: no result files (<seq>.txt)')
        return names
    if spec.strip().lower() in SPLITS:
        return [f'{s:04d}' for s in SPLITS[spec.strip().lower()]]
    out = []
    for tok in spec.split(','):
        tok = tok.strip()
        if not tok:
            continue
        if not tok.isdigit():
            raise FormatError(f'--seqs: {tok!r} is not a sequence number (e.g. 1,6,8 or 0001), "val" or "train"')
        out.append(f'{int(tok):04d}')
    if not out:
        raise FormatError('--seqs: no sequence given')
    return list(dict.fromkeys(out))


def _classes(spec: str) -> list[str]:
    from omnifuse.errors import FormatError

    out = [c.strip().lower() for c in spec.split(',') if c.strip()]
    bad = [c for c in out if c not in CLASSES]
    if not out or bad:
        raise FormatError(f'--classes: unknown class {bad[0] if bad else "(none given)"!r}; '
                          f'choose from {", ".join(CLASSES)}')
    return list(dict.fromkeys(out))


def run(args: argparse.Namespace) -> int:
    """Check the options, evaluate (omnifuse.evaluation.tracking_report), print the table and optionally write the
    JSON."""
    from omnifuse.errors import FormatError
    from omnifuse.evaluation.tracking_report import evaluate_tracking_folders
    from omnifuse.evaluation.tracking_table import format_tracking_table

    gt_dir, pred_dir = Path(args.gt), Path(args.pred)
    for folder, what in ((gt_dir, 'ground-truth label_02 folder'), (pred_dir, 'folder of tracking results')):
        if not folder.is_dir():
            raise NotADirectoryError(20, f'not a {what}', str(folder))
    if not 0 < args.iou <= 1:
        raise FormatError(f'--iou: a 3D IoU threshold in (0, 1] is needed, got {args.iou}')
    classes = _classes(args.classes)
    seqs = _sequences(args.seqs, pred_dir)
    report = evaluate_tracking_folders(gt_dir, pred_dir, classes=classes, seqs=seqs, min_overlap=args.iou)
    text = text_stream(args.json)
    print(f'sequences: {", ".join(seqs)}; 3D IoU >= {args.iou:g} for the MOT metrics\n', file=text)
    print(format_tracking_table(report.scores), end='', file=text)
    if report.notes:
        print('\n' + '\n'.join(report.notes), file=text)
    if args.json:
        out = write_json(args.json, report.json_doc())
        if out is not None:
            print(f'wrote {out}', file=text)
    return 0
