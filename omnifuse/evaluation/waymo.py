"""Waymo Open Dataset 3D detection metrics (AP and APH at LEVEL_1 and LEVEL_2), without TensorFlow.

The definitions follow the official C++ metrics of waymo-research/waymo-open-dataset (metrics/
detection_metrics.cc, metrics_utils.cc, matcher.cc, breakdown_generator.cc, and the command-line tool
compute_detection_metrics_main.cc whose config the leaderboard uses); this is an independent
implementation of those facts:

- Boxes are (cx, cy, cz, length, width, height, heading) in the vehicle frame, the same convention as
  omnifuse's (x, y, z, dx, dy, dz, yaw): geometric centre, heading CCW about +z.
- Ground truth with `num_lidar_points_in_box == 0` is dropped; ground truth without a difficulty gets
  LEVEL_2 when it holds <= 5 points, else LEVEL_1 (LEVEL_1 as well when the point count is unknown).
- Per frame and per breakdown shard, predictions with score >= each cut-off (0.00, 0.01, ..., 0.99,
  1.00, float32) are matched to the ground truth by a Hungarian assignment that maximises the sum of
  IoUs quantised to 1e-6; a pair is a candidate only when both have the same type and their 7-DoF 3D
  IoU reaches the type's threshold (VEHICLE 0.7, PEDESTRIAN / CYCLIST / SIGN 0.5). A box with a
  dimension <= 0.01 m or >= 1e6 m overlaps nothing.
- A matched prediction is a TP at every difficulty level, whatever the level of its ground truth; an
  unmatched prediction is a FP; an unmatched ground truth is a FN at level L only if its level is <= L.
  So LEVEL_1 differs from LEVEL_2 only by its false negatives (LEVEL_2 ground truth does not need to
  be found at LEVEL_1, and finding it still counts).
- Heading accuracy of a TP: 1 - |dheading| / pi with dheading wrapped to [-pi, pi]. APH uses the
  precision sum(heading accuracy) / (TP + FP) and the ordinary recall.
- AP: `compute_mean_average_precision` (the PR curve made monotone, gaps in recall filled every
  delta = 0.05, trapezoid rule). A cut-off with recall 0 has precision 1.
- Breakdowns: OBJECT_TYPE (all boxes of a type) and RANGE (type x distance of the box centre from the
  origin, sqrt(x^2 + y^2 + z^2), in [0, 30), [30, 50), [50, +inf) m). Predictions are put into range
  shards by their own centre, so a prediction and a ground truth on both sides of a boundary never match
  in the RANGE breakdown.

Speed: candidate pairs are found per (frame, type) group with cheap bounds and only those get the exact
rotated IoU (`box_iou_3d_aligned`). Matching splits into connected components of the candidate graph;
a lone prediction or ground truth and a one-to-one pair are scored for all cut-offs at once, and only a
component with several boxes is re-matched, once per distinct set of its predictions above a cut-off
(the official code re-matches per cut-off; the result is the same up to ties between equal-sum
assignments).

A breakdown that has no ground truth at a level reports AP = APH = None (JSON null), and the mean
mAPH_L2 averages VEHICLE, PEDESTRIAN and CYCLIST over those that have ground truth, as the leaderboard.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from omnifuse.errors import FormatError, OmnifuseError, ShapeError

__all__ = ['TYPES', 'LEVELS', 'RANGE_NAMES', 'IOU_THRESHOLDS', 'SCORE_CUTOFFS', 'LEADERBOARD_TYPES',
           'WaymoObjects', 'assign_difficulty', 'heading_accuracy', 'compute_mean_average_precision',
           'match_frame', 'evaluate_waymo', 'read_waymo_objects', 'read_objects_jsonl', 'read_objects_bin',
           'format_waymo_table']

TYPES = ('VEHICLE', 'PEDESTRIAN', 'CYCLIST', 'SIGN')
LEVELS = ('LEVEL_1', 'LEVEL_2')
LEADERBOARD_TYPES = ('VEHICLE', 'PEDESTRIAN', 'CYCLIST')
RANGE_NAMES = ('[0, 30)', '[30, 50)', '[50, +inf)')
RANGE_EDGES = (30.0, 50.0)
IOU_THRESHOLDS: Mapping[str, float] = {'VEHICLE': 0.7, 'PEDESTRIAN': 0.5, 'CYCLIST': 0.5, 'SIGN': 0.5}
SCORE_CUTOFFS = np.array([i * 0.01 for i in range(100)] + [1.0], dtype=np.float32)
LEVEL_2_MAX_POINTS = 5

_MAX_IOU = 1_000_000  # quantisation of the matching weights (kMaxIoU)
_MIN_DIM, _MAX_DIM = 1e-2, 1e6
_PROTO_TYPES = {1: 'VEHICLE', 2: 'PEDESTRIAN', 3: 'SIGN', 4: 'CYCLIST'}  # label.proto Label.Type


@dataclass(frozen=True)
class WaymoObjects:
    """Boxes of many frames as flat arrays (ground truth or predictions).

    Attributes:
        frames: (N,) frame names (str), e.g. '<context>_<timestamp_micros>'.
        types: (N,) int64 indices into `TYPES`.
        boxes: (N, 7) float64 (cx, cy, cz, length, width, height, heading), vehicle/LiDAR frame.
        scores: (N,) float32 confidences (1 for ground truth).
        num_points: (N,) int64 LiDAR points in the box, -1 when unknown.
        difficulty: (N,) int64 detection difficulty 1 or 2, 0 when unknown.
    """

    frames: np.ndarray
    types: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    num_points: np.ndarray
    difficulty: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.frames)
        boxes = np.asarray(self.boxes, dtype=np.float64)
        if boxes.size == 0:
            boxes = boxes.reshape(0, 7)
        if boxes.shape != (n, 7):
            raise ShapeError(f'WaymoObjects: expected ({n}, 7) boxes, got {boxes.shape}')
        object.__setattr__(self, 'boxes', boxes)
        object.__setattr__(self, 'frames', np.asarray(self.frames, dtype=str).reshape(n))
        for name, dtype in (('types', np.int64), ('scores', np.float32), ('num_points', np.int64),
                            ('difficulty', np.int64)):
            value = np.asarray(getattr(self, name), dtype=dtype).reshape(-1)
            if len(value) != n:
                raise ShapeError(f'WaymoObjects.{name}: expected {n} values, got {len(value)}')
            object.__setattr__(self, name, value)
        if n and (self.types.min() < 0 or self.types.max() >= len(TYPES)):
            raise ShapeError(f'WaymoObjects.types: expected indices 0..{len(TYPES) - 1} into {TYPES}')

    def __len__(self) -> int:
        return len(self.frames)

    @classmethod
    def create(cls, frames: Sequence[str] | np.ndarray, types: Sequence[str | int] | np.ndarray,
               boxes: np.ndarray, *, scores: np.ndarray | None = None, num_points: np.ndarray | None = None,
               difficulty: np.ndarray | None = None) -> WaymoObjects:
        """Build from per-box values; `types` are names in `TYPES` or indices; missing fields get defaults."""
        n = len(frames)
        type_idx = np.array([TYPES.index(t) if isinstance(t, str) else int(t) for t in types], dtype=np.int64)
        return cls(np.asarray(frames, dtype=str).reshape(n), type_idx,
                   np.asarray(boxes, dtype=np.float64).reshape(n, 7),
                   np.ones(n, np.float32) if scores is None else scores,
                   np.full(n, -1) if num_points is None else num_points,
                   np.zeros(n, np.int64) if difficulty is None else difficulty)

    @classmethod
    def concatenate(cls, parts: Iterable[WaymoObjects]) -> WaymoObjects:
        """All boxes of `parts`, in order."""
        parts = list(parts)
        if not parts:
            return cls.create([], [], np.zeros((0, 7)))
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                     ('frames', 'types', 'boxes', 'scores', 'num_points', 'difficulty')))

    def select(self, mask: np.ndarray) -> WaymoObjects:
        """The boxes where `mask` (bool (N,) or indices) holds."""
        return WaymoObjects(self.frames[mask], self.types[mask], self.boxes[mask], self.scores[mask],
                            self.num_points[mask], self.difficulty[mask])


def assign_difficulty(num_points: np.ndarray, difficulty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Official ground-truth preparation: drop empty boxes, fill in missing difficulty levels.

    Args:
        num_points: (N,) LiDAR points in each box, -1 when unknown.
        difficulty: (N,) given levels 1 / 2, 0 when unknown.

    Returns:
        keep: (N,) bool, False for boxes known to hold 0 points.
        level: (N,) int64 levels 1 or 2: the given one, else 2 when num_points <= 5, else 1
        (1 when the point count is unknown).
    """
    num_points = np.asarray(num_points, dtype=np.int64)
    difficulty = np.asarray(difficulty, dtype=np.int64)
    keep = num_points != 0
    computed = np.where((num_points >= 0) & (num_points <= LEVEL_2_MAX_POINTS), 2, 1)
    level = np.where(difficulty > 0, difficulty, computed)
    return keep, level


def heading_accuracy(heading_pred: np.ndarray | float, heading_gt: np.ndarray | float) -> np.ndarray:
    """1 - |dheading| / pi in [0, 1], dheading the heading error wrapped to [-pi, pi] (float64)."""
    diff = np.abs(np.asarray(heading_pred, np.float64) - np.asarray(heading_gt, np.float64)) % (2 * np.pi)
    diff = np.minimum(diff, 2 * np.pi - diff)
    return np.clip(1.0 - diff / np.pi, 0.0, 1.0)


def compute_mean_average_precision(precisions: Sequence[float] | np.ndarray,
                                   recalls: Sequence[float] | np.ndarray, delta: float = 0.05) -> float:
    """Area under a precision/recall curve as the official ComputeMeanAveragePrecision (float32 steps).

    The points are merged by recall (the best precision wins, and (recall 0, precision 1) is added),
    then walked from high to low recall keeping the running maximum precision (a monotone curve);
    where two recalls are more than `delta` apart, points are inserted every `delta` carrying the
    precision of the higher-recall side. The recall-0 point takes the precision of its neighbour, and the
    area is summed with the trapezoid rule.

    Args:
        precisions: (K,) precisions, one per operating point.
        recalls: (K,) recalls of the same operating points.
        delta: largest recall gap left unfilled, in (0, 1].

    Returns:
        The average precision in [0, 1] (0 for no points).
    """
    p = np.asarray(precisions, dtype=np.float32).reshape(-1)
    r = np.asarray(recalls, dtype=np.float32).reshape(-1)
    if p.shape != r.shape:
        raise ShapeError(f'compute_mean_average_precision: {len(p)} precisions but {len(r)} recalls')
    if not 0.0 < delta <= 1.0:
        raise OmnifuseError(f'compute_mean_average_precision: delta must be in (0, 1], got {delta}')
    if p.size == 0:
        return 0.0
    best: dict[float, float] = {0.0: 1.0}
    for rec, prec in zip(r.tolist(), p.tolist(), strict=True):
        best[rec] = max(best.get(rec, 0.0), prec)
    keys = sorted(best, reverse=True)
    step = np.float32(delta)
    gap = np.float32(step + np.float32(1e-6))
    last = np.float32(keys[-1])
    running = np.float32(0.0)
    curve: list[tuple[np.float32, np.float32]] = []  # (precision, recall), recall descending
    for key in keys:
        rec32 = np.float32(key)
        while np.float32(last - rec32) > gap:
            last = np.float32(last - step)
            curve.append((running, last))
        running = max(running, np.float32(best[key]))
        curve.append((running, rec32))
        last = rec32
    if len(curve) >= 2:
        curve[-1] = (curve[-2][0], curve[-1][1])
    area = np.float32(0.0)
    for (p0, r0), (p1, r1) in zip(curve[:-1], curve[1:], strict=True):
        area = np.float32(area + 0.5 * float(np.float32(r0 - r1)) * float(np.float32(p0 + p1)))
    return float(area)


# ---------------------------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------------------------

def _valid_dims(boxes: np.ndarray) -> np.ndarray:
    dims = boxes[:, 3:6]
    ok: np.ndarray = np.all((dims > _MIN_DIM) & (dims < _MAX_DIM), axis=1)
    return ok


def _candidate_pairs(pred_key: np.ndarray, gt_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (pred, gt) index pairs with equal keys (e.g. frame * 4 + type)."""
    order = np.argsort(gt_key, kind='stable')
    sorted_keys = gt_key[order]
    start = np.searchsorted(sorted_keys, pred_key, 'left')
    count = np.searchsorted(sorted_keys, pred_key, 'right') - start
    total = int(count.sum())
    pi = np.repeat(np.arange(len(pred_key)), count)
    offset = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
    gi = order[np.repeat(start, count) + offset]
    return pi, gi


def _pair_iou(pred_boxes: np.ndarray, gt_boxes: np.ndarray, pi: np.ndarray, gi: np.ndarray,
              threshold: np.ndarray, chunk: int = 200_000) -> np.ndarray:
    """Exact 3D IoU of the pairs (pi, gi), 0 where cheap bounds prove it is below `threshold` (K,)."""
    from omnifuse.structures.geometry import box_iou_3d_aligned

    a, b = pred_boxes[pi], gt_boxes[gi]
    radius_a = 0.5 * np.hypot(a[:, 3], a[:, 4])
    radius_b = 0.5 * np.hypot(b[:, 3], b[:, 4])
    near = np.hypot(a[:, 0] - b[:, 0], a[:, 1] - b[:, 1]) < radius_a + radius_b
    near &= np.abs(a[:, 2] - b[:, 2]) < 0.5 * (a[:, 5] + b[:, 5])
    vol_a, vol_b = np.prod(a[:, 3:6], 1), np.prod(b[:, 3:6], 1)
    near &= np.minimum(vol_a, vol_b) >= (threshold - 1e-9) * np.maximum(vol_a, vol_b)  # IoU <= small/large
    near &= _valid_dims(a) & _valid_dims(b)
    iou = np.zeros(len(pi))
    idx = np.nonzero(near)[0]
    for s in range(0, len(idx), chunk):
        part = idx[s:s + chunk]
        iou[part] = box_iou_3d_aligned(a[part], b[part])
    return iou


def match_frame(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hungarian matching that maximises the total weight; zero-weight pairs are not matches.

    Args:
        weights: (P, G) matching weights (quantised IoU where the pair may match, else 0).

    Returns:
        pred_match: (P,) matched ground-truth index or -1; gt_match: (G,) matched prediction or -1.
    """
    from scipy.optimize import linear_sum_assignment

    weights = np.asarray(weights)
    pred_match = np.full(weights.shape[0], -1, np.int64)
    gt_match = np.full(weights.shape[1], -1, np.int64)
    if weights.size == 0:
        return pred_match, gt_match
    rows, cols = linear_sum_assignment(weights, maximize=True)
    ok = weights[rows, cols] > 0
    pred_match[rows[ok]] = cols[ok]
    gt_match[cols[ok]] = rows[ok]
    return pred_match, gt_match


class _Counts:
    """Per-shard, per-cut-off TP / heading-weighted TP / FP / FN(L1) / FN(L2) built from intervals."""

    FIELDS = ('tp', 'ha', 'fp', 'fn1', 'fn2')

    def __init__(self, num_shards: int, num_cutoffs: int) -> None:
        self.k = num_cutoffs
        self.diff = np.zeros((len(self.FIELDS), num_shards, num_cutoffs + 1))

    def add(self, shard: np.ndarray | int, start: np.ndarray | int, end: np.ndarray | int,
            **values: np.ndarray | float) -> None:
        """Add `values` on cut-off indices [start, end) of `shard` (arrays broadcast together)."""
        s, a, b = np.broadcast_arrays(np.asarray(shard), np.asarray(start), np.asarray(end))
        for name, value in values.items():
            v = np.broadcast_to(np.asarray(value, dtype=np.float64), s.shape)
            field = self.diff[self.FIELDS.index(name)]
            np.add.at(field, (s, a), v)
            np.add.at(field, (s, b), -v)

    def result(self) -> dict[str, np.ndarray]:
        out = np.cumsum(self.diff, axis=2)[:, :, :self.k]
        return {name: out[i] for i, name in enumerate(self.FIELDS)}


def _score_breakdown(counts: _Counts, *, pred_shard: np.ndarray, gt_shard: np.ndarray, pred_n: np.ndarray,
                     gt_level: np.ndarray, pi: np.ndarray, gi: np.ndarray, weight: np.ndarray,
                     ha: np.ndarray) -> None:
    """Accumulate one breakdown; (pi, gi) are the candidate edges (weight > 0) inside equal shards."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    num_pred, num_gt, k = len(pred_shard), len(gt_shard), counts.k
    is_l1 = (gt_level <= 1).astype(np.float64)
    graph = coo_matrix((np.ones(len(pi)), (pi, num_pred + gi)), shape=(num_pred + num_gt,) * 2)
    _, label = connected_components(graph, directed=False)
    label_p, label_g = label[:num_pred], label[num_pred:]
    preds_in = np.bincount(label_p, minlength=label.max() + 1)
    gts_in = np.bincount(label_g, minlength=label.max() + 1)

    alone_p = gts_in[label_p] == 0
    counts.add(pred_shard[alone_p], 0, pred_n[alone_p], fp=1.0)
    alone_g = preds_in[label_g] == 0
    counts.add(gt_shard[alone_g], 0, k, fn1=is_l1[alone_g], fn2=1.0)

    edge_label = label_p[pi]
    simple = (preds_in[edge_label] == 1) & (gts_in[edge_label] == 1)
    sp, sg = pi[simple], gi[simple]
    counts.add(pred_shard[sp], 0, pred_n[sp], tp=1.0, ha=ha[simple])
    counts.add(gt_shard[sg], pred_n[sp], k, fn1=is_l1[sg], fn2=1.0)

    complex_edges = np.nonzero(~simple)[0]
    if len(complex_edges) == 0:
        return
    comp_ids = np.unique(edge_label[complex_edges])
    comp_pos = {c: i for i, c in enumerate(comp_ids.tolist())}
    p_nodes = np.nonzero(np.isin(label_p, comp_ids))[0]
    g_nodes = np.nonzero(np.isin(label_g, comp_ids))[0]
    p_groups = _split_by(p_nodes, label_p[p_nodes], comp_pos)
    g_groups = _split_by(g_nodes, label_g[g_nodes], comp_pos)
    e_groups = _split_by(complex_edges, edge_label[complex_edges], comp_pos)
    rec: dict[str, list[float]] = {name: [] for name in ('shard', 'start', 'end', *_Counts.FIELDS)}
    for c in range(len(comp_ids)):
        preds, gts, edges = p_groups[c], g_groups[c], e_groups[c]
        w = np.zeros((len(preds), len(gts)))
        h = np.zeros((len(preds), len(gts)))
        rows, cols = np.searchsorted(preds, pi[edges]), np.searchsorted(gts, gi[edges])
        w[rows, cols] = weight[edges]
        h[rows, cols] = ha[edges]
        shard = int(gt_shard[gts[0]])
        levels = np.unique(pred_n[preds])[::-1]  # distinct inclusion counts, descending
        levels = levels[levels > 0]
        l1 = is_l1[gts]
        bounds = [int(x) for x in levels] + [0]
        _record(rec, shard, bounds[0], k, tp=0, ha=0, fp=0, fn1=l1.sum(), fn2=len(gts))
        for j in range(len(levels)):
            sub = pred_n[preds] >= bounds[j]
            pm, gm = match_frame(w[sub])
            matched = pm >= 0
            rows_sub = np.nonzero(sub)[0]
            _record(rec, shard, bounds[j + 1], bounds[j], tp=matched.sum(),
                    ha=h[rows_sub[matched], pm[matched]].sum(), fp=(~matched).sum(),
                    fn1=l1[gm < 0].sum(), fn2=(gm < 0).sum())
    shard_arr = np.asarray(rec['shard'], np.int64)
    counts.add(shard_arr, np.asarray(rec['start'], np.int64), np.asarray(rec['end'], np.int64),
               **{name: np.asarray(rec[name]) for name in _Counts.FIELDS})


def _split_by(items: np.ndarray, keys: np.ndarray, pos: Mapping[int, int]) -> list[np.ndarray]:
    """Group `items` (sorted ascending within each group) by `keys` into the order of `pos`."""
    order = np.lexsort((items, keys))
    items, keys = items[order], keys[order]
    cuts = np.nonzero(np.diff(keys))[0] + 1
    groups: list[np.ndarray] = [np.zeros(0, np.int64)] * len(pos)
    for part_keys, part in zip(np.split(keys, cuts), np.split(items, cuts), strict=True):
        if len(part):
            groups[pos[int(part_keys[0])]] = part
    return groups


def _record(rec: dict[str, list[float]], shard: int, start: int, end: int, **values: float) -> None:
    if end <= start:
        return
    rec['shard'].append(shard)
    rec['start'].append(start)
    rec['end'].append(end)
    for name, value in values.items():
        rec[name].append(float(value))


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------

def _ap_aph(tp: np.ndarray, ha: np.ndarray, fp: np.ndarray, fn: np.ndarray,
            delta: float) -> tuple[float, float]:
    tp32, fp32, fn32 = tp.astype(np.float32), fp.astype(np.float32), fn.astype(np.float32)
    det, pos = tp32 + fp32, tp32 + fn32
    safe_det, safe_pos = np.where(det > 0, det, 1), np.where(pos > 0, pos, 1)
    precision = np.where(det > 0, tp32 / safe_det, 0).astype(np.float32)
    precision_ha = np.where(det > 0, ha.astype(np.float32) / safe_det, 0).astype(np.float32)
    recall = np.where(pos > 0, tp32 / safe_pos, 0).astype(np.float32)
    precision[recall == 0] = 1.0
    precision_ha[recall == 0] = 1.0
    ap = compute_mean_average_precision(precision, recall, delta)
    aph = compute_mean_average_precision(precision_ha, recall, delta)
    return min(max(ap, 0.0), 1.0), min(max(aph, 0.0), 1.0)  # float32 sums can exceed 1 by 1e-7


def _range_bin(boxes: np.ndarray) -> np.ndarray:
    distance = np.sqrt(np.sum(boxes[:, :3] ** 2, axis=1))
    bins: np.ndarray = np.searchsorted(np.asarray(RANGE_EDGES), distance, side='right')
    return bins


def evaluate_waymo(gt: WaymoObjects, pred: WaymoObjects, *, iou_thresholds: Mapping[str, float] | None = None,
                   score_cutoffs: np.ndarray | None = None, recall_delta: float = 0.05,
                   progress: Callable[[Iterable[int]], Iterable[int]] | None = None) -> dict[str, Any]:
    """Waymo AP / APH by object type and by range, for LEVEL_1 and LEVEL_2.

    Args:
        gt: ground-truth boxes (scores ignored; `num_points` / `difficulty` as in `assign_difficulty`).
        pred: predicted boxes with scores.
        iou_thresholds: IoU threshold per type name; defaults to `IOU_THRESHOLDS`.
        score_cutoffs: ascending float32 cut-offs; defaults to `SCORE_CUTOFFS` (0.00 ... 1.00).
        recall_delta: recall gap filled in the PR curve (official 0.05).
        progress: optional wrapper of an iterable (e.g. tqdm) shown while IoUs are computed.

    Returns:
        {TYPE: {LEVEL: {'AP': float | None, 'APH': float | None}}, 'mAP_L1', 'mAPH_L1', 'mAP_L2',
        'mAPH_L2': float | None, 'ranges': {TYPE: {RANGE: {LEVEL: {'AP', 'APH'}}}},
        'counts': {'frames': int, 'predictions': int, 'ground_truth': {TYPE: {LEVEL: int}}}}.
        None marks a breakdown without ground truth at that level.
    """
    thresholds = dict(IOU_THRESHOLDS if iou_thresholds is None else iou_thresholds)
    for name in TYPES:
        if not 0.0 < thresholds.get(name, -1.0) <= 1.0:
            raise OmnifuseError(f'iou_thresholds: {name} needs a threshold in (0, 1], '
                                f'got {thresholds.get(name)}')
    cutoffs = SCORE_CUTOFFS if score_cutoffs is None else np.asarray(score_cutoffs, dtype=np.float32)
    if cutoffs.ndim != 1 or len(cutoffs) == 0 or np.any(np.diff(cutoffs) < 0):
        raise OmnifuseError('score_cutoffs: expected a non-empty ascending 1-D sequence')

    keep, level = assign_difficulty(gt.num_points, gt.difficulty)
    gt = gt.select(keep)
    gt_level = level[keep]
    _, frame_idx = np.unique(np.concatenate([gt.frames, pred.frames]), return_inverse=True)
    num_frames = int(frame_idx.max()) + 1 if len(frame_idx) else 0
    gt_frame, pred_frame = frame_idx[:len(gt)], frame_idx[len(gt):]

    ntype = len(TYPES)
    pi, gi = _candidate_pairs(pred_frame * ntype + pred.types, gt_frame * ntype + gt.types)
    thr_by_type = np.array([thresholds[t] for t in TYPES])
    pair_thr = thr_by_type[pred.types[pi]]
    iou = np.zeros(len(pi))
    step = 200_000
    chunks = range(0, len(pi), step)
    for s in (progress(chunks) if progress is not None else chunks):
        part = slice(s, s + step)
        iou[part] = _pair_iou(pred.boxes, gt.boxes, pi[part], gi[part], pair_thr[part])
    ok = iou >= pair_thr
    pi, gi, iou = pi[ok], gi[ok], iou[ok]
    weight = np.rint(iou * _MAX_IOU)
    ha = heading_accuracy(pred.boxes[pi, 6], gt.boxes[gi, 6])

    pred_n = np.searchsorted(cutoffs, pred.scores, side='right')  # cut-offs that keep each prediction
    pred_bin, gt_bin = _range_bin(pred.boxes), _range_bin(gt.boxes)
    by_type = _Counts(ntype, len(cutoffs))
    _score_breakdown(by_type, pred_shard=pred.types, gt_shard=gt.types, pred_n=pred_n, gt_level=gt_level,
                     pi=pi, gi=gi, weight=weight, ha=ha)
    nbin = len(RANGE_NAMES)
    by_range = _Counts(ntype * nbin, len(cutoffs))
    same_bin = pred_bin[pi] == gt_bin[gi]
    _score_breakdown(by_range, pred_shard=pred.types * nbin + pred_bin, gt_shard=gt.types * nbin + gt_bin,
                     pred_n=pred_n, gt_level=gt_level, pi=pi[same_bin], gi=gi[same_bin],
                     weight=weight[same_bin], ha=ha[same_bin])

    type_counts, range_counts = by_type.result(), by_range.result()

    def metrics(c: dict[str, np.ndarray], shard: int, num_gt: int, lvl: int) -> dict[str, float | None]:
        if num_gt == 0:
            return {'AP': None, 'APH': None}
        ap, aph = _ap_aph(c['tp'][shard], c['ha'][shard], c['fp'][shard], c[f'fn{lvl}'][shard], recall_delta)
        return {'AP': ap, 'APH': aph}

    result: dict[str, Any] = {}
    gt_counts: dict[str, dict[str, int]] = {}
    ranges: dict[str, dict[str, Any]] = {}
    for t, name in enumerate(TYPES):
        of_type = gt.types == t
        n_level = {1: int(np.sum(of_type & (gt_level <= 1))), 2: int(np.sum(of_type))}
        result[name] = {f'LEVEL_{lvl}': metrics(type_counts, t, n_level[lvl], lvl) for lvl in (1, 2)}
        gt_counts[name] = {f'LEVEL_{lvl}': n_level[lvl] for lvl in (1, 2)}
        ranges[name] = {}
        for b, rname in enumerate(RANGE_NAMES):
            in_bin = of_type & (gt_bin == b)
            n_bin = {1: int(np.sum(in_bin & (gt_level <= 1))), 2: int(np.sum(in_bin))}
            ranges[name][rname] = {f'LEVEL_{lvl}': metrics(range_counts, t * nbin + b, n_bin[lvl], lvl)
                                   for lvl in (1, 2)}
    for lvl in (1, 2):
        for key in ('AP', 'APH'):
            values = [result[t][f'LEVEL_{lvl}'][key] for t in LEADERBOARD_TYPES]
            values = [v for v in values if v is not None]
            result[f'm{key}_L{lvl}'] = float(np.mean(values)) if values else None
    result['ranges'] = ranges
    result['counts'] = {'frames': num_frames, 'predictions': len(pred), 'ground_truth': gt_counts}
    return result


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------

def _field_error(where: str, field: str, problem: str) -> FormatError:
    return FormatError(f'{where}: field "{field}" {problem}')


def _finite(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_objects_jsonl(path: str | Path, *, predictions: bool,
                       progress: Callable[[Iterable[str]], Iterable[str]] | None = None) -> WaymoObjects:
    """Read boxes from JSON Lines, one box per line (empty lines are skipped).

    Each line: {"frame": str, "type": "VEHICLE" | "PEDESTRIAN" | "CYCLIST" | "SIGN",
    "box": [cx, cy, cz, length, width, height, heading], "score": float (required when `predictions`),
    "num_lidar_points_in_box": int >= 0 (optional), "difficulty": 1 | 2 (optional)}.
    `progress` optionally wraps the line iterator (e.g. tqdm).

    Raises:
        FormatError: naming `file:line` and the field for any malformed line.
    """
    path = Path(path)
    frames: list[str] = []
    types: list[int] = []
    boxes: list[list[float]] = []
    scores: list[float] = []
    points: list[int] = []
    levels: list[int] = []
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f if progress is None else progress(f), 1):
            if not line.strip():
                continue
            where = f'{path}:{lineno}'
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise FormatError(f'{where}: not valid JSON ({exc.msg} at column {exc.colno})') from None
            if not isinstance(obj, dict):
                raise FormatError(f'{where}: expected a JSON object per line, got {type(obj).__name__}')
            frame = obj.get('frame')
            if isinstance(frame, bool) or not isinstance(frame, (str, int)) or frame == '':
                raise _field_error(where, 'frame', f'must be a non-empty string, got {frame!r}')
            kind = obj.get('type')
            if kind not in TYPES:
                raise _field_error(where, 'type', f'must be one of {", ".join(TYPES)}, got {kind!r}')
            box = obj.get('box')
            if not isinstance(box, list) or len(box) != 7 or not all(_finite(v) for v in box):
                raise _field_error(where, 'box', 'must be 7 finite numbers '
                                   f'[cx, cy, cz, length, width, height, heading], got {box!r}')
            if min(box[3:6]) < 0:
                raise _field_error(where, 'box', f'has a negative length/width/height: {box[3:6]}')
            score = obj.get('score', 1.0 if not predictions else None)
            if not _finite(score):
                raise _field_error(where, 'score', f'must be a finite number for a prediction, got {score!r}')
            npts = obj.get('num_lidar_points_in_box')
            if npts is not None and (isinstance(npts, bool) or not isinstance(npts, int) or npts < 0):
                raise _field_error(where, 'num_lidar_points_in_box', f'must be an integer >= 0, got {npts!r}')
            level = obj.get('difficulty')
            if level is not None and (isinstance(level, bool) or level not in (1, 2)):
                raise _field_error(where, 'difficulty', f'must be 1 or 2, got {level!r}')
            frames.append(str(frame))
            types.append(TYPES.index(kind))
            boxes.append([float(v) for v in box])
            scores.append(float(score))
            points.append(-1 if npts is None else npts)
            levels.append(0 if level is None else level)
    return WaymoObjects(np.asarray(frames, dtype=str), np.asarray(types, np.int64),
                        np.asarray(boxes, np.float64).reshape(-1, 7), np.asarray(scores, np.float32),
                        np.asarray(points, np.int64), np.asarray(levels, np.int64))


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError('truncated varint')
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _fields(buf: bytes) -> Iterable[tuple[int, int, int | bytes]]:
    """Protocol-buffer wire fields (number, wire type, value) of one message."""
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + size], pos + size
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f'unsupported wire type {wire}')
        if pos > len(buf):
            raise ValueError('truncated field')
        yield number, wire, value


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def read_objects_bin(path: str | Path) -> WaymoObjects:
    """Read a serialized waymo.open_dataset.Objects proto (the official metrics input) without protobuf.

    The frame name of an object is '<context_name>_<frame_timestamp_micros>' (with '_<camera_name>'
    before the timestamp when set). Objects of TYPE_UNKNOWN are skipped, as the official breakdowns do.
    """
    path = Path(path)
    data = path.read_bytes()
    frames, types, boxes, scores, points, levels = [], [], [], [], [], []
    try:
        for number, wire, obj in _fields(data):
            if number != 1 or wire != 2:
                continue
            if not isinstance(obj, bytes):
                raise ValueError('Objects.objects is not a message')
            label, score, context, stamp, camera = b'', 1.0, '', 0, 0
            for n, w, v in _fields(obj):
                if isinstance(v, bytes):
                    if n == 1 and w == 2:
                        label = v
                    elif n == 2 and w == 5:
                        score = struct.unpack('<f', v)[0]
                    elif n == 4 and w == 2:
                        context = v.decode('utf-8')
                elif n == 5:
                    stamp = _signed(v)
                elif n == 6:
                    camera = v
            box = [0.0] * 7
            kind, level, npts = 0, 0, 0
            box_slots = {1: 0, 2: 1, 3: 2, 5: 3, 4: 4, 6: 5, 7: 6}  # Box fields: length = 5, width = 4
            for n, w, v in _fields(label):
                if isinstance(v, bytes):
                    if n == 1 and w == 2:
                        for bn, bw, bv in _fields(v):
                            if bn in box_slots and bw == 1 and isinstance(bv, bytes):
                                box[box_slots[bn]] = struct.unpack('<d', bv)[0]
                elif n == 3:
                    kind = v
                elif n == 5:
                    level = v
                elif n == 7:
                    npts = _signed(v)
            if kind not in _PROTO_TYPES:
                continue
            frames.append(f'{context}_{camera}_{stamp}' if camera else f'{context}_{stamp}')
            types.append(TYPES.index(_PROTO_TYPES[kind]))
            boxes.append(box)
            scores.append(score)
            points.append(max(npts, 0))
            levels.append(level if level in (1, 2) else 0)
    except (ValueError, UnicodeDecodeError, struct.error) as exc:
        raise FormatError(f'{path}: not a serialized waymo Objects proto ({exc})') from None
    return WaymoObjects(np.asarray(frames, dtype=str), np.asarray(types, np.int64),
                        np.asarray(boxes, np.float64).reshape(-1, 7), np.asarray(scores, np.float32),
                        np.asarray(points, np.int64), np.asarray(levels, np.int64))


def read_waymo_objects(path: str | Path, *, predictions: bool,
                       progress: Callable[[Iterable[str]], Iterable[str]] | None = None) -> WaymoObjects:
    """Read a `.bin` Objects proto or a JSON Lines file (any other suffix; `progress` wraps its lines)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, 'No such file', str(path))
    if path.suffix == '.bin':
        return read_objects_bin(path)
    return read_objects_jsonl(path, predictions=predictions, progress=progress)


def format_waymo_table(result: Mapping[str, Any]) -> str:
    """A readable table of `evaluate_waymo`'s result (values in %, '-' where there is no ground truth)."""
    def pct(value: float | None) -> str:
        return '     -' if value is None else f'{100 * value:6.2f}'

    counts = result['counts']
    lines = [f'Waymo 3D detection: {counts["frames"]} frames, {counts["predictions"]} predictions',
             f'{"type":<11} {"level":<8} {"AP":>6} {"APH":>6} {"#GT":>7}']
    for name in TYPES:
        for level in LEVELS:
            m = result[name][level]
            lines.append(f'{name:<11} {level:<8} {pct(m["AP"])} {pct(m["APH"])} '
                         f'{counts["ground_truth"][name][level]:>7}')
    lines.append('')
    lines.append(f'{"type":<11} {"range [m]":<11} {"L1 AP":>6} {"L1 APH":>6} {"L2 AP":>6} {"L2 APH":>6}')
    for name in TYPES:
        for rname in RANGE_NAMES:
            m = result['ranges'][name][rname]
            lines.append(f'{name:<11} {rname:<11} {pct(m["LEVEL_1"]["AP"])} {pct(m["LEVEL_1"]["APH"])} '
                         f'{pct(m["LEVEL_2"]["AP"])} {pct(m["LEVEL_2"]["APH"])}')
    lines.append('')
    for lvl in (1, 2):
        lines.append(f'LEVEL_{lvl} mean over {"/".join(LEADERBOARD_TYPES)}: '
                     f'mAP {pct(result[f"mAP_L{lvl}"])}  mAPH {pct(result[f"mAPH_L{lvl}"])}')
    return '\n'.join(lines)
