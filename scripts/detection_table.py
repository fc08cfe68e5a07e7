"""Markdown tables of KITTI-protocol 3D AP|R40 (moderate) per class, by condition and by range.

Usage:
    python scripts/detection_table.py --root data/sim_val NAME=PRED_DIR [NAME=PRED_DIR ...]
        [--split ImageSets/trainval.txt] [--json OUT] [--png OUT.png] [--condition-ranges night,fog]

ROOT is a simulator KITTI-layout folder (training/label_2 and training/meta/<id>.json with the
condition); each PRED_DIR holds one 16-column label file per frame, as `omnifuse test --out` writes.
Conditions select frames by their meta file and use the official protocol. Ranges are the ground
distance of the object from the camera (0-30, 30-50, 50+ m), scored with
`evaluate_kitti(..., distance_range=..., height_limit=False)`: moderate occlusion and truncation limits
but no 25 px minimum height, which no object beyond ~43 m meets in a 375-px-high image.
Each cell is "AP (number of objects scored)"; NAME=DIR1,DIR2 (one folder per seed) gives the mean AP of the
runs. `--png` also draws one bar chart per class (groups: the slices, bars: the models).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from omnifuse.datasets.kitti import read_frame_meta
from omnifuse.evaluation.kitti import evaluate_kitti
from omnifuse.structures.kitti_labels import KittiLabels, read_kitti_label

CLASSES = ('Car', 'Pedestrian', 'Cyclist')
CONDITIONS = ('day', 'night', 'fog', 'glare')
RANGES = {'0-30 m': (0.0, 30.0), '30-50 m': (30.0, 50.0), '50+ m': (50.0, 1e9)}


def _moderate_3d(gts: list[KittiLabels], preds: list[KittiLabels],
                 distance_range: tuple[float, float] | None = None) -> dict[str, float]:
    """3D AP|R40 moderate per class, and the number of objects scored ('n_<class>')."""
    height_limit = distance_range is None
    res = evaluate_kitti(gts, preds, classes=CLASSES, distance_range=distance_range, height_limit=height_limit)
    out = {c: float(res.ap[c]['strict']['3d']['AP40'][1]) for c in CLASSES}
    for c in CLASSES:
        n = 0
        for g in gts:
            ok = ((g.name == c) & (g.occluded <= 1) & (g.truncated <= 0.3)
                  & ((g.bbox[:, 3] - g.bbox[:, 1] > 25) if height_limit else True))
            if distance_range is not None:
                d = np.hypot(g.location[:, 0], g.location[:, 2])
                ok &= (d >= distance_range[0]) & (d < distance_range[1])
            n += int(ok.sum())
        out[f'n_{c}'] = n
    return out


def breakdown(root: Path, pred_dir: Path, ids: list[str], condition_ranges: tuple[str, ...] = ()
              ) -> dict[str, dict[str, float]]:
    """{slice name: {class: 3D AP|R40 moderate}} for all frames, each condition and each range, and each range
    within each of `condition_ranges` ('night, 30-50 m')."""
    gts = [read_kitti_label(root / 'training' / 'label_2' / f'{i}.txt') for i in ids]
    preds = []
    missing = 0
    for i in ids:
        path = pred_dir / f'{i}.txt'
        preds.append(read_kitti_label(path, require_score=True) if path.is_file() else KittiLabels.empty())
        missing += not path.is_file()
    if missing:  # `omnifuse test --out` writes a file for every frame, even without detections
        print(f'warning: {pred_dir}: {missing} of {len(ids)} frames have no prediction file (scored as no '
              'detections); is that run finished?', file=sys.stderr)
    cond = [read_frame_meta(root / 'training' / 'meta' / f'{i}.json')['condition'] for i in ids]
    out = {'all': _moderate_3d(gts, preds)}
    for c in CONDITIONS:
        pick = [k for k, ck in enumerate(cond) if ck == c]
        if pick:
            out[f'{c} ({len(pick)} frames)'] = _moderate_3d([gts[k] for k in pick], [preds[k] for k in pick])
    for name, rng in RANGES.items():
        out[name] = _moderate_3d(gts, preds, rng)
    for c in condition_ranges:
        pick = [k for k, ck in enumerate(cond) if ck == c]
        for name, rng in RANGES.items():
            out[f'{c}, {name}'] = _moderate_3d([gts[k] for k in pick], [preds[k] for k in pick], rng)
    return out


def mean_of_runs(runs: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """The per-slice, per-class mean AP of several runs (seeds) scored on the same frames."""
    return {sl: {k: (float(np.mean([r[sl][k] for r in runs])) if k in CLASSES else v) for k, v in cells.items()}
            for sl, cells in runs[0].items()}


def main() -> None:
    """Parse the arguments, score every model folder and print the table (and the charts)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--root', required=True, type=Path, help='simulator KITTI-layout folder (ground truth)')
    parser.add_argument('--split', default='ImageSets/trainval.txt', help='frame list, relative to --root')
    parser.add_argument('--json', type=Path, default=None, help='also write every figure as JSON here')
    parser.add_argument('--png', type=Path, default=None, help='also draw the table as bar charts, one per class')
    parser.add_argument('--condition-ranges', default='', metavar='COND[,COND]',
                        help='also break these conditions down by range, e.g. night,fog (rows "night, 30-50 m")')
    parser.add_argument('preds', nargs='+', metavar='NAME=PRED_DIR[,PRED_DIR...]',
                        help='a model and its predictions; several folders (e.g. seeds) give their mean AP')
    args = parser.parse_args()
    condition_ranges = tuple(c for c in args.condition_ranges.split(',') if c)
    for c in condition_ranges:
        if c not in CONDITIONS:
            parser.error(f'--condition-ranges: unknown condition {c!r}; choose from {", ".join(CONDITIONS)}')
    if args.png:
        from omnifuse.viz.charts import SERIES_COLORS
        if len(args.preds) > len(SERIES_COLORS):
            parser.error(f'--png draws at most {len(SERIES_COLORS)} models per chart, got {len(args.preds)}: '
                         'make the picture from fewer NAME=PRED_DIR arguments')
    ids = [line.strip() for line in (args.root / args.split).read_text().splitlines() if line.strip()]
    table = {}
    for item in args.preds:
        name, _, folder = item.partition('=')
        if not folder:
            parser.error(f'{item!r}: expected NAME=PRED_DIR')
        runs = [breakdown(args.root, Path(f), ids, condition_ranges) for f in folder.split(',')]
        table[name] = mean_of_runs(runs)
    print('| model | slice | Car | Pedestrian | Cyclist |')
    print('|---|---|---|---|---|')
    for name, rows in table.items():
        for sl, ap in rows.items():
            print(f'| {name} | {sl} | ' + ' | '.join(f"{ap[c]:.1f} ({ap['n_' + c]})" for c in CLASSES) + ' |')
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(table, indent=2) + '\n')
    if args.png:
        write_charts(table, args.png)


def write_charts(table: dict[str, dict[str, dict[str, float]]], path: Path) -> None:
    """One grouped bar chart per class (groups: slices, bars: models), stacked into one PNG."""
    import cv2

    from omnifuse.viz import grouped_bar_chart, stack_vertically

    slices = list(next(iter(table.values())))
    charts = []
    for c in CLASSES:
        values = {sl.split(' (')[0]: {name: rows[sl][c] for name, rows in table.items() if sl in rows}
                  for sl in slices}
        charts.append(grouped_bar_chart(values, title=f'{c}: 3D AP|R40 moderate (%)'))
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(stack_vertically(charts), cv2.COLOR_RGB2BGR)):
        raise OSError(f'could not write {path}')
    print(f'wrote {path}')


if __name__ == '__main__':
    main()
