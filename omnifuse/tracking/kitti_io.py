"""KITTI tracking rows <-> tracker input and output (the conversions `omnifuse track` and `detect --track` share).

Detections come as `KittiTrackRows` (AB3DMOT detection files, KITTI object result files) in the rectified
camera frame; the tracker works on LiDAR-frame `ObjectLabels`; its `Tracks` go back to KITTI tracking
result rows. The camera <-> LiDAR box conversion is `omnifuse.structures.boxes3d` (with `T_rect_lidar`,
i.e. R0_rect · Tr_velo_to_cam of the sequence's calibration).

Without a calibration, `NOMINAL_T_RECT_LIDAR` stands in: the axis permutation camera (x right, y down,
z forward) -> LiDAR (x forward, y left, z up) without the few-centimetre offsets and sub-degree rotations
of a real calibration. Boxes go out through the same matrix they came in with, so the written camera-frame
boxes are exact either way; only "up" is off by those fractions of a degree while tracking.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from omnifuse.errors import FormatError, ShapeError
from omnifuse.structures.boxes3d import Boxes3D, clip_image_boxes
from omnifuse.structures.calibration import CameraModel
from omnifuse.structures.frame import ObjectLabels
from omnifuse.structures.geometry import wrap_angle
from omnifuse.structures.kitti_labels import KittiLabels, read_kitti_label
from omnifuse.structures.kitti_tracking import KittiTrackRows, read_ab3dmot_detections
from omnifuse.structures.tracks import Tracks
from omnifuse.tracking.tracker import MultiObjectTracker

__all__ = ['NOMINAL_T_RECT_LIDAR', 'KITTI_IMAGE_SIZE', 'SCORE_GRID', 'SCORE_DECIMALS', 'ExactMeanScores',
           'rows_to_detections', 'tracks_to_rows', 'track_sequence', 'detection_sources', 'read_detection_sequence']

NOMINAL_T_RECT_LIDAR = np.array([[0.0, -1.0, 0.0, 0.0],
                                 [0.0, 0.0, -1.0, 0.0],
                                 [1.0, 0.0, 0.0, 0.0],
                                 [0.0, 0.0, 0.0, 1.0]])
KITTI_IMAGE_SIZE = (1242, 375)  # width, height of image_2 (sequences differ by a few pixels)
# Track confidences are rounded to multiples of SCORE_GRID (a power of two) in the 'exact_mean' score column;
# SCORE_DECIMALS decimal places write such a multiple, and every row value built from it, exactly.
SCORE_GRID = 2.0 ** -8
SCORE_DECIMALS = 8


class ExactMeanScores:
    """The score column written so that the mean of a track's rows is exactly its current confidence.

    The KITTI 3D MOT protocol (AB3DMOT's evaluate.py) ranks a track by the mean of its rows' scores and
    writes that mean back into the rows before every recall pass, so the mean of the means can move in its
    last bit from pass to pass; a track whose mean drifts below the threshold equal to its own mean is dropped
    at that step (docs/tracking.md, "Evaluation protocol"). Here the k-th row written for a track gets
    `k * Q_k - (k - 1) * Q_(k-1)`, with Q_k the track's confidence at that row rounded to a multiple of
    `SCORE_GRID`: the rows so far then sum to exactly `k * Q_k` (every partial sum is a multiple of a power of
    two far inside float64's 53 bits, in any order), their mean is exactly Q_k, and averaging n copies of Q_k
    gives Q_k again, so no pass drifts. At any frame the mean of a track's rows is the tracker's confidence
    in the track at its latest row; a single row's value is an increment, not a confidence on its own (it can
    leave the detector's range while the confidence moves). Each row depends only on the frames so far
    (online). Written with `SCORE_DECIMALS` decimals the values read back exactly.

    Example:
        >>> column = ExactMeanScores()
        >>> column(np.array([7]), np.array([2.0])), column(np.array([7]), np.array([3.0]))   # rows 2.0, 4.0
    """

    def __init__(self) -> None:
        self._state: dict[int, tuple[int, float]] = {}

    def __call__(self, ids: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        """The row values of one frame: (M,) track ids and confidences -> (M,) float64 scores to write."""
        out = np.empty(len(ids))
        for i, (tid, conf) in enumerate(zip(ids.tolist(), np.asarray(confidence, np.float64).tolist(), strict=True)):
            q = round(conf / SCORE_GRID) * SCORE_GRID
            k, prev = self._state.get(tid, (0, 0.0))
            out[i] = (k + 1) * q - k * prev
            self._state[tid] = (k + 1, q)
        return out


def rows_to_detections(rows: KittiTrackRows, T_rect_lidar: np.ndarray) -> ObjectLabels:
    """The rows of one frame as tracker input (LiDAR-frame boxes; names, scores and 2D boxes kept)."""
    lab = rows.labels
    cam = np.concatenate([lab.dimensions, lab.location, lab.rotation_y[:, None]], 1)
    boxes = Boxes3D.from_kitti_camera(cam, T_rect_lidar)
    scores = np.where(np.isfinite(lab.score), lab.score, 1.0)
    return ObjectLabels(boxes, [str(n) for n in lab.name], lab.truncated, lab.occluded, lab.alpha, lab.bbox, scores)


def tracks_to_rows(tracks: Tracks, frame: int, T_rect_lidar: np.ndarray, *,
                   camera: CameraModel | None = None, last_bbox: dict[int, np.ndarray] | None = None,
                   image_size: tuple[int, int] = KITTI_IMAGE_SIZE) -> KittiTrackRows:
    """One frame of tracks as KITTI tracking result rows.

    The image box of a track is the matched detection's; for a coasting track (no box this frame) it is the
    3D box projected with `camera` (clipped to `image_size` when the camera has no size), else the last
    known box from `last_bbox` (track id -> box, updated here), else -1s. Truncation and occlusion are
    unknown (-1); alpha = ry - atan2(x, z).

    Args:
        tracks: the tracker's output for this frame.
        frame: the frame index written in every row.
        T_rect_lidar: (4, 4) LiDAR -> rectified camera.
        camera: image_2, to project coasting tracks.
        last_bbox: per track id the last image box written, kept across frames by the caller.
        image_size: (width, height) to clip projections to when `camera` has none.
    """
    n = len(tracks)
    if n == 0:
        return KittiTrackRows.empty()
    cam = tracks.boxes.to_kitti_camera(T_rect_lidar)  # (h, w, l, x, y, z, ry)
    bbox = tracks.bbox_2d.copy()
    missing = ~np.isfinite(bbox).all(1)
    if missing.any() and camera is not None:
        proj = tracks.boxes[np.nonzero(missing)[0]].project_to_image(camera, clip=camera.width > 0)
        if camera.width <= 0:
            proj = clip_image_boxes(proj, image_size[0], image_size[1])
        bbox[missing] = proj
        missing = ~np.isfinite(bbox).all(1)
    if last_bbox is not None:
        for i in range(n):
            tid = int(tracks.ids[i])
            if missing[i] and tid in last_bbox:
                bbox[i] = last_bbox[tid]
            elif not missing[i]:
                last_bbox[tid] = bbox[i].copy()
        missing = ~np.isfinite(bbox).all(1)
    bbox[missing] = -1.0
    alpha = wrap_angle(cam[:, 6] - np.arctan2(cam[:, 3], cam[:, 5]))
    labels = KittiLabels(name=np.asarray(tracks.names, str), truncated=np.full(n, -1.0), occluded=np.full(n, -1),
                         alpha=alpha, bbox=bbox, dimensions=cam[:, 0:3], location=cam[:, 3:6],
                         rotation_y=cam[:, 6], score=tracks.scores)
    return KittiTrackRows(np.full(n, int(frame), np.int64), tracks.ids, labels)


def track_sequence(tracker: MultiObjectTracker, rows: KittiTrackRows, T_rect_lidar: np.ndarray, *,
                   camera: CameraModel | None = None, score_column: str = 'exact_mean',
                   frame_period_ns: int = 100_000_000, n_frames: int | None = None,
                   poses: np.ndarray | None = None) -> tuple[KittiTrackRows, float]:
    """Track one sequence of detection rows (frames 0 .. the last one with a detection) from a reset tracker.

    Args:
        tracker: the tracker (reset here).
        rows: the sequence's detections, rectified camera frame, any frame order.
        T_rect_lidar: (4, 4) LiDAR -> rectified camera of the sequence.
        camera: image_2, to project coasting tracks into the image.
        score_column: 'exact_mean' (`ExactMeanScores`: the mean of a track's rows is its confidence, exactly)
            or 'confidence' (each row the track's confidence at that frame, `Tracks.scores`).
        frame_period_ns: time between frames (KITTI: 10 Hz).
        n_frames: frames to run (default: up to the last one with a detection).
        poses: (>= n_frames, 4, 4) world_T_lidar of the frames (ego motion: the tracker then runs in the
            world), or None (it runs in the LiDAR frame).

    Returns:
        (the result rows in frame order, seconds spent inside `tracker.update`). Write them with
        `decimals=SCORE_DECIMALS` to keep the exact-mean scores exact.
    """
    if score_column not in ('exact_mean', 'confidence'):
        raise ValueError(f"track_sequence: score_column must be 'exact_mean' or 'confidence', got {score_column!r}")
    rows = rows.sorted_by_frame()
    tracker.reset()
    column = ExactMeanScores() if score_column == 'exact_mean' else None
    if n_frames is None:
        n_frames = int(rows.frame.max()) + 1 if len(rows) else 0
    if poses is not None and (np.ndim(poses) != 3 or len(poses) < n_frames):
        raise ShapeError(f'track_sequence: poses must be ({n_frames}, 4, 4) or longer, got shape {np.shape(poses)}')
    bounds = np.searchsorted(rows.frame, np.arange(n_frames + 1))
    parts: list[KittiTrackRows] = []
    last_bbox: dict[int, np.ndarray] = {}
    seconds = 0.0
    for frame in range(n_frames):
        frame_rows = rows.select(np.arange(bounds[frame], bounds[frame + 1]))
        dets = rows_to_detections(frame_rows, T_rect_lidar) if len(frame_rows) else ObjectLabels.empty()
        start = time.perf_counter()
        tracks = tracker.update(dets, stamp_ns=frame * frame_period_ns,
                                pose=None if poses is None else poses[frame])
        seconds += time.perf_counter() - start
        out = tracks_to_rows(tracks, frame, T_rect_lidar, camera=camera, last_bbox=last_bbox)
        if column is not None and len(out):
            out = KittiTrackRows(out.frame, out.track_id,
                                 dataclasses.replace(out.labels, score=column(out.track_id, out.labels.score)))
        parts.append(out)
    return KittiTrackRows.concatenate(parts), seconds


def detection_sources(dirs: list[Path]) -> dict[int, list[tuple[str, Path]]]:
    """seq number -> [(kind, path)] over every folder of detections; kind 'ab3dmot' (a file) or 'kitti' (a folder).

    Args:
        dirs: folders holding <seq>.txt AB3DMOT detection files and/or <seq>/ folders of KITTI object results.

    Raises:
        NotADirectoryError: a folder is missing.
        FormatError: a folder holds no sequence.
    """
    found: dict[int, list[tuple[str, Path]]] = {}
    for d in dirs:
        if not d.is_dir():
            raise NotADirectoryError(20, 'not a folder of detections', str(d))
        entries = 0
        for p in sorted(d.iterdir()):
            if not p.stem.isdigit():
                continue
            if p.is_file() and p.suffix == '.txt':
                found.setdefault(int(p.stem), []).append(('ab3dmot', p))
                entries += 1
            elif p.is_dir():
                found.setdefault(int(p.stem), []).append(('kitti', p))
                entries += 1
        if not entries:
            raise FormatError(f'{d}: no sequence found: expected <seq>.txt files (AB3DMOT detections) or <seq>/ '
                              'folders of KITTI object result files')
    return found


def read_detection_sequence(sources: list[tuple[str, Path]]) -> KittiTrackRows:
    """The detections of one sequence from its `detection_sources` entries, merged and sorted by frame.

    Args:
        sources: (kind, path) pairs: 'ab3dmot' a detection file, 'kitti' a folder of <frame>.txt object results.
    """
    parts = []
    for kind, path in sources:
        if kind == 'ab3dmot':
            parts.append(read_ab3dmot_detections(path))
        else:
            for f in sorted(path.glob('*.txt')):
                if not f.stem.isdigit():
                    continue
                labels = read_kitti_label(f, require_score=True)
                n = len(labels)
                parts.append(KittiTrackRows(np.full(n, int(f.stem)), np.full(n, -1), labels))
    return KittiTrackRows.concatenate(parts).sorted_by_frame()
