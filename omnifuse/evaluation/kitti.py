"""KITTI 3D object detection evaluation: the official protocol, vectorised with numpy.

The protocol (KITTI devkit `evaluate_object.cpp` and its widely used python port):

- Difficulties easy / moderate / hard: ground truth taller than 40 / 25 / 25 px (2D box), occlusion at
  most 0 / 1 / 2, truncation at most 0.15 / 0.30 / 0.50. Ground truth of the class that misses the
  difficulty, and of the neighbouring class (Van for Car, Person_sitting for Pedestrian), is ignored:
  neither a true positive nor a miss. Detections lower than the minimum height are ignored too.
- Matching per frame, ground truth in file order, each taking an unassigned detection with
  `overlap > threshold` (strict): in the first pass the highest-scoring one; the true-positive scores
  of that pass give 41 score thresholds (`get_thresholds`). Then, for each threshold, the detections
  scoring at least that much are matched again, each ground truth taking the best-overlapping valid
  detection (or an ignored one when no valid one overlaps); unmatched valid detections are false
  positives, except (2D metric only) those lying in a DontCare region (intersection over their own
  area > threshold).
- Precision at each threshold, made monotone from the right over the 41 points; AP|R11 is the mean
  of points 0, 4, ..., 40 (recall 0, 0.1, ..., 1), AP|R40 the mean of points 1..40. AOS accumulates
  (1 + cos(alpha_gt - alpha_det)) / 2 over the true positives of the 2D matching.
- Minimum overlaps: "strict" bbox/bev/3d 0.7/0.7/0.7 for Car, 0.5/0.5/0.5 for Pedestrian and Cyclist;
  "loose" bbox 0.7/0.5/0.5 and bev, 3d 0.5/0.25/0.25 (Car/Pedestrian/Cyclist).

As in the official code, the curve has one point per threshold, so with fewer than 41 valid objects
of a class the remaining points count as precision 0 (a single, perfectly detected object gives
AP|R11 = 100/11 and AP|R40 = 0). AOS is always computed; it is meaningless when the detections carry
no alpha (-10), where mmdet3d leaves it out.

One documented difference: where the official code divides 0 by 0 (no true and no false positive at
a threshold, which needs every remaining detection to be matched to ignored ground truth) and then
propagates NaN into the AP, this module uses 0 for that point.

Overlaps are computed once per frame and metric for all pairs (`kitti_overlaps`), and the matching runs
for all frames and all 41 thresholds at once: step k matches the k-th ground-truth object of every
frame, so the loop is as long as the most crowded frame, not the dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from omnifuse.errors import OmnifuseError
from omnifuse.evaluation.kitti_overlaps import bev_3d_overlap, frame_pairs, image_overlap
from omnifuse.evaluation.kitti_result import KittiResult
from omnifuse.structures.kitti_labels import KittiLabels

__all__ = ['evaluate_kitti', 'get_thresholds', 'CLASS_MIN_OVERLAPS', 'DIFFICULTIES', 'MIN_HEIGHT',
           'MAX_OCCLUSION', 'MAX_TRUNCATION', 'N_SAMPLE_PTS', 'KittiResult']

DIFFICULTIES = ('easy', 'moderate', 'hard')
MIN_HEIGHT = (40, 25, 25)
MAX_OCCLUSION = (0, 1, 2)
MAX_TRUNCATION = (0.15, 0.3, 0.5)
N_SAMPLE_PTS = 41
OVERLAP_METRICS = ('bbox', 'bev', '3d')
# Minimum overlaps per class: {set: (bbox, bev, 3d)}.
CLASS_MIN_OVERLAPS = {
    'Car': {'strict': (0.7, 0.7, 0.7), 'loose': (0.7, 0.5, 0.5)},
    'Pedestrian': {'strict': (0.5, 0.5, 0.5), 'loose': (0.5, 0.25, 0.25)},
    'Cyclist': {'strict': (0.5, 0.5, 0.5), 'loose': (0.5, 0.25, 0.25)},
    'Van': {'strict': (0.7, 0.7, 0.7), 'loose': (0.7, 0.5, 0.5)},
    'Person_sitting': {'strict': (0.5, 0.5, 0.5), 'loose': (0.5, 0.25, 0.25)},
}
_NEIGHBOUR = {'car': 'van', 'pedestrian': 'person_sitting'}
_BIG = np.iinfo(np.int64).max


def get_thresholds(scores: np.ndarray, num_gt: int, num_sample_pts: int = N_SAMPLE_PTS) -> np.ndarray:
    """Score thresholds at roughly equally spaced recall points (the official `get_thresholds`).

    Args:
        scores: (K,) scores of the true positives of the first matching pass.
        num_gt: number of valid (not ignored) ground-truth objects, >= K.
        num_sample_pts: recall sample points, 41.

    Returns:
        (T,) descending thresholds, T <= num_sample_pts.
    """
    s = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    n = len(s)
    if n == 0:
        return np.zeros(0)
    i = np.arange(n)
    l_recall = (i + 1) / num_gt
    r_recall = np.where(i < n - 1, (i + 2) / num_gt, l_recall)
    out = []
    current, start = 0.0, 0
    while start < n:
        # The official loop skips index i while (r - current) < (current - l) and i is not the last.
        take = ~((r_recall[start:] - current) < (current - l_recall[start:]))
        take[-1] = True
        k = start + int(np.argmax(take))
        out.append(s[k])
        current += 1 / (num_sample_pts - 1.0)
        start = k + 1
    return np.asarray(out[:num_sample_pts])


@dataclass(frozen=True)
class _Flat:
    """All frames' objects concatenated (frame-major, file order within a frame)."""

    frame: np.ndarray      # (K,) int64
    name: np.ndarray       # (K,) lower-case names
    dontcare: np.ndarray   # (K,) bool, name == 'DontCare' (case-sensitive, as the official code)
    labels: KittiLabels    # the concatenated fields


def _flatten(frames: Sequence[KittiLabels]) -> _Flat:
    counts = np.array([len(f.name) for f in frames], dtype=np.int64)
    frame = np.repeat(np.arange(len(frames)), counts)
    used = [f for f, n in zip(frames, counts, strict=True) if n]
    if not used:
        labels = KittiLabels.empty()
    else:
        labels = KittiLabels(**{k: np.concatenate([getattr(f, k) for f in used])
                                for k in KittiLabels.empty().as_dict()})
    return _Flat(frame, np.char.lower(labels.name), labels.name == 'DontCare', labels)


@dataclass(frozen=True)
class _Edges:
    """Detection/ground-truth pairs of one overlap metric with a positive overlap."""

    det: np.ndarray   # (E,) index into the detections
    gt: np.ndarray    # (E,) index into the ground truth
    overlap: np.ndarray


def _compute_edges(gt: _Flat, dt: _Flat, num_frames: int, gt_rel: np.ndarray,
                   dt_rel: np.ndarray) -> dict[str, _Edges]:
    gi_all, di_all = np.flatnonzero(gt_rel), np.flatnonzero(dt_rel)
    dp, gp = frame_pairs(dt.frame[di_all], gt.frame[gi_all], num_frames)
    d, g = di_all[dp], gi_all[gp]
    G, D = gt.labels, dt.labels
    edges = {}
    ov = image_overlap(D.bbox[d], G.bbox[g])
    keep = ov > 0
    edges['bbox'] = _Edges(d[keep], g[keep], ov[keep])
    bev, iou3d = bev_3d_overlap(D.dimensions[d], D.location[d], D.rotation_y[d],
                                G.dimensions[g], G.location[g], G.rotation_y[g])
    for key, val in (('bev', bev), ('3d', iou3d)):
        keep = val > 0
        edges[key] = _Edges(d[keep], g[keep], val[keep])
    return edges


def _dontcare_overlap(gt: _Flat, dt: _Flat, num_frames: int, dt_rel: np.ndarray) -> np.ndarray:
    """(D,) the largest intersection-over-detection-area of each detection with a DontCare box."""
    dc = np.flatnonzero(gt.dontcare)
    di = np.flatnonzero(dt_rel)
    out = np.zeros(len(dt.frame))
    if len(dc) == 0 or len(di) == 0:
        return out
    dp, cp = frame_pairs(dt.frame[di], gt.frame[dc], num_frames)
    ioa = image_overlap(dt.labels.bbox[di[dp]], gt.labels.bbox[dc[cp]], over_a=True)
    np.maximum.at(out, di[dp], ioa)
    return out


def _ignore_flags(gt: _Flat, dt: _Flat, cls: str, difficulty: int,
                  distance_range: tuple[float, float] | None = None,
                  height_limit: bool = True) -> tuple[np.ndarray, np.ndarray, int]:
    """Official `clean_data`: (G,) gt flags and (D,) det flags, 0 valid / 1 ignored / -1 other; #valid gt.

    With `distance_range` (lo, hi) valid objects and detections outside lo <= d < hi are ignored too;
    without `height_limit` the minimum 2D box height of the difficulty is not applied.
    """
    min_height = MIN_HEIGHT[difficulty] if height_limit else -np.inf
    cls = cls.lower()
    G, D = gt.labels, dt.labels
    height = G.bbox[:, 3] - G.bbox[:, 1]
    hard = ((G.occluded > MAX_OCCLUSION[difficulty]) | (G.truncated > MAX_TRUNCATION[difficulty])
            | (height <= min_height))
    same = gt.name == cls
    neighbour = gt.name == _NEIGHBOUR[cls] if cls in _NEIGHBOUR else np.zeros(len(same), bool)
    ig_gt = np.full(len(same), -1, np.int8)
    ig_gt[neighbour | (same & hard)] = 1
    ig_gt[same & ~hard] = 0
    dt_height = np.abs(D.bbox[:, 3] - D.bbox[:, 1])
    ig_dt = np.where(dt_height < min_height, 1, np.where(dt.name == cls, 0, -1)).astype(np.int8)
    if distance_range is not None:
        ig_gt[(ig_gt == 0) & ~_in_range(G, distance_range)] = 1
        ig_dt[(ig_dt == 0) & ~_in_range(D, distance_range)] = 1
    return ig_gt, ig_dt, int((ig_gt == 0).sum())


def _in_range(labels: KittiLabels, distance_range: tuple[float, float]) -> np.ndarray:
    """(K,) bool: the ground distance sqrt(x² + z²) of each object (camera frame) lies in [lo, hi)."""
    dist = np.hypot(labels.location[:, 0], labels.location[:, 2])
    return (dist >= distance_range[0]) & (dist < distance_range[1])


def _steps(order_g: np.ndarray, gt_frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For edges sorted by ground truth: (E,) rank of the edge within its gt, (E,) step of its gt.

    The step of a ground-truth object is its rank among the matched-for objects of its frame, so step k
    holds at most one object per frame and the steps reproduce the official per-frame order.
    """
    e = len(order_g)
    new_group = np.ones(e, bool)
    new_group[1:] = order_g[1:] != order_g[:-1]
    group_start = np.flatnonzero(new_group)
    rank = np.arange(e) - np.repeat(group_start, np.diff(np.append(group_start, e)))
    ug = order_g[group_start]
    f = gt_frame[ug]
    step_of_group = np.arange(len(ug)) - np.searchsorted(f, f, side='left')
    step = np.repeat(step_of_group, np.diff(np.append(group_start, e)))
    return rank, step


def _blocks(step: np.ndarray) -> list[np.ndarray]:
    """Edge index blocks, one per step, each in the given (preference) order."""
    by_step = np.argsort(step, kind='stable')
    bounds = np.searchsorted(step[by_step], np.arange(int(step.max(initial=-1)) + 2))
    return [by_step[bounds[k]:bounds[k + 1]] for k in range(len(bounds) - 1)]


def _match(det: np.ndarray, gt: np.ndarray, pref: tuple[np.ndarray, ...], gt_frame: np.ndarray,
           edge_score: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy matching in ground-truth order, all frames and all thresholds at once.

    Args:
        det: (E,) detection index of each edge (candidate pair with overlap > threshold).
        gt: (E,) ground-truth index of each edge.
        pref: lexsort keys (last = primary after gt) giving the preference order among a gt's edges.
        gt_frame: (G,) frame of each ground-truth object.
        edge_score: (E,) score of each edge's detection.
        thresholds: (T,) score thresholds; a detection takes part at threshold t when its score >= it.

    Returns:
        (M,) threshold index, (M,) detection and (M,) ground truth of every match.
    """
    order = np.lexsort((*pref, gt))
    det, gt, edge_score = det[order], gt[order], edge_score[order]
    rank, step = _steps(gt, gt_frame)
    udet, dloc = np.unique(det, return_inverse=True)
    assigned = np.zeros((len(thresholds), len(udet)), bool)
    out_t, out_e = [], []
    for block in _blocks(step):
        starts = np.flatnonzero(rank[block] == 0)
        free = (edge_score[block][None] >= thresholds[:, None]) & ~assigned[:, dloc[block]]
        minr = np.minimum.reduceat(np.where(free, rank[block][None], _BIG), starts, axis=1)
        t, grp = np.nonzero(minr != _BIG)
        edge = block[starts[grp] + minr[t, grp]]
        assigned[t, dloc[edge]] = True
        out_t.append(t)
        out_e.append(edge)
    if not out_t:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    edge = np.concatenate(out_e)
    return np.concatenate(out_t), det[edge], gt[edge]


def _evaluate_config(edges: _Edges, gt: _Flat, dt: _Flat, ig_gt: np.ndarray, ig_dt: np.ndarray, n_valid: int,
                     min_overlap: float, dc_overlap: np.ndarray | None,
                     with_aos: bool) -> dict[str, np.ndarray]:
    """Precision, recall (and orientation) curves of one class, difficulty, metric and minimum overlap."""
    keep = (edges.overlap > min_overlap) & (ig_gt[edges.gt] != -1) & (ig_dt[edges.det] != -1)
    det, gtx, ov = edges.det[keep], edges.gt[keep], edges.overlap[keep]
    score = dt.labels.score
    curves = {k: np.zeros(N_SAMPLE_PTS) for k in ('precision', 'recall', 'orientation')}
    # Pass 1: highest score first (ignored detections included), threshold 0; scores <= -1e7 never match
    # (the official 'valid_detection' sentinel).
    _, d, g = _match(det, gtx, (det, -score[det]), gt.frame, score[det], np.array([np.nextafter(-1e7, 0)]))
    tp_scores = score[d[(ig_gt[g] == 0) & (ig_dt[d] == 0)]]
    thresholds = get_thresholds(tp_scores, n_valid)
    T = len(thresholds)
    if T == 0:
        return curves
    # Pass 2: per threshold, best overlap among valid detections, else the first ignored one.
    dc_hit = (dc_overlap > min_overlap) if dc_overlap is not None else np.zeros(len(score), bool)
    ov_key = np.where(ig_dt[det] == 0, -ov, 0.0)
    t, d, g = _match(det, gtx, (det, ov_key, ig_dt[det]), gt.frame, score[det], thresholds)
    valid_gt, valid_dt = ig_gt[g] == 0, ig_dt[d] == 0
    is_tp = valid_gt & valid_dt
    tp = np.bincount(t[is_tp], minlength=T).astype(np.float64)
    matched_valid_gt = np.bincount(t[valid_gt], minlength=T)
    assigned_counted = np.bincount(t[valid_dt & ~dc_hit[d]], minlength=T)
    similarity: np.ndarray = np.zeros(T)
    if with_aos:
        delta = gt.labels.alpha[g[is_tp]] - dt.labels.alpha[d[is_tp]]
        similarity = np.bincount(t[is_tp], weights=(1.0 + np.cos(delta)) / 2.0, minlength=T)
    # Valid detections above each threshold, outside DontCare regions (2D only), not assigned -> FP.
    pool = np.sort(score[(ig_dt == 0) & ~dc_hit])
    above = len(pool) - np.searchsorted(pool, thresholds, side='left')
    fp = above - assigned_counted
    fn = n_valid - matched_valid_gt
    with np.errstate(divide='ignore', invalid='ignore'):
        recall = np.nan_to_num(tp / (tp + fn))
        precision = np.nan_to_num(tp / (tp + fp))
        orientation = np.nan_to_num(similarity / (tp + fp))
    for key, val in (('recall', recall), ('precision', precision), ('orientation', orientation)):
        curves[key][:T] = val
        curves[key] = np.maximum.accumulate(curves[key][::-1])[::-1]
    return curves


def _check_classes(classes: Sequence[str]) -> tuple[str, ...]:
    out = tuple(classes)
    if not out:
        raise OmnifuseError('KITTI evaluation: no class to evaluate')
    for c in out:
        if c not in CLASS_MIN_OVERLAPS:
            raise OmnifuseError(f'KITTI evaluation: unknown class {c!r}; the protocol defines '
                                f'{", ".join(CLASS_MIN_OVERLAPS)}')
    return out


def evaluate_kitti(gt_frames: Sequence[KittiLabels], pred_frames: Sequence[KittiLabels], *,
                   classes: Sequence[str] = ('Car', 'Pedestrian', 'Cyclist'),
                   distance_range: tuple[float, float] | None = None,
                   height_limit: bool = True,
                   progress: bool = False) -> KittiResult:
    """Evaluate detections against ground truth with the official KITTI protocol.

    Args:
        gt_frames: per frame, the ground-truth objects (KITTI camera-label form; DontCare rows included).
        pred_frames: per frame (same order), the detections with scores.
        classes: classes to score, from Car, Pedestrian, Cyclist, Van, Person_sitting.
        distance_range: (lo, hi) metres: score only objects whose ground distance from the camera,
            sqrt(x² + z²) of the label location, is in [lo, hi). Ground truth outside is ignored like
            a too-hard object (a detection matched to it is neither a true nor a false positive) and
            detections outside are ignored like too-small ones, so an object near a bin edge is not
            a miss in one bin and a false positive in the next. Not part of the official protocol.
        height_limit: apply the difficulties' minimum 2D box height (40 / 25 / 25 px). The official
            protocol does; a car 1.5 m tall is under 25 px beyond ~43 m in a KITTI image (f = 721 px),
            so scoring far objects needs False (occlusion and truncation limits still apply).
        progress: show a tqdm progress bar over the evaluation steps.

    Returns:
        A KittiResult: AP|R11 and AP|R40 in percent for every class, overlap set ('strict', 'loose'),
        metric ('bbox', 'bev', '3d', 'aos') and difficulty, plus the 41-point curves.

    Raises:
        OmnifuseError: different numbers of frames, an unknown class, or detections without scores.
    """
    classes = _check_classes(classes)
    if distance_range is not None:
        distance_range = (float(distance_range[0]), float(distance_range[1]))
        if not distance_range[0] < distance_range[1]:
            raise OmnifuseError(f'KITTI evaluation: distance range {distance_range} is empty (need lo < hi)')
    if len(gt_frames) != len(pred_frames):
        raise OmnifuseError(f'KITTI evaluation: {len(gt_frames)} ground-truth frames but '
                            f'{len(pred_frames)} prediction frames')
    num_frames = len(gt_frames)
    gt, dt = _flatten(gt_frames), _flatten(pred_frames)
    if not np.isfinite(dt.labels.score).all():
        bad = int(dt.frame[np.flatnonzero(~np.isfinite(dt.labels.score))[0]])
        raise OmnifuseError(f'KITTI evaluation: detections of frame #{bad} have no (finite) score')
    lower = {c.lower() for c in classes}
    gt_rel = np.isin(gt.name, sorted(lower | {_NEIGHBOUR[c] for c in lower if c in _NEIGHBOUR}))
    dt_height = np.abs(dt.labels.bbox[:, 3] - dt.labels.bbox[:, 1])
    dt_rel = np.isin(dt.name, sorted(lower)) | (dt_height < max(MIN_HEIGHT))
    edges = _compute_edges(gt, dt, num_frames, gt_rel, dt_rel)
    dc_overlap = _dontcare_overlap(gt, dt, num_frames, dt_rel)

    jobs = [(c, diff) for c in classes for diff in range(len(DIFFICULTIES))]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(jobs), desc='KITTI eval', unit='class-difficulty')
    curves: dict[tuple[str, str, str], dict[str, np.ndarray]] = {}
    for cls, diff in jobs:
        ig_gt, ig_dt, n_valid = _ignore_flags(gt, dt, cls, diff, distance_range, height_limit)
        cache: dict[tuple[str, float], dict[str, np.ndarray]] = {}
        for oset, mins in CLASS_MIN_OVERLAPS[cls].items():
            for m, metric in enumerate(OVERLAP_METRICS):
                key = (metric, mins[m])
                if key not in cache:
                    cache[key] = _evaluate_config(edges[metric], gt, dt, ig_gt, ig_dt, n_valid, mins[m],
                                                  dc_overlap if metric == 'bbox' else None, metric == 'bbox')
                res = cache[key]
                for out_metric, curve in ((metric, 'precision'), ('aos', 'orientation')):
                    if out_metric == 'aos' and metric != 'bbox':
                        continue
                    slot = curves.setdefault((cls, oset, out_metric), {
                        'precision': np.zeros((3, N_SAMPLE_PTS)), 'recall': np.zeros((3, N_SAMPLE_PTS))})
                    slot['precision'][diff] = res[curve]
                    slot['recall'][diff] = res['recall']
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    return KittiResult.from_curves(curves, classes=classes, num_frames=num_frames,
                                   min_overlaps=CLASS_MIN_OVERLAPS)
