"""KITTI 3D MOT: CLEAR MOT and the recall-averaged sAMOTA / AMOTA / AMOTP, as AB3DMOT scores them.

This reproduces `scripts/KITTI/evaluate.py` of AB3DMOT (xinshuoweng/AB3DMOT @ 61f3bd7, the KITTI
tracking devkit's `evaluate_tracking.py` extended to 3D IoU and to averages over recall), numbers and
quirks, on `KittiTrackRows` (one per sequence). docs/tracking.md, "Evaluation protocol", lists every
rule with where it comes from; in short:

- Per class (car, pedestrian, cyclist), rows are selected by substring of the lower-case type: car
  loads car and van, pedestrian loads pedestrian and person_sitting (the tracking labels' `Person`
  is not loaded at all), cyclist loads cyclist. Ground-truth DontCare rows are regions; rows with
  track id -1 are dropped.
- Each frame: Hungarian matching on cost 1 - IoU3D, pairs with IoU3D < min overlap gated out.
  Ground truth occluded > 2, truncated > 0 or of the neighbour class (van / person_sitting) is
  ignored; an unmatched prediction of the neighbour class, 2D height <= 25 px, or more than half
  inside a DontCare box is ignored too - unless it was matched in any earlier pass (the reference
  keeps a `valid` flag on the row objects across passes).
- IDS and FRAG come from each ground-truth trajectory's per-frame matched prediction ids, with the
  reference's exact conditions (an ID switch needs both frames matched; see `_switches_and_fragments`).
- Every prediction takes the mean score of its track; thresholds at 40 recall steps
  (`recall_thresholds`) come from the matched scores of a first pass over all predictions. At each
  threshold r, tracks scoring lower are dropped, and sMOTA = clip(1 - (FN + FP + IDS - (1 - r) n_gt)
  / (r n_gt), 0, 1). sAMOTA, AMOTA, AMOTP are the sums over thresholds divided by 40. MOTA, MOTP,
  IDS, FRAG, FP, FN are those of the threshold with the best MOTA (-10000, i.e. all, if none is > 0).
- The reference overwrites each row's score with its track mean on every pass, so the mean of the
  means drifts in the last bits from pass to pass; this decides whether a track survives the
  threshold equal to its own score. It is reproduced (`_drifting_means`).

3D IoU: the reference clips the bottom rectangles (camera x-z plane) with Sutherland-Hodgman and a
strict inside test, which is ill-conditioned when edges are collinear: for a prediction identical
to its ground truth it returns values like -5.3 or 41.6, or crashes on NaN (measured: 77 % of the
validation labels against themselves). Here the IoU is the exact one (`omnifuse.structures.geometry`),
which agrees with the reference to ~1e-12 wherever the reference is well-conditioned. This is the
one deliberate difference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from omnifuse.errors import FormatError
from omnifuse.evaluation.kitti_overlaps import frame_pairs
from omnifuse.structures.boxes3d import kitti_camera_to_lidar
from omnifuse.structures.geometry import box_iou_3d_aligned
from omnifuse.structures.kitti_tracking import KittiTrackRows

__all__ = ['MOT_CLASSES', 'MotScores', 'evaluate_mot', 'recall_thresholds', 'camera_boxes_iou_3d']

NUM_SAMPLE_PTS = 41
MAX_OCCLUSION = 2
MAX_TRUNCATION = 0
MIN_HEIGHT = 25
# Lower-case type substrings each class loads (the reference's `_loadData`), and its neighbour class.
MOT_CLASSES = {'car': (('car', 'van'), 'van'),
               'pedestrian': (('pedestrian', 'person_sitting'), 'person_sitting'),
               'cyclist': (('cyclist',), None)}
_MAX_COST = 1e9
# Rectified camera (x right, y down, z forward) -> an upright frame (x forward, y left, z up): a pure
# axis permutation, so the camera boxes keep their exact geometry (height along camera y).
_T_CAM_UPRIGHT = np.array([[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [1.0, 0.0, 0.0, 0.0],
                           [0.0, 0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class MotScores:
    """The reported numbers of one class (fractions, as the reference computes them; counts as ints).

    sAMOTA, AMOTA, AMOTP average over the recall thresholds; MOTA, MOTP, IDS, FRAG, FP, FN, TP are
    those at `best_threshold`. `n_gt` counts the ground truth that is not ignored, `num_thresholds`
    the recall thresholds found (40 when the predictions reach full recall), `num_predictions` the
    prediction rows the class loads.
    """

    sAMOTA: float
    AMOTA: float
    AMOTP: float
    MOTA: float
    MOTP: float
    IDS: int
    FRAG: int
    FP: int
    FN: int
    TP: int
    n_gt: int
    best_threshold: float
    num_thresholds: int
    num_predictions: int

    def as_dict(self) -> dict[str, float | int]:
        """The fields as a plain dict."""
        return asdict(self)


def recall_thresholds(scores: Sequence[float], num_gt: int,
                      num_sample_pts: int = NUM_SAMPLE_PTS) -> tuple[list[float], list[float]]:
    """Score thresholds at recall steps of 1 / (num_sample_pts - 1) (AB3DMOT `getThresholds`).

    Walking the matched scores from the highest down, index i (recall (i + 1) / num_gt) is taken for
    the current target recall unless index i + 1 lies closer to it; the last index is always taken.
    The first point (target recall 0) is dropped.

    Args:
        scores: scores of the true positives of the pass over all predictions.
        num_gt: TP + FN of that pass.
        num_sample_pts: 41 (recall 0, 1/40, ..., 1).

    Returns:
        (thresholds, recalls): descending thresholds and their target recalls (at most 40 with full
        recall; fewer when the matches stop short of it).
    """
    s = sorted((float(v) for v in scores), reverse=True)
    current = 0.0
    thresholds: list[float] = []
    recalls: list[float] = []
    for i, score in enumerate(s):
        l_recall = (i + 1) / float(num_gt)
        r_recall = (i + 2) / float(num_gt) if i < len(s) - 1 else l_recall
        if (r_recall - current) < (current - l_recall) and i < len(s) - 1:
            continue
        thresholds.append(score)
        recalls.append(current)
        current += 1 / (num_sample_pts - 1.0)
    return thresholds[1:], recalls[1:]


def camera_boxes_iou_3d(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise 3D IoU of KITTI camera boxes.

    Args:
        a: (P, 7) rows (h, w, l, x, y, z, ry), rectified camera frame, (x, y, z) the bottom centre.
        b: (P, 7) rows, same layout.

    Returns:
        (P,) IoU in [0, 1] (volumes l*w*h, height along camera y, footprint in the x-z plane).
    """
    return box_iou_3d_aligned(kitti_camera_to_lidar(a, _T_CAM_UPRIGHT), kitti_camera_to_lidar(b, _T_CAM_UPRIGHT))


def _ioa(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise intersection over the area of a of image boxes (x1, y1, x2, y2): the reference's
    `boxoverlap(a, b, 'a')`, 0 unless the intersection has positive width and height."""
    w = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    h = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    ok = (w > 0) & (h > 0)
    area = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    out = np.zeros(len(a))
    out[ok] = (w[ok] * h[ok]) / area[ok]
    return out


@dataclass
class _ClassData:
    """One class over all sequences: rows concatenated sequence-major, frame-major, file order."""

    gt_key: np.ndarray         # (G,) global frame key (sequence offset + frame)
    gt_id: np.ndarray          # (G,) track ids
    gt_ignored: np.ndarray     # (G,) occluded / truncated / neighbour class
    gt_traj: np.ndarray        # (G,) trajectory index (sequence, track id)
    trk_key: np.ndarray        # (T,)
    trk_id: np.ndarray         # (T,) track ids (unique per key)
    trk_track: np.ndarray      # (T,) index of (sequence, track id) for the score means
    trk_ignorable: np.ndarray  # (T,) neighbour class, <= 25 px tall, or in a DontCare region
    track_rows: list[np.ndarray]  # per track: its rows' scores in the reference's order
    pair_g: np.ndarray         # (E,) gated candidate pairs: ground-truth row
    pair_t: np.ndarray         # (E,) prediction row
    pair_cost: np.ndarray      # (E,) 1 - IoU3D


def _class_mask(names: np.ndarray, substrings: tuple[str, ...]) -> np.ndarray:
    lower = np.char.lower(names.astype(str))
    mask = np.zeros(len(names), bool)
    for s in substrings:
        mask |= np.char.find(lower, s) >= 0
    return mask


def _camera_rows(rows: KittiTrackRows) -> np.ndarray:
    lab = rows.labels
    return np.concatenate([lab.dimensions, lab.location, lab.rotation_y[:, None]], 1)


def _prepare(gt: Mapping[str, KittiTrackRows], pred: Mapping[str, KittiTrackRows], seqs: Sequence[str],
             cls: str, min_overlap: float) -> _ClassData:
    substrings, neighbour = MOT_CLASSES[cls]
    gts, dcs, trks = [], [], []
    offset = 0
    for seq in seqs:
        g, p = gt[seq], pred[seq]
        g_sel = _class_mask(g.labels.name, substrings)
        dc = _class_mask(g.labels.name, ('dontcare',))
        gts.append((seq, offset, g.select(g_sel & ~dc & (g.track_id != -1))))
        dcs.append((offset, g.select(dc)))
        p_sel = _class_mask(p.labels.name, substrings)
        p_dc = _class_mask(p.labels.name, ('dontcare',))
        if p_dc.any():
            i = int(np.flatnonzero(p_dc)[0])
            raise FormatError(f'predictions of sequence {seq}: row {i + 1} (frame {p.frame[i]}) is a DontCare '
                              'region; tracking results hold objects only')
        bad = p_sel & (p.track_id < -1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise FormatError(f'predictions of sequence {seq}: row {i + 1} (frame {p.frame[i]}) has track id '
                              f'{p.track_id[i]}; ids are >= 0 (-1 marks a row to skip)')
        trks.append((seq, offset, p.select(p_sel & (p.track_id != -1))))
        last = max([int(r.frame.max()) for r in (g, p) if len(r)], default=-1)
        offset += last + 2
    num_keys = max(offset, 1)

    def cat(parts: list[tuple], fn) -> np.ndarray:
        arrays = [fn(*part) for part in parts]
        return np.concatenate(arrays) if arrays else np.zeros(0)

    # Ground truth: order (sequence, frame, file order) is the reference's frame loop.
    gt_parts = [(seq, off, r.sorted_by_frame()) for seq, off, r in gts]
    gt_key = cat(gt_parts, lambda s, off, r: r.frame + off).astype(np.int64)
    gt_id = cat(gt_parts, lambda s, off, r: r.track_id).astype(np.int64)
    gt_names = cat(gt_parts, lambda s, off, r: np.char.lower(r.labels.name.astype(str))).astype(str)
    gt_occ = cat(gt_parts, lambda s, off, r: r.labels.occluded).astype(np.int64)
    gt_trunc = cat(gt_parts, lambda s, off, r: np.trunc(r.labels.truncated)).astype(np.int64)
    gt_seq = cat(gt_parts, lambda s, off, r: np.full(len(r), off)).astype(np.int64)
    gt_ignored = (gt_occ > MAX_OCCLUSION) | (gt_trunc > MAX_TRUNCATION)
    if neighbour is not None:
        gt_ignored |= gt_names == neighbour
    traj_keys = np.stack([gt_seq, gt_id], 1) if len(gt_seq) else np.zeros((0, 2), np.int64)
    gt_traj = np.unique(traj_keys, axis=0, return_inverse=True)[1].reshape(-1)

    trk_parts = [(seq, off, r.sorted_by_frame()) for seq, off, r in trks]
    trk_key = cat(trk_parts, lambda s, off, r: r.frame + off).astype(np.int64)
    trk_id = cat(trk_parts, lambda s, off, r: r.track_id).astype(np.int64)
    trk_seq = cat(trk_parts, lambda s, off, r: np.full(len(r), off)).astype(np.int64)
    trk_names = cat(trk_parts, lambda s, off, r: np.char.lower(r.labels.name.astype(str))).astype(str)
    trk_box2d = np.concatenate([r.labels.bbox for _, _, r in trk_parts]) if trk_parts else np.zeros((0, 4))
    # A result line with 17 columns has no score; the reference gives it -1.
    trk_score = cat(trk_parts, lambda s, off, r: np.where(np.isnan(r.labels.score), -1.0, r.labels.score))
    for seq, _, r in trk_parts:
        key = r.frame.astype(np.int64) * (int(r.track_id.max(initial=0)) + 2) + r.track_id
        uniq, counts = np.unique(key, return_counts=True)
        if (counts > 1).any():
            i = int(np.flatnonzero(key == uniq[np.argmax(counts > 1)])[0])
            raise FormatError(f'predictions of sequence {seq}: track id {r.track_id[i]} occurs more than once '
                              f'in frame {r.frame[i]} among the {cls} rows; ids must be unique per frame')

    # Track means: one track = (sequence, id); rows in the reference's order (frame, file order).
    track_keys = np.stack([trk_seq, trk_id], 1) if len(trk_seq) else np.zeros((0, 2), np.int64)
    _, trk_track = np.unique(track_keys, axis=0, return_inverse=True)
    trk_track = trk_track.reshape(-1)
    order = np.argsort(trk_track, kind='stable')
    bounds = np.cumsum(np.bincount(trk_track, minlength=int(trk_track.max(initial=-1)) + 1))
    track_rows = np.split(trk_score[order], bounds[:-1]) if len(order) else []

    # Prediction rows the reference may ignore when unmatched.
    small = np.abs(trk_box2d[:, 1] - trk_box2d[:, 3]) <= MIN_HEIGHT
    ignorable = small if neighbour is None else small | (trk_names == neighbour)
    dc_key = cat(dcs, lambda off, r: r.frame + off).astype(np.int64)
    dc_box = np.concatenate([r.labels.bbox for _, r in dcs]) if dcs else np.zeros((0, 4))
    dc_order = np.argsort(dc_key, kind='stable')
    ti, di = frame_pairs(trk_key, dc_key[dc_order], num_keys)
    in_dc = np.zeros(len(trk_key), bool)
    if len(ti):
        hit = _ioa(trk_box2d[ti], dc_box[dc_order][di]) > 0.5
        in_dc[ti[hit]] = True
    ignorable |= in_dc

    # Candidate pairs within a frame; only those whose footprints can touch are intersected.
    gi, tj = frame_pairs(gt_key, trk_key, num_keys)
    gcam = cat(gt_parts, lambda s, off, r: _camera_rows(r)).reshape(-1, 7)
    tcam = cat(trk_parts, lambda s, off, r: _camera_rows(r)).reshape(-1, 7)
    if len(gi):
        reach = (np.hypot(gcam[gi, 1], gcam[gi, 2]) + np.hypot(tcam[tj, 1], tcam[tj, 2])) / 2
        near = np.hypot(gcam[gi, 3] - tcam[tj, 3], gcam[gi, 5] - tcam[tj, 5]) < reach
        gi, tj = gi[near], tj[near]
    iou = camera_boxes_iou_3d(gcam[gi], tcam[tj]) if len(gi) else np.zeros(0)
    cost = 1 - iou
    gated = cost <= 1 - min_overlap
    return _ClassData(gt_key, gt_id, gt_ignored, gt_traj.astype(np.int64), trk_key, trk_id, trk_track,
                      ignorable, track_rows, gi[gated], tj[gated], cost[gated])


def _drifting_means(track_rows: list[np.ndarray], passes: int) -> np.ndarray:
    """(passes, tracks) track means as the reference sees them in pass 0, 1, ...

    Pass 0 averages the rows' scores (sequential sum / count); every pass then writes the mean into
    each row, so pass k + 1 averages k-times-averaged values: sum([m] * n) / n, which need not be m.
    """
    out = np.zeros((passes, len(track_rows)))
    for t, scores in enumerate(track_rows):
        n = len(scores)
        total: float = 0
        for v in scores.tolist():
            total += v
        mean = total / float(n)
        for k in range(passes):
            out[k, t] = mean
            if k + 1 < passes:
                total = 0
                for _ in range(n):
                    total += mean
                nxt = total / float(n)
                if nxt == mean:  # a fixed point: every later pass sees the same value
                    out[k + 1:, t] = mean
                    break
                mean = nxt
    return out


def _match(data: _ClassData, active_pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame optimal assignment over the active gated pairs (most matches, then least cost).

    Pairs whose ground truth and prediction have no other candidate are matched directly; frames
    with competing candidates are solved with the Hungarian method (cost 1e9 for gated-out pairs, as
    the reference's Munkres matrix).

    Returns:
        (ground-truth rows, prediction rows, costs) of the matches, ordered by ground-truth row.
    """
    from scipy.optimize import linear_sum_assignment

    g, t, c = data.pair_g[active_pairs], data.pair_t[active_pairs], data.pair_cost[active_pairs]
    ng = np.bincount(g, minlength=len(data.gt_key))
    nt = np.bincount(t, minlength=len(data.trk_key))
    alone = (ng[g] == 1) & (nt[t] == 1)
    mg, mt, mc = [g[alone]], [t[alone]], [c[alone]]
    rest = np.flatnonzero(~alone)
    if len(rest):
        keys = data.gt_key[g[rest]]
        for key in np.unique(keys):
            sel = rest[keys == key]
            rows, ri = np.unique(g[sel], return_inverse=True)
            cols, ci = np.unique(t[sel], return_inverse=True)
            cost = np.full((len(rows), len(cols)), _MAX_COST)
            cost[ri.reshape(-1), ci.reshape(-1)] = c[sel]
            r, k = linear_sum_assignment(cost)
            ok = cost[r, k] < _MAX_COST
            mg.append(rows[r[ok]])
            mt.append(cols[k[ok]])
            mc.append(cost[r[ok], k[ok]])
    g, t, c = np.concatenate(mg).astype(np.int64), np.concatenate(mt).astype(np.int64), np.concatenate(mc)
    order = np.argsort(g, kind='stable')
    return g[order], t[order], c[order]


def _switches_and_fragments(traj: np.ndarray, matched_id: np.ndarray, ignored: np.ndarray) -> tuple[int, int]:
    """ID switches and fragmentations of the ground-truth trajectories (the reference's loop, vectorised).

    Args:
        traj: (G,) trajectory of each ground-truth row.
        matched_id: (G,) id of the matched prediction, -1 when unmatched.
        ignored: (G,) ignored ground truth.

    Per trajectory, over the frames it appears in (f = 0..n-1, ids g, ignored flags i), with `last` the
    id of the latest matched frame, reset to -1 by an ignored frame and starting at g[0]:
    an ID switch at f >= 1 when not i[f], last != g[f], and last, g[f], g[f-1] are all matched;
    a fragmentation at 1 <= f < n - 1 when not i[f], g[f-1] != g[f], and last, g[f], g[f+1] are matched;
    one more at f = n - 1 when not i[f], g[f-1] != g[f] and g[f] is matched.
    """
    order = np.lexsort((np.arange(len(traj)), traj))  # trajectory-major, frame order kept
    tr, g, ign = traj[order], matched_id[order], ignored[order]
    n = len(tr)
    if n == 0:
        return 0, 0
    start = np.ones(n, bool)
    start[1:] = tr[1:] != tr[:-1]
    end = np.ones(n, bool)
    end[:-1] = tr[1:] != tr[:-1]
    # `last` after processing each position: g[0] at a start; -1 after an ignored frame; else the
    # latest matched id (forward fill).
    value = np.where(start, g, np.where(ign, -1, g))
    sets = start | ign | (g != -1)
    idx = np.maximum.accumulate(np.where(sets, np.arange(n), 0))
    last_after = value[idx]
    last_before = np.empty(n, np.int64)
    last_before[1:] = last_after[:-1]
    last_before[start] = -1
    prev = np.empty(n, np.int64)
    prev[1:] = g[:-1]
    nxt = np.empty(n, np.int64)
    nxt[:-1] = g[1:]
    inner = ~start & ~ign
    ids = inner & (last_before != g) & (last_before != -1) & (g != -1) & (prev != -1)
    frag = inner & ~end & (prev != g) & (last_before != -1) & (g != -1) & (nxt != -1)
    frag_last = inner & end & (prev != g) & (g != -1)
    return int(ids.sum()), int(frag.sum() + frag_last.sum())


@dataclass
class _Pass:
    mota: float
    motp: float
    smota: float
    ids: int
    frag: int
    fp: int
    fn: int
    tp: int
    n_gt: int
    matched_scores: np.ndarray


def _run_pass(data: _ClassData, means: np.ndarray, threshold: float, recall: float, valid: np.ndarray) -> _Pass:
    """One `compute3rdPartyMetrics(threshold, recall)` call; updates the sticky `valid` flags."""
    active = ~(means[data.trk_track] < threshold) if len(data.trk_key) else np.zeros(0, bool)
    mg, mt, mc = _match(data, active[data.pair_t])
    valid[mt] = True
    matched_id = np.full(len(data.gt_key), -1, np.int64)
    matched_id[mg] = data.trk_id[mt]
    matched_trk = np.zeros(len(data.trk_key), bool)
    matched_trk[mt] = True
    tp = len(mg)
    n_gt = int((~data.gt_ignored).sum())
    fn = int((~data.gt_ignored & (matched_id == -1)).sum())
    ignored_trk = active & ~matched_trk & ~valid & data.trk_ignorable
    fp = int(active.sum()) - tp - int(ignored_trk.sum())
    ids, frag = _switches_and_fragments(data.gt_traj, matched_id, data.gt_ignored)
    # The overlaps summed one by one in the reference's order: sequence, frame, ground truth in file order.
    total = float(np.cumsum(1 - mc)[-1]) if tp else 0.0
    if n_gt == 0:
        mota = smota = -float('inf')
    else:
        mota = 1 - (fn + fp + ids) / float(n_gt)
        smota = min(1, max(0, 1 - (fn + fp + ids - (1 - recall) * n_gt) / float(recall * n_gt)))
    motp = total / float(tp) if tp else 0
    return _Pass(mota, motp, smota, ids, frag, fp, fn, tp, n_gt, means[data.trk_track[mt]])


def evaluate_mot(gt: Mapping[str, KittiTrackRows], pred: Mapping[str, KittiTrackRows], *, cls: str,
                 min_overlap: float = 0.25, seqs: Sequence[str] | None = None) -> MotScores:
    """AB3DMOT's KITTI 3D MOT evaluation of one class.

    Args:
        gt: ground-truth rows per sequence name (label_02 files).
        pred: tracking results per sequence name (same names; 18 columns, or 17 for score -1).
        cls: 'car', 'pedestrian' or 'cyclist'.
        min_overlap: 3D IoU a match needs (0.25, 0.5 or 0.7 in AB3DMOT's tables), in (0, 1].
        seqs: sequences to score, in this order; default: the keys of `gt`.

    Returns:
        The class's scores (fractions; see `MotScores`).

    Raises:
        FormatError: DontCare rows or ids below -1 in the predictions, or a track id twice in one
            frame among the class's rows.
        KeyError: a sequence missing from `gt` or `pred`.
    """
    if cls not in MOT_CLASSES:
        raise ValueError(f'evaluate_mot: unknown class {cls!r}; choose from {", ".join(MOT_CLASSES)}')
    if not 0 < min_overlap <= 1:
        raise ValueError(f'evaluate_mot: min_overlap must be in (0, 1], got {min_overlap}')
    seqs = list(gt) if seqs is None else list(seqs)
    data = _prepare(gt, pred, seqs, cls, min_overlap)
    valid = np.zeros(len(data.trk_key), bool)
    # Pass 0 (all predictions) gives the thresholds; at most 41 threshold passes and the final one follow.
    means = _drifting_means(data.track_rows, NUM_SAMPLE_PTS + 3)
    first = _run_pass(data, means[0], -10000, 1.0, valid)
    thresholds, recalls = recall_thresholds(first.matched_scores.tolist(), first.tp + first.fn)
    smota = mota = motp = 0.0
    best_mota: float = 0
    best_threshold: float = -10000
    for k, (th, r) in enumerate(zip(thresholds, recalls, strict=True)):
        p = _run_pass(data, means[k + 1], th, r, valid)
        smota += p.smota
        mota += p.mota
        motp += p.motp
        if p.mota > best_mota:
            best_threshold, best_mota = th, p.mota
    final = _run_pass(data, means[len(thresholds) + 1], best_threshold, 1.0, valid)
    n = NUM_SAMPLE_PTS - 1
    return MotScores(sAMOTA=smota / n, AMOTA=mota / n, AMOTP=motp / n, MOTA=final.mota, MOTP=final.motp,
                     IDS=final.ids, FRAG=final.frag, FP=final.fp, FN=final.fn, TP=final.tp, n_gt=final.n_gt,
                     best_threshold=float(best_threshold), num_thresholds=len(thresholds),
                     num_predictions=len(data.trk_key))
