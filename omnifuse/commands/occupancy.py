"""`omnifuse occupancy`: near-field BEV occupancy from ultrasonic sensors and the camera.

`--checkpoint model.onnx` (or an OpenVINO .xml) runs a model exported by `omnifuse export` with ONNX Runtime
(OpenVINO) and no torch; `--backend` forces one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from omnifuse.commands.vocabulary import add_backend, add_drop, add_png_dir, add_split
from omnifuse.defaults import OCCUPANCY
from omnifuse.install_paths import CONFIG_DIR

PATH = ('occupancy',)
HELP = 'predict the near-field BEV occupancy grid (ultrasonic + camera) of simulator-layout frames'



def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `omnifuse occupancy`."""
    parser.add_argument('--kitti-root', required=True,
                        help='simulator output in KITTI layout (needs image_2/, ultrasonic/, calib/)')
    parser.add_argument('--frame', help='one frame id (default: every frame, or those of --split)')
    add_split(parser)
    parser.add_argument('--config', help=f'model config (default: configs/{OCCUPANCY.config.relative_to(CONFIG_DIR)})')
    parser.add_argument('--checkpoint',
                        help=f'weights (default: the shipped omnifuse/checkpoints/{OCCUPANCY.checkpoint.name}), '
                        'or a model exported by `omnifuse export` (.onnx, OpenVINO .xml: runs without torch)')
    add_backend(parser)
    parser.add_argument('--out', help='write one grid PNG per frame here (simulator occupancy format)')
    add_png_dir(parser, 'draw prediction (and truth when known) with the ultrasonic cones and echoes here, '
                'DIR/<id>.png')
    add_drop(parser, ('camera',), old=('--drop-camera',))
    parser.add_argument('--device', default='cpu', help='torch device (default cpu)')


def run(args: argparse.Namespace) -> int:
    """Predict, write and draw."""
    from tqdm import tqdm

    from omnifuse.apis.occupancy import NearFieldOccupancyPredictor
    from omnifuse.datasets.occupancy_dataset import NearFieldOccupancyDataset, groups_to_sim_ids, write_occupancy_png
    from omnifuse.datasets.sim.classes import SEMANTIC_CLASSES
    from omnifuse.deploy.runtime import choose_backend
    from omnifuse.errors import FormatError
    from omnifuse.viz.colors import class_palette
    from omnifuse.viz.occupancy import write_occupancy_picture

    if not (args.out or args.png_dir):
        raise FormatError('nothing to do: give --out PRED_DIR and/or --png-dir DIR')
    config = Path(args.config) if args.config else OCCUPANCY.config
    checkpoint = Path(args.checkpoint) if args.checkpoint else OCCUPANCY.checkpoint
    if choose_backend(checkpoint, args.backend) == 'torch':  # the exported path imports no torch
        from omnifuse.ops.device import resolve_device

        args.device = str(resolve_device(args.device))
    predictor = NearFieldOccupancyPredictor(config=config, checkpoint=checkpoint, device=args.device,
                                            backend=args.backend, num_threads=None)
    dataset = NearFieldOccupancyDataset(args.kitti_root, image_set=args.split, drop_camera='camera' in args.drop,
                                        image_scale=predictor.image_scale, resolution=predictor.grid.resolution,
                                        extent=predictor.grid.extent)
    indices: Sequence[int] = range(len(dataset))
    if args.frame is not None:
        if args.frame not in dataset.reader:
            raise FormatError(f'{args.kitti_root}: no frame {args.frame!r}')
        indices = [dataset.reader.frame_ids.index(args.frame)]
    unused: dict[str, list[str]] = {}
    for index in tqdm(indices, desc='occupancy', unit='frame'):
        item = dataset.sample(index)  # numpy inputs, as the exported and the torch model take them
        frame_id = item['data_samples'].frame_id
        note = item['data_samples'].ultrasonic_note
        if note:
            unused.setdefault(note, []).append(frame_id)
        pred, _ = predictor.predict_inputs(item['inputs'])
        pred_ids = groups_to_sim_ids(pred)
        if args.out:
            write_occupancy_png(Path(args.out) / f'{frame_id}.png', pred_ids)
        if args.png_dir:
            write_occupancy_picture(dataset, frame_id, pred_ids, Path(args.png_dir) / f'{frame_id}.png',
                                    class_palette(SEMANTIC_CLASSES))
    for note, frames in unused.items():
        shown = ', '.join(frames[:5]) + (', ...' if len(frames) > 5 else '')
        print(f'omnifuse occupancy: warning: {note} ({len(frames)} frame(s): {shown})', file=sys.stderr)
    return 0
