"""`omnifuse eval occupancy`: score predicted near-field occupancy grids against the simulator's."""

from __future__ import annotations

import argparse
from pathlib import Path

from omnifuse.commands.vocabulary import add_json, text_stream, write_json

PATH = ('eval', 'occupancy')
HELP = 'score BEV occupancy grids (PNG of simulator class ids): occupied IoU and per-class IoU'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `omnifuse eval occupancy`."""
    parser.add_argument('--gt', required=True, help='folder of true grids, e.g. SIM_DIR/training/occupancy')
    parser.add_argument('--pred', required=True, help='folder of predicted grids with the same file names')
    parser.add_argument('--max-range', type=float, default=5.0,
                        help='score cells within this distance [m] of the LiDAR origin (default 5; 0 = all)')
    parser.add_argument('--split', metavar='FILE', help='score only the frame ids listed in this file (an ImageSets '
                        'file, e.g. the night frames); default: every grid of --gt')
    add_json(parser, 'also write {"occupied_iou", "miou", "per_class_iou", "ignored"} as JSON to FILE')
    parser.epilog = ('Classes are grouped as free (road, sidewalk, terrain), vehicle (car, van, truck), '
                     'pedestrian, cyclist and static (building, pole, vegetation); sky and unknown (255) '
                     'cells are not scored. A true grid without a prediction file is an error.')


def run(args: argparse.Namespace) -> int:
    """Score every grid of --gt."""
    import math

    from tqdm import tqdm

    from omnifuse.datasets.occupancy_dataset import GROUP_OF_SIM_ID, OCCUPANCY_GROUPS, read_occupancy_png
    from omnifuse.errors import FormatError
    from omnifuse.evaluation.occupancy_iou import OccupancyScores
    from omnifuse.evaluation.unscored import extra_files_note, extra_prediction_files
    from omnifuse.structures.bev_grid import BEVGrid

    if args.max_range is not None and not (args.max_range >= 0 and math.isfinite(args.max_range)):
        raise FormatError(f'--max-range must be a distance >= 0 in metres (0 = the whole grid), got {args.max_range}')
    gt_dir, pred_dir = Path(args.gt), Path(args.pred)
    for folder in (gt_dir, pred_dir):
        if not folder.is_dir():
            raise FileNotFoundError(2, 'No such folder', str(folder))
    gt_files = sorted(gt_dir.glob('*.png'))
    if args.split:
        from omnifuse.datasets.kitti import read_image_set

        wanted = read_image_set(args.split)
        missing = sorted(set(wanted) - {p.stem for p in gt_files})
        if missing:
            raise FormatError(f'{args.split}: frame {missing[0]} has no true grid in {gt_dir}')
        gt_files = [gt_dir / f'{frame}.png' for frame in wanted]
    if not gt_files:
        raise FormatError(f'{gt_dir}: no .png occupancy grids found')
    grid = BEVGrid(0.1, 10.0)
    scores = OccupancyScores(GROUP_OF_SIM_ID, OCCUPANCY_GROUPS, grid, args.max_range or None)
    for gt_path in tqdm(gt_files, desc='eval occupancy', unit='grid', leave=False):
        pred_path = pred_dir / gt_path.name
        if not pred_path.is_file():
            raise FormatError(f'{pred_path}: missing prediction for {gt_path}')
        scores.add(read_occupancy_png(gt_path, grid), read_occupancy_png(pred_path, grid))
    result = scores.result()
    within = f'within {args.max_range:g} m' if args.max_range else 'whole grid'
    text = text_stream(args.json)
    print(f'Near-field occupancy, {len(gt_files)} grids, {within}', file=text)
    print(f'  occupied IoU  {result["occupied_iou"]:.4f}', file=text)
    print(f'  mIoU          {result["miou"]:.4f}', file=text)
    for name, iou in result['per_class_iou'].items():
        print(f'  {name:<12}  {iou:.4f}', file=text)
    extra = extra_prediction_files(pred_dir, [p.stem for p in gt_files], '.png')
    if extra:
        print(extra_files_note(extra), file=text)
    if args.json:
        write_json(args.json, dict(result, ignored={'prediction_files_without_ground_truth': extra}))
    return 0
