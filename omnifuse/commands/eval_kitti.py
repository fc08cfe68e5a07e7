"""`omnifuse eval kitti`: KITTI 3D object detection AP with the official protocol, on a CPU."""

from __future__ import annotations

import argparse
from pathlib import Path

from omnifuse.commands.vocabulary import add_json, text_stream, write_json

PATH = ('eval', 'kitti')
HELP = 'KITTI 3D detection AP|R11 and AP|R40 (bbox, bev, 3d, aos; easy/moderate/hard) from label files'

EPILOG = """\
input (--gt, --pred): folders of KITTI label text files, one per frame (000123.txt), one object per line:
  type truncated occluded alpha x1 y1 x2 y2 h w l x y z ry [score]
  (rectified camera frame, (x, y, z) the bottom centre; 15 columns in ground truth, 16 in predictions).
  A frame without a prediction file has no detections; a listed frame without a ground-truth file is
  an error. DontCare rows of the ground truth mark regions where unmatched 2D detections are not counted.

protocol (official KITTI devkit): difficulties easy / moderate / hard = 2D box taller than 40 / 25 / 25 px,
  occlusion <= 0 / 1 / 2, truncation <= 0.15 / 0.30 / 0.50; Van is ignored for Car and Person_sitting for
  Pedestrian; a detection matches when overlap > the minimum: "strict" 0.7 (Car) / 0.5 (Pedestrian,
  Cyclist) for bbox, bev and 3d; "loose" keeps bbox and uses 0.5 / 0.25 for bev and 3d. 41 score
  thresholds from the matched scores; AP|R11 averages precision at recall 0, 0.1, ..., 1, AP|R40 at
  1/40, ..., 1. aos is the orientation similarity of the 2D matches.

output: the table, and with --json FILE a file (values in percent, lists are [easy, moderate, hard]; with
  --json - this JSON alone on stdout, the table and notes on stderr):
  {"Car": {"strict": {"bbox": {"AP11": [..], "AP40": [..]}, "bev": {..}, "3d": {..}, "aos": {..}},
           "loose": {..}}, "Pedestrian": {..}, "Cyclist": {..},
   "ignored": {"frames_without_prediction": n, "prediction_files_without_ground_truth": [ids],
               "prediction_classes_not_scored": {name: n}, "classes_without_ground_truth": [names]}}
  Ground truth with no object of the scored classes at all is refused (exit 2): there is nothing to score.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `omnifuse eval kitti`."""
    parser.epilog = EPILOG
    parser.add_argument('--gt', required=True, metavar='DIR',
                        help='folder of ground-truth label files (KITTI label_2 layout, 15 columns)')
    parser.add_argument('--pred', required=True, metavar='DIR',
                        help='folder of prediction label files (16 columns, the last one the score); '
                        'a missing file means no detections for that frame')
    parser.add_argument('--split', metavar='FILE', default=None,
                        help='text file listing the frame ids to evaluate, one per line '
                        '(e.g. ImageSets/val.txt); default: every *.txt in --gt')
    parser.add_argument('--classes', default='Car,Pedestrian,Cyclist', metavar='LIST',
                        help='comma-separated classes to score, from Car, Pedestrian, Cyclist, Van, '
                        'Person_sitting (default: Car,Pedestrian,Cyclist)')
    parser.add_argument('--range', nargs=2, type=float, metavar=('LO', 'HI'), default=None, dest='distance_range',
                        help='score only objects whose ground distance from the camera, sqrt(x^2 + z^2) of '
                        'the label location, is in [LO, HI) metres (ground truth and detections outside are '
                        'ignored, not counted as misses or false positives); not part of the official protocol')
    parser.add_argument('--no-height-limit', action='store_true',
                        help='do not apply the difficulties\' minimum 2D box height (40/25/25 px): with --range '
                        'beyond ~43 m no object is 25 px tall in a KITTI image, so far ranges need this '
                        '(occlusion and truncation limits still apply); not part of the official protocol')
    add_json(parser, 'also write the AP values as JSON to FILE, shaped as "output" below')


def run(args: argparse.Namespace) -> int:
    """Read the label files, evaluate, print the table and optionally write the JSON."""
    from tqdm import tqdm

    from omnifuse.datasets.frame_selection import label_frame_ids
    from omnifuse.errors import FormatError
    from omnifuse.evaluation.kitti import CLASS_MIN_OVERLAPS, evaluate_kitti
    from omnifuse.evaluation.unscored import extra_files_note, extra_prediction_files
    from omnifuse.structures.kitti_labels import KittiLabels, read_kitti_label

    classes = [c.strip() for c in args.classes.split(',') if c.strip()]
    unknown = [c for c in classes if c not in CLASS_MIN_OVERLAPS]
    if not classes or unknown:
        wrong = repr(unknown[0]) if unknown else '(none given)'
        raise FormatError(f'--classes: unknown class {wrong}; choose from {", ".join(CLASS_MIN_OVERLAPS)}')
    gt_dir, pred_dir = Path(args.gt), Path(args.pred)
    if not pred_dir.is_dir():
        raise NotADirectoryError(20, 'not a folder of prediction label files', str(pred_dir))
    ids = label_frame_ids(gt_dir, image_set=args.split, suffix='.txt')
    gts, preds = [], []
    missing_pred = 0
    for frame in tqdm(ids, desc='reading labels', unit='frame', leave=False):
        gt_path = gt_dir / f'{frame}.txt'
        if not gt_path.is_file():
            raise FileNotFoundError(2, f'ground-truth label file of frame {frame!r} is missing', str(gt_path))
        gts.append(read_kitti_label(gt_path))
        pred_path = pred_dir / f'{frame}.txt'
        if pred_path.is_file():
            preds.append(read_kitti_label(pred_path, require_score=True))
        else:
            preds.append(KittiLabels.empty())
            missing_pred += 1
    # What the protocol cannot score is said, not silently dropped.
    extra_files = extra_prediction_files(pred_dir, ids, '.txt')
    gt_counts = {c: sum(int(sum(n == c for n in g.name)) for g in gts) for c in classes}
    if not any(gt_counts.values()):
        raise FormatError(f'{gt_dir}: no object of {", ".join(classes)} in the ground truth of the {len(ids)} '
                          'frame(s) (only DontCare or other classes): there is nothing to score')
    ignored_classes: dict[str, int] = {}
    for pred in preds:
        for name in pred.name:
            if name not in classes:
                ignored_classes[str(name)] = ignored_classes.get(str(name), 0) + 1
    result = evaluate_kitti(gts, preds, classes=classes, distance_range=args.distance_range,
                            height_limit=not args.no_height_limit, progress=True)
    text = text_stream(args.json)
    print(result.table(), end='', file=text)
    notes = []
    if missing_pred:
        notes.append(f'{missing_pred} of {len(ids)} frames have no prediction file (scored as no detections).')
    extra_note = extra_files_note(extra_files)
    if extra_note is not None:
        notes.append(extra_note)
    if ignored_classes:
        notes.append('predictions of classes not scored ignored: '
                     + ', '.join(f'{n} {k}' for n, k in sorted(ignored_classes.items())) + '.')
    empty = [c for c, n in gt_counts.items() if n == 0]
    if empty:
        notes.append(f'no ground-truth object of {", ".join(empty)}: its AP is 0 by definition, not a measurement.')
    if notes:
        print('\n' + '\n'.join(notes), file=text)
    if args.json:
        doc: dict[str, object] = dict(result.to_dict())
        doc['ignored'] = {'frames_without_prediction': missing_pred,
                          'prediction_files_without_ground_truth': extra_files,
                          'prediction_classes_not_scored': ignored_classes,
                          'classes_without_ground_truth': empty}
        out = write_json(args.json, doc)
        if out is not None:
            print(f'wrote {out}', file=text)
    return 0
