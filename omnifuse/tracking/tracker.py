"""`MultiObjectTracker`: tracks with stable ids and velocities from any detector's 3D boxes.

Per frame (`update`), for each class on its own:
  1. predict every track to the frame's stamp with its Kalman filter (dt from the stamps, so dropped frames
     are simply a longer step);
  2. associate predicted tracks and detections (affinity and assignment per class, `ClassParams`;
     optionally a second stage that lets low-score detections extend existing tracks only);
  3. correct matched tracks (a detection facing backwards is turned around first);
  4. start a tentative track from every unmatched detection scoring at least `birth_score`;
  5. delete tracks unmatched for more than `max_age` frames (`max_age_tentative` before confirmation);
  6. report confirmed tracks (`min_hits` matches) that matched now or coast for at most `report_coasting`
     frames.

With the ego pose (`pose=world_T_lidar`) the filter runs in the world frame: a parked car stays still while
the vehicle drives, and velocities are over ground. Without it the LiDAR frame is the tracking frame and
velocities are relative to the sensor. Reported boxes and velocities are always in the LiDAR frame of the
frame just given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from omnifuse.errors import OmnifuseError, ShapeError
from omnifuse.structures.boxes3d import Boxes3D
from omnifuse.structures.frame import ObjectLabels
from omnifuse.structures.tracks import Tracks
from omnifuse.tracking.association import affinity, assign
from omnifuse.tracking.config import ClassParams, TrackerConfig
from omnifuse.tracking.kalman import BoxKalman

__all__ = ['MultiObjectTracker', 'report_policy']


@dataclass
class _Track:
    id: int
    name: str
    kf: BoxKalman
    params: ClassParams
    score: float
    bbox_2d: np.ndarray
    hits: int = 1
    time_since_update: int = 0
    score_sum: float = 0.0
    matched_now: bool = True
    history: list = field(default_factory=list)

    @property
    def confirmed(self) -> bool:
        return self.hits >= self.params.min_hits


def report_policy(p: ClassParams, *, hits: np.ndarray, time_since_update: np.ndarray, last_score: np.ndarray,
                  mean_score: np.ndarray, warmup: bool | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which live tracks of one class are reported, and their scores (ClassParams, "Scores").

    Args:
        p: the class's parameters.
        hits: (M,) detections matched per live track.
        time_since_update: (M,) frames since each track last matched.
        last_score: (M,) the last matched detection's score.
        mean_score: (M,) the mean score of the detections matched so far.
        warmup: the tracker is in its first `warmup_frames` frames after a reset (bool, or (M,) per track).

    Returns:
        (M,) bool reported, (M,) float64 score.
    """
    hits = np.asarray(hits, np.int64)
    tsu = np.asarray(time_since_update, np.int64)
    last_score = np.asarray(last_score, np.float64)
    warmup = np.broadcast_to(np.asarray(warmup, bool), hits.shape)
    confirmed = hits >= p.min_hits
    tentative_ok = p.report_tentative & (last_score >= p.tentative_min_score)
    keep = (tsu <= p.report_coasting) & (confirmed | warmup | tentative_ok)
    base = np.asarray(mean_score, np.float64) if p.score_mode == 'mean' else last_score
    bonus = p.hits_bonus * np.log(np.minimum(hits, p.hits_bonus_cap)) if p.hits_bonus else 0.0
    penalty = np.where(confirmed | warmup, 0.0, p.tentative_penalty)
    return keep, base + bonus - p.coast_score_decay * tsu - penalty


class MultiObjectTracker:
    """3D multi-object tracker: Kalman filter per track, per-class association, confirmation and coasting.

    Args:
        config: the parameters (`TrackerConfig()`: tuned on KITTI with PointRCNN detections).

    Example:
        >>> tracker = MultiObjectTracker(TrackerConfig())
        >>> tracks = tracker.update(detections, stamp_ns=stamp)          # LiDAR frame in, LiDAR frame out
        >>> tracks = tracker.update(detections, stamp_ns=stamp, pose=world_T_lidar)   # with ego motion
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.reset()

    def reset(self) -> None:
        """Forget every track (ids keep counting up, so an id is never reused by one tracker)."""
        self._tracks: list[_Track] = []
        self._last_stamp: int | None = None
        self._use_pose: bool | None = None
        self._frames = 0
        if not hasattr(self, '_next_id'):
            self._next_id = 1

    @property
    def frame_count(self) -> int:
        """Updates since the last reset."""
        return self._frames

    def update(self, detections: ObjectLabels, *, stamp_ns: int, pose: np.ndarray | None = None) -> Tracks:
        """Advance the tracks to one frame and correct them with its detections.

        Args:
            detections: the frame's detections (boxes in its LiDAR frame, names, scores; `bbox_2d` rows are
                passed through to the tracks they match). Scores None count as 1.
            stamp_ns: time of the frame [int ns]; must not go backwards (call `reset` first).
            pose: (4, 4) world_T_lidar of this frame, or None. Give it on every frame or on none.

        Returns:
            The reported tracks, LiDAR frame of this frame.

        Raises:
            OmnifuseError: the stamp went backwards, or the pose was given on some frames only.
            ShapeError: a pose that is not a finite (4, 4) matrix.
        """
        stamp_ns = int(stamp_ns)
        use_pose = pose is not None
        if self._use_pose is not None and use_pose != self._use_pose:
            raise OmnifuseError('tracker: the ego pose must be given on every frame or on none '
                                f'(got {"one" if use_pose else "none"} after {self._frames} frames '
                                f'{"without" if use_pose else "with"}); call reset() to switch')
        if self._last_stamp is not None and stamp_ns < self._last_stamp:
            raise OmnifuseError(f'tracker: stamp {stamp_ns} ns is before the previous one ({self._last_stamp} ns); '
                                'call reset() when time jumps back')
        T_world_lidar = np.eye(4)
        if use_pose:
            T_world_lidar = np.asarray(pose, dtype=np.float64)
            if T_world_lidar.shape != (4, 4) or not np.isfinite(T_world_lidar).all():
                raise ShapeError(f'tracker: pose must be a finite (4, 4) world_T_lidar matrix, got shape '
                                 f'{T_world_lidar.shape}')
        dt = 0.0 if self._last_stamp is None else (stamp_ns - self._last_stamp) * 1e-9
        self._use_pose = use_pose
        self._last_stamp = stamp_ns
        self._frames += 1

        boxes = detections.boxes.data
        if use_pose:
            boxes = detections.boxes.transformed(T_world_lidar, 'world').data
        scores = (np.ones(len(detections)) if detections.scores is None
                  else np.asarray(detections.scores, np.float64))
        names = list(detections.names)

        for trk in self._tracks:
            trk.kf.predict(dt)
            trk.time_since_update += 1
            trk.matched_now = False

        for name in sorted(set(names) | {t.name for t in self._tracks}):
            det_idx = np.array([i for i, n in enumerate(names) if n == name], dtype=np.int64)
            self._step_class(name, det_idx, boxes, scores, detections.bbox_2d)

        self._tracks = [t for t in self._tracks if t.time_since_update <= (
            t.params.max_age if t.confirmed else t.params.max_age_tentative)]
        return self._report(np.linalg.inv(T_world_lidar) if use_pose else None)

    # ---- one class ----
    def _step_class(self, name: str, det_idx: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
                    bbox_2d: np.ndarray) -> None:
        p = self.config.params(name)
        tracks = [t for t in self._tracks if t.name == name]
        det_boxes = boxes[det_idx]
        det_scores = scores[det_idx]
        high = det_scores >= p.birth_score if p.second_stage else np.ones(len(det_idx), bool)
        first = np.nonzero(high)[0]
        pred = np.array([t.kf.box for t in tracks]).reshape(-1, 7)
        threshold = -p.match_threshold if p.metric == 'distance' else p.match_threshold
        aff = affinity(pred, det_boxes[first], p.metric, gate_distance=p.gate_distance, floor=threshold)
        matched, free_trk, _ = assign(aff, threshold, p.algorithm)
        pairs = [(int(r), int(first[c])) for r, c in matched]
        if p.second_stage:
            low = np.nonzero(~high)[0]
            if len(low) and len(free_trk):
                thr2 = -p.second_threshold if p.metric == 'distance' else p.second_threshold
                aff2 = affinity(pred[free_trk], det_boxes[low], p.metric, gate_distance=p.gate_distance,
                                floor=thr2)
                m2, _, _ = assign(aff2, thr2, p.algorithm)
                pairs += [(int(free_trk[r]), int(low[c])) for r, c in m2]
        used = np.zeros(len(det_idx), bool)
        for r, c in pairs:
            trk = tracks[r]
            trk.kf.update(det_boxes[c])
            trk.hits += 1
            trk.time_since_update = 0
            trk.matched_now = True
            trk.score = float(det_scores[c])
            trk.score_sum += trk.score
            trk.bbox_2d = bbox_2d[det_idx[c]].astype(np.float64)
            used[c] = True
        for u in np.nonzero(~used)[0]:
            if det_scores[u] < p.birth_score:
                continue
            trk = _Track(self._next_id, name, BoxKalman(det_boxes[u], p), p, float(det_scores[u]),
                         bbox_2d[det_idx[u]].astype(np.float64), score_sum=float(det_scores[u]))
            self._next_id += 1
            self._tracks.append(trk)

    def _report(self, T_lidar_world: np.ndarray | None) -> Tracks:
        keep = np.zeros(len(self._tracks), bool)
        scores = np.zeros(len(self._tracks))
        groups: dict[int, list[int]] = {}
        for i, t in enumerate(self._tracks):
            groups.setdefault(id(t.params), []).append(i)
        for idx in groups.values():
            tr = [self._tracks[i] for i in idx]
            p = tr[0].params
            k, sc = report_policy(p, hits=np.array([t.hits for t in tr]),
                                  time_since_update=np.array([t.time_since_update for t in tr]),
                                  last_score=np.array([t.score for t in tr]),
                                  mean_score=np.array([t.score_sum / t.hits for t in tr]),
                                  warmup=self._frames <= p.warmup_frames)
            keep[idx], scores[idx] = k, sc
        out = [t for t, k in zip(self._tracks, keep, strict=True) if k]
        if not out:
            return Tracks.empty(self.config.frame)
        boxes = np.array([t.kf.box for t in out])
        vel = np.array([t.kf.velocity for t in out])
        if T_lidar_world is not None:
            boxes = Boxes3D(boxes, 'world').transformed(T_lidar_world, self.config.frame).data
            vel = vel @ T_lidar_world[:3, :3].T
        bbox = np.array([t.bbox_2d if t.time_since_update == 0 else np.full(4, np.nan) for t in out])
        return Tracks(ids=np.array([t.id for t in out], np.int64), boxes=Boxes3D(boxes, self.config.frame),
                      names=[t.name for t in out], scores=scores[keep],
                      velocities=vel, bbox_2d=bbox, time_since_update=np.array([t.time_since_update for t in out]),
                      hits=np.array([t.hits for t in out]))
