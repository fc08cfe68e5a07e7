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

Without `--config`/`--checkpoint` the shipped default model is used (the fast LiDAR + camera model);
a checkpoint exported by `omnifuse train` carries its config, so `--checkpoint` alone is enough.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from omnifuse.commands.vocabulary import add_backend, add_drop, add_png_dir, add_precision, add_split
from omnifuse.datasets.input_adapt import InputAdapter
from omnifuse.defaults import DETECTION, SCORE_THRESHOLD
from omnifuse.install_paths import CONFIG_DIR

PATH = ('detect',)
HELP = 'detect 3D objects in KITTI-layout (or KITTI-format Waymo) frames; write KITTI labels / JSONL and PNGs'

KITTI_IMAGE_SIZE = (1242, 375)  # KITTI's image_2 [px], for frames that come without their image

__all__ = ['PATH', 'HELP', 'add_arguments', 'run', 'DEFAULT_CONFIG', 'DEFAULT_CHECKPOINT']

DEFAULT_CONFIG = DETECTION.config  # the shipped model (omnifuse.defaults, importable without torch)
DEFAULT_CHECKPOINT = DETECTION.checkpoint
WAYMO_TYPES = {'Car': 'VEHICLE', 'Pedestrian': 'PEDESTRIAN', 'Cyclist': 'CYCLIST'}


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
    parser.add_argument('--device', default='cpu', help='torch device, e.g. cpu or cuda:0 (default: cpu)')
    add_backend(parser, note='; an exported detector (omnifuse export) runs without torch')
    add_precision(parser)
    parser.add_argument('--track', action='store_true',
                        help='KITTI layout: also track the objects over the frames (in frame-id order; the tracker is '
                        'reset per simulated sequence) and write KITTI tracking results <out>/tracking/<seq>.txt; '
                        '--png-dir then draws track ids, velocity arrows and trails')


def _fallback_image_size(image_size: list[int] | None) -> tuple[int, int]:
    """(W, H) [px] of a frame without its image nor an image size in its calib: --image-size, else KITTI's."""
    width, height = image_size or KITTI_IMAGE_SIZE
    return int(width), int(height)


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
    return det


def run(args: argparse.Namespace) -> int:
    """Detect on every requested frame; returns 0."""
    import cv2
    from tqdm import tqdm

    from omnifuse.deploy.runtime import choose_backend
    from omnifuse.errors import OmnifuseError
    from omnifuse.evaluation.kitti_convert import write_kitti_predictions
    from omnifuse.viz.detections import TrackPictures, detection_picture, track_picture

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
    unknown = [f for f in frames if f not in reader]
    if unknown:
        raise OmnifuseError(f'frame(s) {unknown[:5]} not in {args.kitti_root or args.waymo_root}')
    detector = _load(args, backend, camera)
    warned_size = False
    out = Path(args.out) if args.out else None
    png = Path(args.png_dir) if args.png_dir else None
    use = {'use_camera': 'camera' not in args.drop, 'use_thermal': 'thermal' not in args.drop}
    if png:
        png.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    if out and args.kitti_root:
        out.mkdir(parents=True, exist_ok=True)
    total = n_written = 0
    not_waymo: dict[str, int] = {}  # detections of classes the Waymo file has no type for
    sequencer = pictures = None
    if args.track:
        from omnifuse.apis.tracking import SequenceTracker

        sequencer = SequenceTracker(camera=camera)
        pictures = TrackPictures()

    def write_strip(sequence: int | None) -> None:
        if png and pictures is not None and sequence is not None:
            strip = pictures.strip()
            if strip is not None:
                cv2.imwrite(str(png / f'tracks_{sequence:04d}.png'), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))

    for frame_id in tqdm(frames, desc='detect', unit='frame'):
        frame = reader.read(frame_id)
        if out and args.kitti_root and camera not in frame.calib.cameras:
            calib_file = frame.meta.get('paths', {}).get('calib', f'calib of frame {frame_id}')
            raise OmnifuseError(f'{calib_file}: no camera {camera} (P2, R0_rect, Tr_velo_to_cam): KITTI label files '
                                'are written in that camera\'s frame')
        pred = detector(frame, **use, score_threshold=args.score_thr)  # DetPredictions, numpy, LiDAR frame
        boxes, scores, labels = pred.numpy()
        names = [detector.class_names[int(i)] for i in labels]
        total += len(boxes)
        if out and args.kitti_root:
            cam = frame.calib.cameras[camera]
            img = frame.images.get(camera)
            size = (img.shape[1], img.shape[0]) if img is not None else (cam.width, cam.height)
            if img is None and (cam.width <= 0 or cam.height <= 0):
                # Without an image the 2D boxes (which set the KITTI difficulty) need the image size.
                size = _fallback_image_size(args.image_size)
                if args.image_size is None and not warned_size:
                    import sys

                    print(f'omnifuse detect: note: frame {frame_id} has no {camera} image and its calib no image '
                          f'size: 2D boxes are cut to KITTI\'s {size[0]} x {size[1]} image (set --image-size W H)',
                          file=sys.stderr)
                    warned_size = True
            n_written += write_kitti_predictions(out / f'{frame_id}.txt', pred, detector.class_names, cam.T_cam_lidar,
                                                 cam.P, size)
        elif args.waymo_root:
            key = str(frame.meta.get('waymo_frame', frame_id))
            for b, s, n in zip(boxes, scores, names, strict=True):
                if n in WAYMO_TYPES:
                    lines.append(json.dumps({'frame': key, 'type': WAYMO_TYPES[n],
                                             'box': [round(float(v), 4) for v in b], 'score': round(float(s), 5)}))
                else:
                    not_waymo[n] = not_waymo.get(n, 0) + 1
        if sequencer is not None:
            from omnifuse.structures import ObjectLabels

            n = len(boxes)
            img = frame.images.get(camera)
            cam_model = frame.calib.cameras.get(camera) if frame.calib is not None else None
            size = ((img.shape[1], img.shape[0]) if img is not None
                    else (cam_model.width, cam_model.height) if cam_model is not None and cam_model.width > 0
                    else _fallback_image_size(args.image_size))
            dets = ObjectLabels(pred.boxes3d(), names, np.zeros(n), np.zeros(n, np.int64), np.zeros(n),
                                np.full((n, 4), np.nan), np.asarray(scores, np.float64))
            place, tracks = sequencer(frame, dets, image_size=size)
            if png and pictures is not None:
                write_strip(pictures.start(place.sequence))
                trails = pictures.trails_in_frame(tracks, place.pose)
                pic, panel = track_picture(frame, detector.sensed_points(frame.points), tracks, trails, camera)
                pictures.add_panel(place.index, panel)
                cv2.imwrite(str(png / f'{frame_id}.png'), cv2.cvtColor(pic, cv2.COLOR_RGB2BGR))
        elif png:
            pic = detection_picture(frame, detector.sensed_points(frame.points), boxes, scores, names, camera)
            cv2.imwrite(str(png / f'{frame_id}.png'), cv2.cvtColor(pic, cv2.COLOR_RGB2BGR))
    if out and args.waymo_root:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text('\n'.join(lines) + ('\n' if lines else ''))
    tracked = ''
    if sequencer is not None:
        if pictures is not None:
            write_strip(pictures.sequence)
        tracked = f'; {len(sequencer.sequences)} sequence(s) tracked'
        if out:
            written = sequencer.write(out / 'tracking')
            tracked += f', KITTI tracking results: {written[0].parent}' if written else ''
    left_out = ''
    if out and args.kitti_root and n_written < total:
        left_out = (f' ({total - n_written} outside the camera image or the LiDAR range are not in the KITTI label '
                    f'files: KITTI scores only what the camera sees)')
    if out and args.waymo_root:
        n_written = len(lines)
        if not_waymo:
            classes = ', '.join(f'{n} {name}' for name, n in sorted(not_waymo.items()))
            left_out = f' ({classes}: classes with no Waymo type ({", ".join(WAYMO_TYPES)} only) are not in the file)'
    print(f'{len(frames)} frame(s), {total} detection(s) with score >= {args.score_thr}'
          + (f'; {n_written} written to {out}' if out else '')
          + left_out + tracked + (f'; pictures: {png}' if png else ''))
    return 0
