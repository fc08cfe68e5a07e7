"""`omnifuse demo`: the main job on the built-in default data, writing its pictures.

Each step runs an ordinary `omnifuse` subcommand, so the demo shows exactly what a user would type.
The default data is the simulator's; the real KITTI samples in ../shared/data are used in addition when
they are there (users do not have them: the demo then says so and carries on).
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import time
from pathlib import Path

PATH = ('demo',)
HELP = 'run the main pipeline on built-in simulated data and write its pictures to --out'

SHARED_KITTI = Path(__file__).resolve().parents[2].parent / 'shared' / 'data' / 'kitti'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `omnifuse demo`."""
    parser.add_argument('--out', default='demo_out', help='output folder for data, predictions and pictures '
                        '(default: demo_out)')
    parser.add_argument('--frames', type=int, default=4, help='number of simulated frames (default: 4)')
    parser.add_argument('--seed', type=int, default=7, help='seed of the simulated world (default: 7)')
    parser.add_argument('--shared-kitti', default=str(SHARED_KITTI),
                        help='real KITTI samples to inspect as well, when the folder exists '
                        f'(default: {SHARED_KITTI})')


def _available(command: str) -> bool:
    return importlib.util.find_spec(f'omnifuse.commands.{command}') is not None


def _step(title: str, argv: list[str]) -> None:
    from omnifuse.cli import main

    print(f'\n== {title}\n$ omnifuse {shlex.join(argv)}', flush=True)
    start = time.perf_counter()
    code = main(argv)
    if code != 0:
        raise SystemExit(f'omnifuse demo: step "{title}" failed with exit code {code}')
    print(f'   ({time.perf_counter() - start:.1f} s)', flush=True)


def run(args: argparse.Namespace) -> int:
    """Run every demo step whose command is available."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pictures: list[Path] = []

    sim_root = out / 'sim'
    if _available('sim'):
        sheet = out / 'sim_contact_sheet.png'
        _step('simulate a multi-sensor scene (LiDAR, camera, thermal, ultrasonic)',
              ['sim', '--out', str(sim_root), '--frames', str(args.frames), '--seed', str(args.seed),
               '--condition', 'mixed', '--azimuth-step', '0.18', '--png', str(sheet)])
        pictures.append(sheet)
        if _available('inspect'):
            png = out / 'inspect_sim_000000.png'
            _step('inspect one simulated frame', ['inspect', 'kitti', '--root', str(sim_root), '--frame', '000000',
                                                  '--png', str(png)])
            pictures.append(png)

    from omnifuse.defaults import DETECTION, DETECTION_16BEAM_THERMAL, OCCUPANCY, SEGMENTATION

    if _available('detect') and _available('sim') and DETECTION.checkpoint.is_file():
        _step('detect 3D objects with the shipped LiDAR + camera model',
              ['detect', '--kitti-root', str(sim_root), '--out', str(out / 'det_pred'),
               '--png-dir', str(out / 'det_png')])
        _step('score the detections with the KITTI protocol',
              ['eval', 'kitti', '--gt', str(sim_root / 'training' / 'label_2'), '--pred', str(out / 'det_pred'),
               '--json', str(out / 'det_eval.json')])
        pictures.extend(sorted((out / 'det_png').glob('*.png')))
        if _available('export') and importlib.util.find_spec('onnxruntime') is not None:
            _step('export the shipped detector to ONNX (sparse convolutions as gathers; runs without PyTorch)',
                  ['export', '--out', str(out / 'det_onnx' / 'det.onnx')])
            _step('detect with the exported detector (ONNX Runtime, no torch): the same boxes',
                  ['detect', '--kitti-root', str(sim_root), '--checkpoint', str(out / 'det_onnx' / 'det.onnx'),
                   '--out', str(out / 'det_onnx_pred'), '--png-dir', str(out / 'det_onnx_png'), '--frame', '000000'])
            pictures.append(out / 'det_onnx_png' / '000000.png')
        thermal16 = DETECTION_16BEAM_THERMAL
        if thermal16.is_file():
            _step('detect with the shipped 16-beam LiDAR + camera + thermal model (the scan thinned to every 4th beam)',
                  ['detect', '--kitti-root', str(sim_root), '--checkpoint', str(thermal16),
                   '--out', str(out / 'det16_pred'), '--png-dir', str(out / 'det16_png')])
            pictures.extend(sorted((out / 'det16_png').glob('*.png')))
        seq_root = out / 'sim_sequence'
        _step('simulate a short sequence (8 frames at 10 Hz; every object keeps its id: KITTI tracking '
              'ground truth in label_02)',
              ['sim', '--out', str(seq_root), '--frames', '8', '--sequence-length', '8', '--seed',
               str(args.seed + 200), '--azimuth-step', '0.36'])
        _step('detect and track: ids, velocities over ground (the ego pose from the simulator), KITTI tracking '
              'results; the strip shows track ids, velocity arrows and trails',
              ['detect', '--kitti-root', str(seq_root), '--track', '--out', str(out / 'track_pred'),
               '--png-dir', str(out / 'track_png')])
        if _available('eval_tracking'):
            _step('score the tracks with the KITTI 3D MOT protocol',
                  ['eval', 'tracking', '--gt', str(seq_root / 'training' / 'label_02'),
                   '--pred', str(out / 'track_pred' / 'tracking'), '--json', str(out / 'track_eval.json')])
        pictures.append(out / 'track_png' / 'tracks_0000.png')

    shared = Path(args.shared_kitti)
    if _available('inspect'):
        if (shared / 'training' / 'velodyne').is_dir():
            for frame in ('000000', '000002'):
                png = out / f'inspect_kitti_{frame}.png'
                _step(f'inspect real KITTI frame {frame} (from {shared})',
                      ['inspect', 'kitti', '--root', str(shared), '--frame', frame, '--png', str(png)])
                pictures.append(png)
        else:
            print(f'\nnote: the real KITTI samples are not at {shared}; inspecting simulated data only.')
    real_seq = shared.parent / 'kitti_real' / 'seq0000_val'
    if _available('detect') and (real_seq / 'training' / 'velodyne').is_dir():
        frames = ['--frame', '000000', '--frame', '000040', '--frame', '000076']
        _step('detect on real KITTI scans (sequence 0000, no images: LiDAR only; the shipped model levels each scan '
              'on its ground first); predictions green, labels red',
              ['detect', '--kitti-root', str(real_seq), *frames, '--score-thr', '0.3',
               '--out', str(out / 'real_pred'),
               '--png-dir', str(out / 'real_png')])
        pictures.extend(sorted((out / 'real_png').glob('*.png')))
    highway = shared.parent / 'kitti_real' / 'highway_2011_09_26'
    if _available('detect') and (highway / 'training' / 'image_2').is_dir():
        _step('detect on a real KITTI highway jam, camera + LiDAR fused (no labels: pictures only)',
              ['detect', '--kitti-root', str(highway), '--frame', '000036', '--score-thr', '0.3',
               '--png-dir', str(out / 'highway_png')])
        pictures.extend(sorted((out / 'highway_png').glob('*.png')))

    park = out / 'sim_parking_night'
    wants_night = (_available('occupancy') and OCCUPANCY.checkpoint.is_file()) or (
        _available('segment') and SEGMENTATION.checkpoint.is_file())
    if wants_night:
        _step('simulate a night-time parking scene', ['sim', '--out', str(park), '--frames', '2', '--seed',
                                                      str(args.seed + 100), '--scenario', 'parking',
                                                      '--condition', 'night', '--azimuth-step', '0.36'])
    if _available('segment') and SEGMENTATION.checkpoint.is_file():
        _step('RGB + thermal segmentation at night (CMX)',
              ['segment', '--kitti-root', str(park), '--out', str(out / 'seg_pred'), '--png-dir',
               str(out / 'seg_png')])
        _step('score it against the simulator\'s masks',
              ['eval', 'seg', '--gt', str(park / 'training' / 'semantic_2'), '--pred', str(out / 'seg_pred'),
               '--json', str(out / 'seg_eval.json')])
        pictures.extend(sorted((out / 'seg_png').glob('*.png')))
    if _available('occupancy') and OCCUPANCY.checkpoint.is_file():
        _step('near-field occupancy from ultrasonic + camera at night',
              ['occupancy', '--kitti-root', str(park), '--out', str(out / 'occupancy_pred'),
               '--png-dir', str(out / 'occupancy_png')])
        _step('score it against the simulator\'s grid (within 5 m)',
              ['eval', 'occupancy', '--gt', str(park / 'training' / 'occupancy'),
               '--pred', str(out / 'occupancy_pred'), '--json', str(out / 'occupancy_eval.json')])
        pictures.extend(sorted((out / 'occupancy_png').glob('*.png')))

    replayed: Path | None = None
    if _available('replay'):
        import shutil

        bag = out / 'sim_bag'
        replayed = out / 'replayed_bag'
        if (bag / 'metadata.yaml').is_file():  # `sim --format bag` only creates new bags: a rerun starts afresh
            shutil.rmtree(bag)
        _step('record the simulated sensors as a ROS 2 bag (MCAP; cameras named "front" as on the robot)',
              ['sim', '--out', str(bag), '--frames', '5', '--seed', str(args.seed), '--format', 'bag',
               '--azimuth-step', '0.18'])
        _step('replay it through perception without ROS (shipped detector, RGB-thermal segmenter, occupancy; '
              'configs/ros/perception.yaml)', ['replay', str(bag), str(replayed), '--force'])

    print('\nDemo finished. Pictures:')
    for png in pictures:
        state = 'ok' if png.exists() else 'MISSING'
        print(f'  {png}  [{state}]')
    if replayed is not None:
        from omnifuse.ros_nodes.replay import foxglove_hint

        print(f'\nReplayed ROS 2 bag: {replayed}\n' + foxglove_hint(replayed))
    missing = [p for p in pictures if not p.exists()]
    return 1 if missing or not pictures else 0
