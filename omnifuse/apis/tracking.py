"""Tracking over a run of frames (`omnifuse detect --track`, `make demo`): one tracker, reset per sequence,
KITTI tracking result rows per sequence.

Where a frame belongs (`frame_place`):
    - sequence: `meta['sequence']` (the simulator writes it), else 0 (a KITTI folder is one sequence);
    - index within the sequence: `meta['frame_in_sequence']`, else the frame's position in the run (0, 1, ...);
    - stamp: the frame's own stamp (`stamp_ns`, from the simulator's meta) when it has one, else the index at
      10 Hz (KITTI's LiDAR rate);
    - ego pose: `meta['world_T_lidar']` when the frame carries it (simulator), else none.
The tracker is reset when the sequence changes or time goes backwards.

Result rows (`omnifuse.tracking.kitti_io.tracks_to_rows`) are those of the tracks in the main camera's view
(the box's centre in front of the camera and its projection overlapping the image), as KITTI's tracking
benchmark scores only those; the tracker itself sees every detection, all around.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from omnifuse.structures import Boxes3D, CameraModel, ObjectLabels, SensorFrame
from omnifuse.structures.boxes3d import clip_image_boxes, meets_image
from omnifuse.structures.kitti_tracking import KittiTrackRows, write_kitti_tracking
from omnifuse.structures.tracks import Tracks

__all__ = ['FramePlace', 'frame_place', 'SequenceTracker', 'camera_view', 'FRAME_PERIOD_NS']

FRAME_PERIOD_NS = 100_000_000  # 10 Hz, KITTI's LiDAR rate


@dataclass(frozen=True)
class FramePlace:
    """Where a frame sits: sequence, index within it, stamp [ns], ego pose (4, 4) or None."""

    sequence: int
    index: int
    stamp_ns: int
    pose: np.ndarray | None = None


def frame_place(frame: SensorFrame, position: int) -> FramePlace:
    """The frame's place (see the module docstring); `position` = its index in the run of its sequence."""
    meta = frame.meta or {}
    sequence = int(meta.get('sequence', 0))  # type: ignore[call-overload]
    index = int(meta.get('frame_in_sequence', position))  # type: ignore[call-overload]
    stamp = int(frame.stamp_ns or 0) or index * FRAME_PERIOD_NS
    pose = meta.get('world_T_lidar')
    pose_arr = None
    if pose is not None:
        pose_arr = np.asarray(pose, np.float64)
        if pose_arr.shape != (4, 4) or not np.isfinite(pose_arr).all():
            pose_arr = None
    return FramePlace(sequence, index, stamp, pose_arr)


def camera_view(boxes: np.ndarray, camera: CameraModel, image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Which (N, 7) LiDAR-frame boxes the camera sees, and their image boxes clipped to `image_size`.

    Returns:
        (N,) bool (centre in front of the camera, projection overlapping the image) and (N, 4) image boxes
        (x1, y1, x2, y2), NaN where not seen.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 7)
    if not len(boxes):
        return np.zeros(0, bool), np.zeros((0, 4))
    width, height = image_size
    proj = Boxes3D(boxes).project_to_image(camera, clip=False)
    centre = boxes[:, :3] @ camera.T_cam_lidar[:3, :3].T + camera.T_cam_lidar[:3, 3]
    seen = np.isfinite(proj).all(1) & (centre[:, 2] > 0.1) & meets_image(proj, width, height)
    bbox = clip_image_boxes(proj, width, height)
    bbox[~seen] = np.nan
    return seen, bbox


@dataclass
class _Sequence:
    rows: list[KittiTrackRows] = field(default_factory=list)
    last_bbox: dict[int, np.ndarray] = field(default_factory=dict)
    count: int = 0


class SequenceTracker:
    """Runs one `MultiObjectTracker` over frames in order and collects KITTI tracking rows per sequence.

    Args:
        config: a `TrackerConfig` (default: the tuned one).
        camera: the main camera's name (its view selects the rows written).

    Example:
        >>> seq = SequenceTracker()
        >>> place, tracks = seq(frame, detections, image_size=(1242, 375))
        >>> seq.write(out / 'tracking')        # <seq:04d>.txt per sequence
    """

    def __init__(self, config: Any = None, *, camera: str = 'image_2') -> None:
        from omnifuse.tracking import MultiObjectTracker

        self.tracker = MultiObjectTracker(config)
        self.camera = camera
        self.sequences: dict[int, _Sequence] = {}
        self._current: int | None = None
        self._last_stamp: int | None = None
        self._pose_mode: bool | None = None
        self.resets = 0

    def _reset(self) -> None:
        self.tracker.reset()
        self._last_stamp = None
        self._pose_mode = None
        self.resets += 1

    def __call__(self, frame: SensorFrame, detections: ObjectLabels, *,
                 image_size: tuple[int, int] | None = None) -> tuple[FramePlace, Tracks]:
        """Track one frame's detections (LiDAR frame); returns the frame's place and its tracks.

        The detections' image boxes are replaced by their projection into the main camera (clipped to
        `image_size`, default the camera's size), which the tracks carry into the result rows.
        """
        seq = self.sequences.setdefault(int(frame.meta.get('sequence', 0)), _Sequence())  # type: ignore[call-overload]
        place = frame_place(frame, seq.count)
        seq.count += 1
        if place.sequence != self._current or (self._last_stamp is not None and place.stamp_ns < self._last_stamp) \
                or (self._pose_mode is not None and self._pose_mode != (place.pose is not None)):
            self._reset()
            self._current = place.sequence
        camera = frame.calib.cameras.get(self.camera) if frame.calib is not None else None
        size = image_size or ((camera.width, camera.height) if camera is not None else (0, 0))
        dets = detections
        if camera is not None and size[0] > 0 and len(detections):
            _, bbox = camera_view(detections.boxes.data, camera, size)
            dets = ObjectLabels(detections.boxes, list(detections.names), detections.truncated,
                                detections.occluded, detections.alpha, bbox, detections.scores)
        tracks = self.tracker.update(dets, stamp_ns=place.stamp_ns, pose=place.pose)
        self._last_stamp = place.stamp_ns
        self._pose_mode = place.pose is not None
        if camera is not None and frame.calib is not None and size[0] > 0:
            from omnifuse.tracking.kitti_io import tracks_to_rows

            seen, _ = camera_view(tracks.boxes.data, camera, size)
            rows = tracks_to_rows(tracks.select(seen), place.index, frame.calib.T_rect_lidar, camera=camera,
                                  last_bbox=seq.last_bbox, image_size=size)
            seq.rows.append(rows)
        return place, tracks

    def write(self, folder: str | Path) -> list[Path]:
        """Write `<folder>/<seq:04d>.txt` (KITTI tracking results, 18 columns) for every sequence tracked."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for number, seq in sorted(self.sequences.items()):
            path = folder / f'{number:04d}.txt'
            write_kitti_tracking(path, KittiTrackRows.concatenate(seq.rows), with_score=True)
            paths.append(path)
        return paths
