"""Write simulated frames in the KITTI object layout, extended with the other sensors and dense labels.

    <out>/ImageSets/train.txt, val.txt          frame ids (val: every 5th sequence, or the last 20 % of
                                                the frames when there is a single sequence)
    <out>/<split>/velodyne/<id>.bin             float32 (N, 4) x y z intensity, LiDAR frame
    <out>/<split>/image_2/<id>.png              RGB colour image (1242 x 375)
    <out>/<split>/calib/<id>.txt                KITTI calib + omnifuse's thermal/ultrasonic/size lines
    <out>/<split>/label_2/<id>.txt              KITTI labels, 15 columns (labels_io.write_object_labels)
    <out>/<split>/thermal/<id>.png              uint16 thermal, centi-kelvin (T[K] = value / 100)
    <out>/<split>/thermal_8bit/<id>.png         uint8 display version (automatic gain control)
    <out>/<split>/ultrasonic/<id>.txt           lines `name range_m`, 'nan' for no echo
    <out>/<split>/semantic_2/<id>.png           uint8 class per image_2 pixel (classes.py)
    <out>/<split>/semantic_thermal/<id>.png     uint8 class per thermal pixel
    <out>/<split>/occupancy/<id>.png            uint8 (200, 200) BEV classes (layout in labels.py)
    <out>/<split>/velodyne_labels/<id>.bin      uint8 class per LiDAR point, same order as velodyne/
    <out>/<split>/meta/<id>.json                {condition, sequence, seed, stamp_ns, faults, track_ids,
                                                world_T_lidar, ...}

With `tracking=True` (`omnifuse sim --sequence-length N`, N > 1) also the KITTI tracking ground truth:

    <out>/<split>/label_02/<seq:04d>.txt        one file per sequence (`meta['sequence']`), rows
                                                `frame track_id type trunc occ alpha x1 y1 x2 y2 h w l x y z ry`
                                                (structures/kitti_tracking.py), frame = `meta['frame_in_sequence']`

The tracking rows are the frame's label_2 objects (same LiDAR -> camera conversion, same order) with the
thing's id (`meta['track_ids']`; -1 for DontCare rows, as in KITTI) and truncation as KITTI tracking's
level instead of a fraction: 0 inside the image, 1 partly outside, 2 outside (occlusion 3 there, so the
KITTI tracking evaluation ignores those objects rather than counting them missed).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np

from omnifuse.datasets.labels_io import DONTCARE, object_labels_to_kitti, write_object_labels
from omnifuse.datasets.sim.thermal import thermal_to_8bit
from omnifuse.errors import OmnifuseError
from omnifuse.structures import SensorFrame
from omnifuse.structures.kitti_tracking import KittiTrackRows, write_kitti_tracking

__all__ = ['write_kitti', 'write_kitti_frame', 'tracking_rows', 'split_ids', 'FOLDERS', 'TRACKING_FOLDER']

FOLDERS = ('velodyne', 'image_2', 'calib', 'label_2', 'thermal', 'thermal_8bit', 'ultrasonic', 'semantic_2',
           'semantic_thermal', 'occupancy', 'velodyne_labels', 'meta')
TRACKING_FOLDER = 'label_02'


def _png(path: Path, image: np.ndarray) -> None:
    import cv2

    if not cv2.imwrite(str(path), image):
        raise OmnifuseError(f'{path}: OpenCV could not write the image')


def _json_safe(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    return value


def write_kitti_frame(frame: SensorFrame, folder: Path, frame_id: str) -> None:
    """Write every stream `frame` has into the split folder `folder` under `frame_id`."""
    if frame.points is None or frame.calib is None:
        raise OmnifuseError(f'frame {frame.frame_id}: the KITTI layout needs points and a calibration')
    np.ascontiguousarray(frame.points[:, :4], dtype=np.float32).tofile(folder / 'velodyne' / f'{frame_id}.bin')
    (folder / 'calib' / f'{frame_id}.txt').write_text(frame.calib.to_kitti_text())
    if 'image_2' in frame.images:
        _png(folder / 'image_2' / f'{frame_id}.png', frame.images['image_2'][..., ::-1])
    if frame.labels is not None:
        write_object_labels(folder / 'label_2' / f'{frame_id}.txt', frame.labels, frame.calib)
    if 'thermal' in frame.thermal:
        raw = np.asarray(frame.thermal['thermal'])
        _png(folder / 'thermal' / f'{frame_id}.png', raw.astype(np.uint16))
        _png(folder / 'thermal_8bit' / f'{frame_id}.png', thermal_to_8bit(raw.astype(np.uint16)))
    if frame.ultrasonic:
        lines = [f'{name} {"nan" if not math.isfinite(r) else f"{r:.4f}"}' for name, r in frame.ultrasonic.items()]
        (folder / 'ultrasonic' / f'{frame_id}.txt').write_text('\n'.join(lines) + '\n')
    for attr, sub in (('semantic_2', 'semantic_2'), ('semantic_thermal', 'semantic_thermal'),
                      ('occupancy', 'occupancy')):
        value = getattr(frame, attr, None)
        if value is not None:
            _png(folder / sub / f'{frame_id}.png', np.asarray(value, np.uint8))
    point_labels = getattr(frame, 'point_labels', None)
    if point_labels is not None:
        np.asarray(point_labels, np.uint8).tofile(folder / 'velodyne_labels' / f'{frame_id}.bin')
    meta = {k: v for k, v in frame.meta.items() if k not in ('paths', 'calib_true')}
    meta.setdefault('stamp_ns', int(frame.stamp_ns))
    meta['stamps_ns'] = dict(frame.stamps_ns)
    meta['frame_id'] = frame_id
    (folder / 'meta' / f'{frame_id}.json').write_text(json.dumps(_json_safe(meta), indent=1) + '\n')


def tracking_rows(frame: SensorFrame) -> KittiTrackRows:
    """The KITTI tracking ground-truth rows of one simulated frame (see the module docstring).

    Raises:
        OmnifuseError: the frame has no labels, calibration or `meta['track_ids']` matching its labels.
    """
    ids = frame.meta.get('track_ids')
    if frame.labels is None or frame.calib is None or ids is None or len(ids) != len(frame.labels):  # type: ignore[arg-type]
        raise OmnifuseError(f'frame {frame.frame_id}: KITTI tracking labels need labels, a calibration and '
                            "meta['track_ids'] (one per label; simulated frames have them)")
    kitti = object_labels_to_kitti(frame.labels, frame.calib)
    n = len(kitti)
    track_id = np.asarray(ids, np.int64).reshape(-1)
    dontcare = np.array([str(name) == DONTCARE for name in kitti.name], dtype=bool)
    track_id = np.where(dontcare, -1, track_id)
    outside = np.asarray(frame.labels.occluded) >= 3
    level = np.where(outside, 2, np.where(np.asarray(kitti.truncated, np.float64) > 0, 1, 0)).astype(np.float64)
    kitti = replace(kitti, truncated=level)
    index = int(frame.meta.get('frame_in_sequence', 0))  # type: ignore[call-overload]
    return KittiTrackRows(np.full(n, index, np.int64), track_id, kitti)


def split_ids(ids: list[str], sequences: list[int]) -> tuple[list[str], list[str]]:
    """(train, val) ids: every 5th sequence is val; with one sequence, its last 20 % of frames."""
    uniq = sorted(set(sequences))
    if len(uniq) > 1:
        val_seq = {s for i, s in enumerate(uniq) if i % 5 == 4} or {uniq[-1]}
        val = [i for i, s in zip(ids, sequences, strict=True) if s in val_seq]
        return [i for i in ids if i not in set(val)], val
    n_val = len(ids) // 5
    return ids[:len(ids) - n_val], ids[len(ids) - n_val:]


def write_kitti(frames: Iterable[SensorFrame], out_dir: str | Path, *, split: str = 'training', start_index: int = 0,
                on_frame: Callable[[str], None] | None = None, tracking: bool = False) -> list[str]:
    """Write `frames` as KITTI `<out_dir>/<split>/...` with ids 000000, 000001, ... (see the module docstring).

    Args:
        frames: the frames (SimFrames get their dense labels written too).
        out_dir: dataset root.
        split: 'training' or 'testing' folder name.
        start_index: id of the first frame.
        on_frame: called with each id after it is written (progress bars).
        tracking: also write the KITTI tracking ground truth `<split>/label_02/<seq:04d>.txt`.

    Returns:
        The ids written.
    """
    out = Path(out_dir)
    folder = out / split
    for sub in FOLDERS:
        (folder / sub).mkdir(parents=True, exist_ok=True)
    ids, sequences = [], []
    track_rows: dict[int, list[KittiTrackRows]] = {}
    for k, frame in enumerate(frames):
        frame_id = f'{start_index + k:06d}'
        write_kitti_frame(frame, folder, frame_id)
        if tracking:
            track_rows.setdefault(int(frame.meta.get('sequence', 0)), []).append(tracking_rows(frame))  # type: ignore[call-overload]
        ids.append(frame_id)
        sequences.append(int(frame.meta.get('sequence', 0)))  # type: ignore[call-overload]
        if on_frame is not None:
            on_frame(frame_id)
    if tracking:
        (folder / TRACKING_FOLDER).mkdir(parents=True, exist_ok=True)
        for seq, parts in sorted(track_rows.items()):
            write_kitti_tracking(folder / TRACKING_FOLDER / f'{seq:04d}.txt', KittiTrackRows.concatenate(parts),
                                 with_score=False, decimals=2)
    train, val = split_ids(ids, sequences)
    (out / 'ImageSets').mkdir(parents=True, exist_ok=True)
    (out / 'ImageSets' / 'train.txt').write_text(''.join(f'{i}\n' for i in train))
    (out / 'ImageSets' / 'val.txt').write_text(''.join(f'{i}\n' for i in val))
    if split == 'training':
        (out / 'ImageSets' / 'trainval.txt').write_text(''.join(f'{i}\n' for i in ids))
    return ids
