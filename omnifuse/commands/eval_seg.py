"""`omnifuse eval seg`: per-class IoU and mIoU of label PNGs against ground-truth label PNGs."""

from __future__ import annotations

import argparse
from pathlib import Path

from omnifuse.commands.vocabulary import add_json, deprecated_alias, text_stream, write_json

PATH = ('eval', 'seg')
HELP = 'score predicted label PNGs against ground-truth label PNGs (per-class IoU, mIoU)'

KNOWN_CLASS_LISTS = ('sim', 'pst900', 'mfnet', 'auto')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `omnifuse eval seg`."""
    parser.add_argument('--gt', required=True, metavar='DIR',
                        help='folder of ground-truth label PNGs (one 8/16-bit class-id image per frame), '
                        'e.g. SIM_ROOT/semantic_2')
    parser.add_argument('--pred', required=True, metavar='DIR',
                        help='folder of predicted label PNGs with the same file names (omnifuse segment --out)')
    add_json(parser, 'also write the scores as JSON to FILE: {"miou": 0..1, "per_class_iou": {class: iou or '
             'null}, "pixel_accuracy", "num_images", ...}')
    parser.add_argument('--ignore-index', type=int, default=255,
                        help='ground-truth id that is not scored; -1 scores every pixel (default: 255)')
    parser.add_argument('--classes', default='sim',
                        help='class names in id order: "sim" (the simulator\'s classes), "pst900", "mfnet", '
                        '"auto" (class_0.. up to the largest id seen), a comma-separated list, or a text file '
                        'with one name a line (default: sim)')
    parser.add_argument('--split', metavar='FILE', help='score only the frames listed in FILE (one id, i.e. '
                        'label file name without .png, a line; e.g. a KITTI ImageSets/*.txt)')
    deprecated_alias(parser, '--image-set', dest='split', use='--split FILE', metavar='FILE')
    parser.add_argument('--condition', metavar='NAME', help='score only the frames whose meta/<id>.json (in the '
                        'folder beside --gt, as the simulator writes it) has "condition": NAME, e.g. day or night')


def resolve_classes(spec: str) -> tuple[str, ...] | None:
    """Class names from the --classes option (None for 'auto')."""
    from omnifuse.errors import FormatError

    key = spec.strip().lower()
    if key == 'auto':
        return None
    if key == 'sim':
        from omnifuse.datasets.sim.classes import SEMANTIC_CLASSES
        return tuple(SEMANTIC_CLASSES)
    if key in ('pst900', 'mfnet'):
        from omnifuse.datasets.rgbt import MFNET_CLASSES, PST900_CLASSES
        return PST900_CLASSES if key == 'pst900' else MFNET_CLASSES
    path = Path(spec)
    if path.is_file():
        names = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    elif ',' in spec:
        names = tuple(n.strip() for n in spec.split(','))
    else:
        raise FormatError(f'--classes {spec!r}: not one of {KNOWN_CLASS_LISTS}, not a comma-separated list and '
                          'not an existing file')
    if not names or any(not n for n in names):
        raise FormatError(f'--classes {spec!r}: empty class name')
    return names


def run(args: argparse.Namespace) -> int:
    """Score the prediction folder, print a table, optionally write JSON."""
    from omnifuse.datasets.frame_selection import select_frames
    from omnifuse.evaluation.segmentation import evaluate_label_dirs, format_table
    from omnifuse.evaluation.unscored import extra_files_note, extra_prediction_files

    classes = resolve_classes(args.classes)
    ignore = None if args.ignore_index < 0 else args.ignore_index
    stems = select_frames(args.gt, image_set=args.split, condition=args.condition)
    scores = evaluate_label_dirs(args.gt, args.pred, class_names=classes, ignore_index=ignore, stems=stems,
                                 progress=True)
    text = text_stream(args.json)
    print(format_table(scores), file=text)
    print(f'{scores["num_images"]} images, {scores["num_pixels"]} scored pixels', file=text)
    scored = stems if stems is not None else [p.stem for p in Path(args.gt).glob('*.png')]
    extra = extra_prediction_files(args.pred, scored, '.png')
    if extra:
        print(extra_files_note(extra), file=text)
    if args.json:
        record = dict(scores, classes=list(scores['per_class_iou']), ignore_index=ignore,  # type: ignore[call-overload]
                      gt=str(args.gt), pred=str(args.pred), image_set=args.split, condition=args.condition,
                      ignored={'prediction_files_without_ground_truth': extra})
        out = write_json(args.json, record, indent=1)
        if out is not None:
            print(f'wrote {out}', file=text)
    return 0
