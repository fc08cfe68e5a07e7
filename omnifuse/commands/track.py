"""`omnifuse track`: 3D multi-object tracking of detection files, written as KITTI tracking results."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from omnifuse.structures.calibration import Calibration

PATH = ('track',)
HELP = ('track 3D detections over sequences (AB3DMOT detection files or KITTI object results) '
        'into KITTI tracking results')

EPILOG = """\
input (--dets DIR, repeatable; several DIRs are merged frame by frame, e.g. one per class):
  either (a) one file per sequence, DIR/<seq>.txt (e.g. 0001.txt), in AB3DMOT's detection format, comma
      separated, one detection per line:
        frame,type_id,x1,y1,x2,y2,score,h,w,l,x,y,z,rot_y,alpha     (type_id 1 Pedestrian, 2 Car, 3 Cyclist)
  or (b) one folder per sequence, DIR/<seq>/<frame>.txt (e.g. 0001/000042.txt), each a KITTI object result
      file (type truncated occluded alpha x1 y1 x2 y2 h w l x y z ry score).
  Boxes are in the rectified camera frame, (x, y, z) the bottom centre. Every frame from 0 to the last one
  with a detection is tracked (10 Hz: frame k is at k * 0.1 s); a frame without detections is a frame in
  which nothing was seen.

calibration (--calib DIR, optional): DIR/<seq>.txt, KITTI calib files (object keys R0_rect/Tr_velo_to_cam or
  tracking keys R_rect/Tr_velo_cam). Used to track in the true LiDAR frame and to project coasting tracks
  into the image. Without it the camera axes stand in for the LiDAR axes (boxes written back are exact) and
  a coasting track keeps its last image box.

ego motion (--oxts DIR or --poses DIR, optional; either needs --calib): with it the tracker runs in the world
  (a parked car stands still while the vehicle drives), without it in the LiDAR frame of each frame.
  --oxts DIR:  DIR/<seq>.txt, KITTI oxts (GPS/IMU) records, one line per frame (KITTI tracking's
               training/oxts; 30 numbers: lat lon alt roll pitch yaw ...); turned into LiDAR poses as the
               KITTI raw devkit does (convertOxtsToPose) with the calib file's Tr_imu_to_velo (Tr_imu_velo).
  --poses DIR: DIR/<seq>.txt, one pose per line, 12 numbers: the top three rows (row-major) of the LiDAR's
               pose in a world fixed for the sequence (world_T_lidar; KITTI odometry's format, as LiDAR
               odometry tools such as KISS-ICP write it).
  Either must hold a line for every tracked frame (frame k on line k).

output (--out DIR): DIR/<seq>.txt per sequence, KITTI tracking results, one track per line:
  frame track_id type truncated occluded alpha x1 y1 x2 y2 h w l x y z ry score
  (truncated, occluded -1: unknown; the image box is the matched detection's, or for a coasting track the
  projected 3D box).
  score (--score-column): 'exact_mean' (default): written so that the mean of a track's rows up to any row is
  exactly the track's confidence at that row (rounded to 1/256), which KITTI's 3D MOT protocol then ranks the
  track by without the last-bit drift of its re-averaged means; a single row's value is an increment, not a
  confidence. 'confidence': each row the track's confidence at that frame. The confidence is a ranking score
  in the detector's units (the mean matched detection score raised with the frames the track was matched in,
  see docs/tracking.md "Scores" and --set score_mode=/hits_bonus=...). Floats are written with 8 decimals.

tracker parameters (--config FILE, --set KEY=VALUE): the TrackerConfig mapping (docs/tracking.md):
  --set min_hits=2             every class
  --set Pedestrian.max_age=4   one class
  --config params.yaml         {min_hits: 2, classes: {Cyclist: {metric: distance, match_threshold: 2.0}}}

speed: the frames a second printed at the end time the tracker alone (not reading or writing files).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `omnifuse track`."""
    parser.epilog = EPILOG
    parser.add_argument('--dets', action='append', required=True, metavar='DIR',
                        help='folder of detections (format below); repeat for several folders, e.g. one per class')
    parser.add_argument('--out', required=True, metavar='DIR', help='folder for the KITTI tracking result files')
    parser.add_argument('--seqs', default=None, metavar='LIST',
                        help='comma-separated sequence numbers to track, e.g. 1,6,8 (default: every sequence found)')
    parser.add_argument('--calib', default=None, metavar='DIR',
                        help='folder of KITTI calib files <seq>.txt (optional, see below)')
    ego = parser.add_mutually_exclusive_group()
    ego.add_argument('--oxts', default=None, metavar='DIR',
                     help='folder of KITTI oxts files <seq>.txt: ego motion from GPS/IMU (needs --calib; below)')
    ego.add_argument('--poses', default=None, metavar='DIR',
                     help='folder of KITTI-format LiDAR pose files <seq>.txt (needs --calib; below)')
    parser.add_argument('--config', default=None, metavar='FILE',
                        help='YAML or JSON file of tracker parameters (TrackerConfig.from_dict)')
    parser.add_argument('--set', action='append', default=[], metavar='KEY=VALUE', dest='overrides',
                        help='one tracker parameter, e.g. min_hits=2 or Car.max_age=2 (repeatable; after --config)')
    parser.add_argument('--score-column', default='exact_mean', choices=('exact_mean', 'confidence'),
                        help="the result files' score column (below; default: exact_mean)")
    parser.add_argument('--classes', default=None, metavar='LIST',
                        help='track only these classes, e.g. Car,Cyclist (default: every class in the input)')


def run(args: argparse.Namespace) -> int:
    """Track every selected sequence and write its result file."""
    import numpy as np
    from tqdm import tqdm

    from omnifuse.errors import FormatError
    from omnifuse.structures.calibration import Calibration
    from omnifuse.structures.kitti_tracking import write_kitti_tracking
    from omnifuse.tracking import MultiObjectTracker
    from omnifuse.tracking.config import load_tracker_config
    from omnifuse.tracking.kitti_io import (
        NOMINAL_T_RECT_LIDAR,
        SCORE_DECIMALS,
        detection_sources,
        read_detection_sequence,
        track_sequence,
    )

    config = load_tracker_config(args.config, args.overrides)
    sources = detection_sources([Path(d) for d in args.dets])
    if args.seqs:
        try:
            wanted = [int(s) for s in args.seqs.split(',') if s.strip()]
        except ValueError:
            raise FormatError(f'--seqs: expected comma-separated sequence numbers like 1,6,8, '
                              f'got {args.seqs!r}') from None
        missing = [s for s in wanted if s not in sources]
        if missing:
            raise FormatError(f'--seqs: no detections for sequence(s) {", ".join(f"{s:04d}" for s in missing)} in '
                              f'{", ".join(args.dets)} (found {", ".join(f"{s:04d}" for s in sorted(sources))})')
        seqs = wanted
    else:
        seqs = sorted(sources)
    classes = None if args.classes is None else {c.strip() for c in args.classes.split(',') if c.strip()}
    calib_dir = Path(args.calib) if args.calib else None
    if calib_dir is not None and not calib_dir.is_dir():
        raise NotADirectoryError(20, 'not a folder of calibration files', str(calib_dir))
    ego_option, ego_dir = ('--oxts', args.oxts) if args.oxts else ('--poses', args.poses)
    if ego_dir is not None:
        if calib_dir is None:
            raise FormatError(f'{ego_option} needs --calib: ego poses are poses of the LiDAR, and without the '
                              'calibration the LiDAR frame is not known')
        if not Path(ego_dir).is_dir():
            raise NotADirectoryError(20, f'{ego_option}: not a folder', str(ego_dir))
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    tracker = MultiObjectTracker(config)
    total_frames, total_time, total_tracks = 0, 0.0, 0
    for seq in tqdm(seqs, desc='track', unit='seq'):
        rows = read_detection_sequence(sources[seq])
        if classes is not None:
            rows = rows.select(np.isin(rows.labels.name, sorted(classes)))
        T, camera, calib = NOMINAL_T_RECT_LIDAR, None, None
        if calib_dir is not None:
            calib_path = calib_dir / f'{seq:04d}.txt'
            if not calib_path.is_file():
                raise FileNotFoundError(2, f'calibration of sequence {seq:04d} is missing', str(calib_path))
            calib = Calibration.from_kitti_file(calib_path)
            T = calib.T_rect_lidar
            camera = calib.cameras.get('image_2')
        n_frames = int(rows.frame.max()) + 1 if len(rows) else 0
        poses = None
        if ego_dir is not None and calib is not None:
            poses = _sequence_poses(ego_option, Path(ego_dir), seq, calib, n_frames)
        result, seconds = track_sequence(tracker, rows, T, camera=camera, score_column=args.score_column,
                                         poses=poses)
        total_time += seconds
        write_kitti_tracking(out_dir / f'{seq:04d}.txt', result, with_score=True, decimals=SCORE_DECIMALS)
        total_frames += n_frames
        total_tracks += len(np.unique(result.track_id))
    fps = total_frames / total_time if total_time > 0 else float('inf')
    print(f'{len(seqs)} sequence(s), {total_frames} frames, {total_tracks} tracks -> {out_dir}')
    print(f'tracking speed: {fps:.1f} frames/s (tracker only, {total_time:.2f} s)')
    return 0


def _sequence_poses(option: str, folder: Path, seq: int, calib: Calibration, n_frames: int) -> np.ndarray:
    """(n_frames, 4, 4) world_T_lidar of one sequence from its oxts or pose file."""
    from omnifuse.errors import FormatError
    from omnifuse.structures.ego_poses import read_lidar_poses

    path = folder / f'{seq:04d}.txt'
    if not path.is_file():
        raise FileNotFoundError(2, f'{option}: the file of sequence {seq:04d} is missing', str(path))
    poses = read_lidar_poses(path, option[2:], calib.kitti.get('Tr_imu_to_velo'),
                             calib_name=f'the calibration of sequence {seq:04d}')
    if len(poses) < n_frames:
        raise FormatError(f'{path}: {len(poses)} poses, but sequence {seq:04d} has detections up to frame '
                          f'{n_frames - 1} ({n_frames} frames)')
    return poses[:n_frames]
