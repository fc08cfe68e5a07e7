"""Tracking on the robot and in replay: one tracker fed frame by frame, robust to what a live stream does.

`TrackingStage` owns a `MultiObjectTracker` (omnifuse.tracking) and decides, per LiDAR frame, what to do with
it; it never raises on stream events:

    event (AssembledFrame / PerceptionOutputs)        what the tracks do
    detections arrived (models ran)                   update: predict to the stamp, associate, correct
    frame skipped (models busy), model error,         coast: the last tracks moved on at their velocity to
      unusable LiDAR message (no detections known)      this stamp; the tracker state is left untouched, so a
                                                        skipped frame is no miss (tracks do not die of it)
    late LiDAR message (stamp before the last one)    coast as above (a tracker cannot go back in time)
    time jumped backwards (`sync.jump_back_ms`)       reset: every track forgotten, then update
    ego pose became (un)available                      reset (the tracker works in one frame or the other),
                                                        with a note in /diagnostics

The ego pose (`frame.meta['world_T_lidar']`, set by `FrameAssembler` from /tf odom -> base_link when the robot
publishes it, see `PoseBuffer`) makes the tracker work in the odometry frame: parked cars stay put while the
robot drives and velocities are over ground. Without it the tracker works in the LiDAR frame (velocities
relative to the sensor). Tracks are always reported in the LiDAR frame of their frame.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from omnifuse.errors import FormatError, OmnifuseError
from omnifuse.structures import Boxes3D, ObjectLabels
from omnifuse.structures.tracks import Tracks

__all__ = ['TrackingStage', 'TrackStep', 'PoseBuffer', 'tracker_config']


def tracker_config(params: Mapping[str, Any]) -> Any:
    """The `TrackerConfig` of the node params' `tracking.tracker` section (over the tuned defaults).

    Raises:
        FormatError: naming the parameter (`tracking.tracker....`).
    """
    from omnifuse.tracking import TrackerConfig

    section = (params.get('tracking', {}) or {}).get('tracker', {}) or {}
    try:
        return TrackerConfig.from_dict(section)
    except FormatError as exc:
        raise FormatError(f'parameter tracking.{exc}') from None


@dataclass
class TrackStep:
    """What the stage did on one frame.

    Attributes:
        tracks: the tracks to publish (LiDAR frame of this frame).
        mode: 'update', 'coast' or 'reset' (reset, then update).
        note: a warning for /diagnostics, or ''.
        ms: wall time of the tracker [ms].
    """

    tracks: Tracks
    mode: str
    note: str = ''
    ms: float = 0.0


class TrackingStage:
    """Frame-by-frame tracking for the node and replay (see the module docstring).

    Args:
        tracker: an object with `update(detections, *, stamp_ns, pose) -> Tracks` and `reset()`
            (`omnifuse.tracking.MultiObjectTracker`).
        ego_motion: pass the frames' ego pose to the tracker when they carry one.
    """

    def __init__(self, tracker: Any, *, ego_motion: bool = True) -> None:
        self.tracker = tracker
        self.ego_motion = bool(ego_motion)
        self._last: tuple[int, Tracks, np.ndarray | None] | None = None  # stamp, tracks, world_T_lidar
        self._use_pose: bool | None = None
        self.counts = {'update': 0, 'coast': 0, 'reset': 0}
        # The node answers skipped frames on its executor thread while the worker thread runs the models.
        self._lock = threading.RLock()

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> TrackingStage | None:
        """The stage the `tracking` params describe; None when `tracking.enabled` is false."""
        from omnifuse.ros_nodes.params import default

        section = {**default('tracking'), **(params.get('tracking', {}) or {})}
        if not bool(section['enabled']):
            return None
        from omnifuse.tracking import MultiObjectTracker

        return cls(MultiObjectTracker(tracker_config(params)), ego_motion=bool(section['ego_motion']))

    def reset(self) -> None:
        """Forget every track (ids keep counting up)."""
        with self._lock:
            self.tracker.reset()
            self._last = None
            self._use_pose = None

    def step(self, stamp_ns: int, objects: ObjectLabels | None, *, pose: np.ndarray | None = None,
             reset: bool = False, late: bool = False, frame_id: str = 'lidar') -> TrackStep:
        """Advance the tracks to one frame.

        Args:
            stamp_ns: the frame's LiDAR stamp.
            objects: its detections (LiDAR frame), or None when none are known (skipped, model error,
                unusable LiDAR message): the tracks coast.
            pose: (4, 4) world_T_lidar of the frame, or None.
            reset: time jumped backwards before this frame: forget the tracks first.
            late: the frame is older than one already tracked: coast.
            frame_id: frame name of the reported boxes.
        """
        import time

        t0 = time.perf_counter()
        with self._lock:
            step = self._step(stamp_ns, objects, pose, reset, late, frame_id)
        step.ms = (time.perf_counter() - t0) * 1e3
        return step

    def _step(self, stamp_ns: int, objects: ObjectLabels | None, pose: np.ndarray | None, reset: bool, late: bool,
              frame_id: str) -> TrackStep:
        pose = None if pose is None or not self.ego_motion else np.asarray(pose, np.float64)
        note, mode = '', 'update'
        if reset:
            self.reset()
            mode = 'reset'
        last_stamp = self._last[0] if self._last is not None else None
        if objects is None or late or (last_stamp is not None and stamp_ns < last_stamp):
            tracks = self.coast(stamp_ns, pose, frame_id=frame_id)
            mode = 'coast'
        else:
            if self._use_pose is not None and (pose is not None) != self._use_pose:
                note = ('tracking: ego pose (odometry /tf) ' + ('now available' if pose is not None else 'lost')
                        + ': tracks restarted')
                self.reset()
                mode = 'reset'
            tracks = self.tracker.update(objects, stamp_ns=int(stamp_ns), pose=pose)
            if tracks.boxes.frame != frame_id:
                tracks = _with_frame(tracks, frame_id)
            self._use_pose = pose is not None
            self._last = (int(stamp_ns), tracks, pose)
        self.counts[mode] += 1
        return TrackStep(tracks, mode, note)

    def coast(self, stamp_ns: int, pose: np.ndarray | None = None, *, frame_id: str = 'lidar') -> Tracks:
        """The last tracks moved at their velocity to `stamp_ns` (the tracker is not changed).

        With poses on both frames the motion is applied over ground and the boxes re-expressed in the new
        LiDAR frame; otherwise in the LiDAR frame (velocities are then relative to the sensor).
        """
        if self._last is None:
            return Tracks.empty(frame_id)
        last_stamp, last, last_pose = self._last
        if not len(last):
            return _with_frame(last, frame_id)
        dt = (int(stamp_ns) - last_stamp) * 1e-9
        boxes = last.boxes.data.copy()
        vel = last.velocities.copy()
        boxes[:, :3] += vel * dt
        if pose is not None and last_pose is not None:
            T = np.linalg.inv(pose) @ last_pose  # new_lidar <- old_lidar
            boxes = Boxes3D(boxes, frame_id).transformed(T, frame_id).data
            vel = vel @ T[:3, :3].T
        return Tracks(last.ids.copy(), Boxes3D(boxes, frame_id), list(last.names), last.scores.copy(), vel,
                      np.full((len(last), 4), np.nan), last.time_since_update + 1, last.hits.copy())


def _with_frame(tracks: Tracks, frame_id: str) -> Tracks:
    return Tracks(tracks.ids, Boxes3D(tracks.boxes.data, frame_id), tracks.names, tracks.scores, tracks.velocities,
                  tracks.bbox_2d, tracks.time_since_update, tracks.hits)


class PoseBuffer:
    """The odometry pose (`odom_frame` -> `base_frame` edges of /tf) over time, for the tracker's ego motion.

    `pose_at(stamp_ns)` interpolates between the two samples around the stamp (translation linearly, rotation
    along the shortest arc) and extrapolates from the last two samples up to `tolerance_ns` beyond them; further
    away it answers None (no ego motion for that frame).

    Args:
        odom_frame, base_frame: the edge to follow.
        tolerance_ns: how far past the first / last sample a stamp may lie.
        max_samples: samples kept (oldest dropped).
    """

    def __init__(self, odom_frame: str = 'odom', base_frame: str = 'base_link', *, tolerance_ns: int = 100_000_000,
                 max_samples: int = 400) -> None:
        if tolerance_ns < 0:
            raise OmnifuseError(f'tracking.tf_tolerance_ms must be >= 0, got {tolerance_ns / 1e6}')
        self.odom_frame, self.base_frame = str(odom_frame), str(base_frame)
        self.tolerance_ns = int(tolerance_ns)
        self._samples: deque[tuple[int, np.ndarray]] = deque(maxlen=int(max_samples))

    def __len__(self) -> int:
        return len(self._samples)

    def add(self, parent: str, child: str, matrix: np.ndarray, stamp_ns: int) -> bool:
        """Keep the edge if it is odom -> base; returns whether it was kept. A stamp older than the newest sample
        by more than a second (time jumped back) clears the buffer first."""
        if parent.lstrip('/') != self.odom_frame.lstrip('/') or child.lstrip('/') != self.base_frame.lstrip('/'):
            return False
        stamp_ns = int(stamp_ns)
        if self._samples and stamp_ns < self._samples[-1][0] - 1_000_000_000:
            self._samples.clear()
        T = np.asarray(matrix, np.float64)
        if self._samples and stamp_ns <= self._samples[-1][0]:  # out of order: insert in place
            items = [s for s in self._samples if s[0] != stamp_ns] + [(stamp_ns, T)]
            items.sort(key=lambda s: s[0])
            self._samples.clear()
            self._samples.extend(items)
        else:
            self._samples.append((stamp_ns, T))
        return True

    def clear(self) -> None:
        """Forget every sample."""
        self._samples.clear()

    def pose_at(self, stamp_ns: int) -> np.ndarray | None:
        """T_odom_base (4, 4) at `stamp_ns`, or None (no sample close enough)."""
        s = self._samples
        if not s:
            return None
        stamp_ns = int(stamp_ns)
        if len(s) == 1:
            return s[0][1].copy() if abs(stamp_ns - s[0][0]) <= self.tolerance_ns else None
        if stamp_ns < s[0][0] - self.tolerance_ns or stamp_ns > s[-1][0] + self.tolerance_ns:
            return None
        stamps = [t for t, _ in s]
        import bisect

        k = bisect.bisect_right(stamps, stamp_ns)
        k = min(max(k, 1), len(s) - 1)  # the pair (k - 1, k) around the stamp, or the nearest pair at the ends
        (t0, T0), (t1, T1) = s[k - 1], s[k]
        if t1 == t0:
            return T1.copy()
        return _interpolate(T0, T1, (stamp_ns - t0) / (t1 - t0))


def _interpolate(T0: np.ndarray, T1: np.ndarray, a: float) -> np.ndarray:
    """Pose at fraction `a` from T0 to T1 (a outside [0, 1] extrapolates)."""
    from scipy.spatial.transform import Rotation

    rel = Rotation.from_matrix(T0[:3, :3].T @ T1[:3, :3]).as_rotvec()
    out = np.eye(4)
    out[:3, :3] = T0[:3, :3] @ Rotation.from_rotvec(rel * a).as_matrix()
    out[:3, 3] = T0[:3, 3] + a * (T1[:3, 3] - T0[:3, 3])
    return out
