"""`omnifuse detect`: run a 3D detector on a KITTI-layout folder (or Waymo's KITTI format) and write results.

KITTI layout (real KITTI or the simulator's output; thermal is used when the layout has it): one KITTI
label file per frame (16 columns, with score) in `--out`, ready for `omnifuse eval kitti`, and with
`--png-dir` a picture per frame: the camera view and the BEV with predicted (green) and true (red) boxes.
Waymo (`--waymo-root`): one JSON Lines file of boxes for `omnifuse eval waymo`.

`--track` (KITTI layout) also runs the 3D multi-object tracker over the frames in order (frame ids sorted;
sequences, stamps and ego poses from the simulator's meta when there, else one sequence at 10 Hz:
omnifuse.apis.tracking) and writes next to the per-frame label files one KITTI tracking result file per
sequence, `<out>/tracking/<seq:04d>.txt` (`frame id type trunc occ alpha x1 y1 x2 y2 h w l x y z ry score`,
ready for `omnifuse eval tracking --pred <out>/tracking`). With `--png-dir` the pictures then show the tracks
(colour and '#id' per track, velocity arrows, trails) instead of the detections, and
`<png-dir>/tracks_<seq:04d>.png` is a strip of bird's-eye views over the sequence.
`--oxts FILE` / `--poses FILE` give the tracker the ego motion of a plain KITTI folder (line N for frame N).

Without `--config`/`--checkpoint` the shipped default model is used (the fast LiDAR + camera model);
a checkpoint exported by `omnifuse train` carries its config, so `--checkpoint` alone is enough.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from omnifuse.commands.vocabulary import add_backend, add_drop, add_png_dir, add_precision, add_split
from omnifuse.datasets.box_fit import BoxFit
from omnifuse.datasets.input_adapt import InputAdapter
from omnifuse.defaults import DETECTION, SCORE_THRESHOLD
from omnifuse.install_paths import CONFIG_DIR

PATH = ('detect',)
HELP = 'detect 3D objects in KITTI-layout (or KITTI-format Waymo) frames; write KITTI labels / JSONL and PNGs'

__all__ = ['PATH', 'HELP', 'add_arguments', 'run', 'DEFAULT_CONFIG', 'DEFAULT_CHECKPOINT']

DEFAULT_CONFIG = DETECTION.config  # the shipped model (omnifuse.defaults, importable without torch)
DEFAULT_CHECKPOINT = DETECTION.checkpoint


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `omnifuse detect`."""
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument('--kitti-root', help='KITTI-layout folder (holding training/velodyne, or the split folder)')
    src.add_argument('--waymo-root', help='mmdet3d KITTI-format Waymo root (holding waymo_infos_*.pkl)')
    which = parser.add_mutually_exclusive_group()
    which.add_argument('--frame', action='append', help='frame id to run (repeatable; default: every frame)')
    add_split(which)
    parser.add_argument('--config', help=f'model config (default: the checkpoint\'s embedded config, else '
                        f'configs/{DEFAULT_CONFIG.relative_to(CONFIG_DIR)})')
    parser.add_argument('--checkpoint', help=f'weights (default: the shipped {DEFAULT_CHECKPOINT.name}); '
                        '"none" runs untrained weights (smoke tests only)')
    parser.add_argument('--out', help='KITTI: folder of label files; Waymo: the .jsonl file to write')
    add_png_dir(parser, 'folder for a picture (camera view + BEV) of each frame, DIR/<id>.png')
    parser.add_argument('--score-thr', type=float, default=SCORE_THRESHOLD,
                        help=f'keep detections with at least this score (default: {SCORE_THRESHOLD})')
    add_drop(parser, ('camera', 'thermal'), old=('--no-camera',))
    parser.add_argument('--image-size', type=int, nargs=2, metavar=('W', 'H'), default=None,
                        help='KITTI: image size [px] to assume for frames with no image and no size in their calib; '
                        'the 2D boxes of the label files (which set the KITTI difficulty) are cut to it '
                        '(default: KITTI\'s image_2, 1242 375; a note on stderr says when it is assumed)')
    adapt = parser.add_argument_group('input normalisation for sim-trained models on real scans (the model\'s config '
                                      'chooses, see docs/results.md "Sim-to-real"; these override it)')
    align = adapt.add_mutually_exclusive_group()
    align.add_argument('--align-ground', nargs='?', type=float, const=1.73, default=None, metavar='HEIGHT',
                       help='level each scan on its fitted ground plane, HEIGHT metres below the LiDAR (default '
                       '1.73, the simulator\'s), detect, and map the boxes back to the sensor frame (the shipped '
                       '64-beam detectors do this by default)')
    align.add_argument('--no-align-ground', action='store_true',
                       help='detect on the scan as it is, even when the model\'s config levels it')
    adapt.add_argument('--intensity-scale', type=float, default=None, metavar='S',
                       help='multiply the LiDAR intensity by S (clipped to [0, 1]) before detection')
    fit = adapt.add_mutually_exclusive_group()
    fit.add_argument('--fit-boxes', nargs='?', const='Car', default=None, metavar='CLASSES',
                     help='grow the boxes of these classes (comma-separated; default Car) over the points next to '
                     'them, up to where those points end (omnifuse.datasets.box_fit; the shipped 64-beam detectors '
                     'do this for Car by default)')
    fit.add_argument('--no-fit-boxes', action='store_true',
                     help='report the boxes as the model gives them, even when its config fits them')
    parser.add_argument('--device', default='cpu', help='torch device, e.g. cpu or cuda:0 (default: cpu)')
    add_backend(parser, note='; an exported detector (omnifuse export) runs without torch')
    add_precision(parser)
    parser.add_argument('--track', action='store_true',
                        help='KITTI layout: also track the objects over the frames (in frame-id order; the tracker is '
                        'reset per simulated sequence) and write KITTI tracking results <out>/tracking/<seq>.txt; '
                        '--png-dir then draws track ids, velocity arrows and trails')
    ego = parser.add_mutually_exclusive_group()
    ego.add_argument('--oxts', default=None, metavar='FILE',
                     help='with --track on a KITTI folder: KITTI oxts (GPS/IMU) records, line N for frame N (30 '
                     'numbers: lat lon alt roll pitch yaw ...), made LiDAR poses with the calib\'s Tr_imu_to_velo: '
                     'the tracker then runs in the world (see omnifuse track --help)')
    ego.add_argument('--poses', default=None, metavar='FILE',
                     help='with --track on a KITTI folder: LiDAR poses in KITTI odometry format, line N for frame N '
                     '(12 numbers, the top rows of world_T_lidar, as KISS-ICP writes them)')


def _frame_poses(args: argparse.Namespace, reader: Any, frames: list[str]) -> dict[str, np.ndarray]:
    """frame id -> (4, 4) world_T_lidar from --oxts / --poses (line N for frame N)."""
    from omnifuse.errors import OmnifuseError
    from omnifuse.structures.ego_poses import read_lidar_poses

    option, path = ('--oxts', args.oxts) if args.oxts else ('--poses', args.poses)
    bad = [f for f in frames if not f.isdigit()]
    if bad:
        raise OmnifuseError(f'{option}: line N holds the pose of frame N, but frame id {bad[0]!r} is not a number')
    T_lidar_imu = reader.read_calib(frames[0]).kitti.get('Tr_imu_to_velo') if args.oxts else None
    poses = read_lidar_poses(path, option[2:], T_lidar_imu, calib_name=f'the calibration of frame {frames[0]}')
    short = [f for f in frames if int(f) >= len(poses)]
    if short:
        raise OmnifuseError(f'{path}: {len(poses)} poses (frames 0-{len(poses) - 1}), but frame {short[0]} is to be '
                            'tracked')
    return {f: poses[int(f)] for f in frames}


def _adapter_override(args: argparse.Namespace, model_adapter: InputAdapter) -> InputAdapter:
    """The model's input adapter with --align-ground / --no-align-ground / --intensity-scale applied."""
    import dataclasses

    changes: dict[str, Any] = {}
    if args.no_align_ground:
        changes['align_ground'] = False
    elif args.align_ground is not None:
        changes.update(align_ground=True, sensor_height=args.align_ground)
    if args.intensity_scale is not None:
        changes['intensity_scale'] = args.intensity_scale
    return dataclasses.replace(model_adapter, **changes)


def _box_fit_override(args: argparse.Namespace, model_fit: BoxFit, class_names: list[str]) -> BoxFit:
    """The model's box fitting with --fit-boxes / --no-fit-boxes applied.

    Raises:
        OmnifuseError: --fit-boxes names a class the model does not detect.
    """
    import dataclasses

    if args.no_fit_boxes:
        return dataclasses.replace(model_fit, classes=())
    if args.fit_boxes is None:
        return model_fit
    classes = tuple(c.strip() for c in args.fit_boxes.split(',') if c.strip())
    unknown = sorted(set(classes) - set(class_names))
    if unknown or not classes:
        from omnifuse.errors import OmnifuseError

        what = f'not classes of this model {unknown}' if unknown else 'names no class'
        raise OmnifuseError(f'--fit-boxes {args.fit_boxes!r}: {what}; it detects {", ".join(class_names)}')
    return dataclasses.replace(model_fit, classes=classes)


def _load(args: argparse.Namespace, backend: str, camera: str) -> Any:
    """The detector of --config/--checkpoint on `backend` (the exported path imports no torch), with the input
    normalisation of its config overridden by the command's options."""
    from omnifuse.apis.detection import open_detector

    device = args.device
    if backend == 'torch':
        from omnifuse.ops.device import resolve_device

        device = resolve_device(args.device)
    det = open_detector(args.config, args.checkpoint, device=device, backend=backend, main_camera=camera,
                        precision=args.precision)
    det.adapter = _adapter_override(args, det.adapter)
    det.box_fit = _box_fit_override(args, det.box_fit, det.class_names)
    return det


def run(args: argparse.Namespace) -> int:
    """Detect on every requested frame; returns 0."""
    from tqdm import tqdm

    from omnifuse.apis.detect_folder import WAYMO_TYPES, detect_frames
    from omnifuse.deploy.runtime import choose_backend
    from omnifuse.errors import OmnifuseError

    backend = choose_backend(args.checkpoint, args.backend)
    if args.precision != 'f32' and backend != 'openvino':
        raise OmnifuseError(f'--precision {args.precision} runs an exported detector on openvino (an .xml file or '
                            f'--backend openvino), not on {backend}')
    if backend != 'torch' and args.config:
        raise OmnifuseError(f'--config applies to PyTorch weights; the exported {args.checkpoint} carries its model')
    if args.kitti_root:
        from omnifuse.datasets.kitti import KittiReader
        reader: Any = KittiReader(args.kitti_root, image_set=args.split, require_labels=False)  # none needed
        camera = 'image_2'
    else:
        from omnifuse.datasets.waymo import WaymoReader
        if args.split:
            raise OmnifuseError('--split applies to --kitti-root only; use --frame with --waymo-root')
        reader = WaymoReader(args.waymo_root)
        camera = 'CAM_FRONT'
    frames = list(args.frame) if args.frame else list(reader.frame_ids)
    if args.track:
        if not args.kitti_root:
            raise OmnifuseError('--track works on --kitti-root folders (KITTI layout or the simulator\'s)')
        frames = sorted(frames)
    elif args.oxts or args.poses:
        raise OmnifuseError(f'{"--oxts" if args.oxts else "--poses"} gives the ego motion to the tracker: use it with '
                            '--track')
    unknown = [f for f in frames if f not in reader]
    if unknown:
        raise OmnifuseError(f'frame(s) {unknown[:5]} not in {args.kitti_root or args.waymo_root}')
    poses = _frame_poses(args, reader, frames) if args.oxts or args.poses else None
    detector = _load(args, backend, camera)
    out = Path(args.out) if args.out else None
    png = Path(args.png_dir) if args.png_dir else None

    def note(message: str) -> None:
        print(f'omnifuse detect: note: {message}', file=sys.stderr)

    image_size = (args.image_size[0], args.image_size[1]) if args.image_size else None
    done = detect_frames(reader, tqdm(frames, desc='detect', unit='frame'), detector, camera=camera,
                         kitti=bool(args.kitti_root), out=out, png=png, score_threshold=args.score_thr,
                         use_camera='camera' not in args.drop, use_thermal='thermal' not in args.drop,
                         image_size=image_size, track=args.track, poses=poses,
                         note=note)
    tracked = ''
    if done.sequences is not None:
        tracked = f'; {done.sequences} sequence(s) tracked'
        tracked += f', KITTI tracking results: {done.tracking_dir}' if done.tracking_dir else ''
    left_out = ''
    if out and args.kitti_root and done.written < done.detections:
        left_out = (f' ({done.detections - done.written} outside the camera image or the LiDAR range are not in the '
                    f'KITTI label files: KITTI scores only what the camera sees)')
    if out and args.waymo_root and done.not_waymo:
        classes = ', '.join(f'{n} {name}' for name, n in sorted(done.not_waymo.items()))
        left_out = f' ({classes}: classes with no Waymo type ({", ".join(WAYMO_TYPES)} only) are not in the file)'
    print(f'{len(frames)} frame(s), {done.detections} detection(s) with score >= {args.score_thr}'
          + (f'; {done.written} written to {out}' if out else '')
          + left_out + tracked + (f'; pictures: {png}' if png else ''))
    return 0
