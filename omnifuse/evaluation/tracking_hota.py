"""HOTA (DetA, AssA, LocA) on KITTI tracking 2D boxes, as TrackEval scores it.

This reproduces TrackEval (JonathonLuiten/TrackEval @ 12c8791): the dataset class `Kitti2DBox`
(trackeval/datasets/kitti_2d_box.py: reading, preprocessing) and the metric `HOTA`
(trackeval/metrics/hota.py), on `KittiTrackRows` (one per sequence). docs/tracking.md, "Evaluation
protocol", lists every rule with where it comes from; in short:

- Classes car and pedestrian only. Rows with a negative track id are dropped (ground-truth DontCare
  rows become ignore regions first). Similarity = IoU of the 2D boxes (x1, y1, x2, y2).
- Preprocessing per frame: ground truth of the class and of its distractor class (Van for car, Person
  for pedestrian) is matched to the class's predictions (Hungarian on IoU, pairs below 0.5 zeroed);
  predictions matched to a distractor, or to ground truth occluded > 2 or truncated > 0, are removed;
  unmatched predictions at most 25 px tall or more than half inside a DontCare region are removed;
  then the distractor, occluded and truncated ground truth is removed.
- HOTA per sequence for alpha = 0.05, 0.10, ..., 0.95: a global alignment score per id pair from all
  frames, Hungarian matching per frame on alignment x similarity, TP at similarity >= alpha;
  DetA = TP / (TP + FN + FP), AssA = mean over TPs of the id pair's TPA / (TPA + FNA + FPA), LocA the
  mean similarity of the TPs, HOTA = sqrt(DetA AssA). Sequences combine by summing TP, FN, FP and
  TP-weighting AssA and LocA. The reported numbers are the means over the 19 alphas.

The arithmetic follows TrackEval operation by operation (same summation order, same epsilon
comparisons), so the numbers agree to the last bits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import cast

import numpy as np

from omnifuse.errors import FormatError
from omnifuse.structures.geometry import iou_2d
from omnifuse.structures.kitti_tracking import KittiTrackRows

__all__ = ['HOTA_CLASSES', 'HotaScores', 'evaluate_hota', 'ALPHAS']

ALPHAS = np.arange(0.05, 0.99, 0.05)  # TrackEval's `array_labels`, bit for bit
HOTA_CLASSES = {'car': 'van', 'pedestrian': 'person'}  # class: distractor class
MAX_OCCLUSION = 2
MAX_TRUNCATION = 0
MIN_HEIGHT = 25
_EPS = np.finfo('float').eps
_ARRAY_FIELDS = ('HOTA', 'DetA', 'AssA', 'DetRe', 'DetPr', 'AssRe', 'AssPr', 'LocA')


@dataclass(frozen=True)
class HotaScores:
    """HOTA of one class: means over the 19 alphas (fractions), and the per-alpha arrays.

    Attributes:
        HOTA, DetA, AssA, LocA: the reported values (mean over alpha).
        per_alpha: {'HOTA', 'DetA', 'AssA', 'DetRe', 'DetPr', 'AssRe', 'AssPr', 'LocA', 'TP', 'FN', 'FP'}:
            (19,) arrays at alpha = ALPHAS.
    """

    HOTA: float
    DetA: float
    AssA: float
    LocA: float
    per_alpha: dict[str, np.ndarray]

    def as_dict(self) -> dict[str, float]:
        """The four reported values as a plain dict."""
        d = asdict(self)
        d.pop('per_alpha')
        return d


@dataclass
class _Frame:
    """One frame of one class after preprocessing."""

    gt_ids: np.ndarray
    trk_ids: np.ndarray
    similarity: np.ndarray


def _box_ioa(boxes: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """(N, M) intersection over the area of each box (TrackEval `_calculate_box_ious(do_ioa=True)`)."""
    lo = np.maximum(boxes[:, None, :], regions[None, :, :])
    hi = np.minimum(boxes[:, None, :], regions[None, :, :])
    inter = np.maximum(hi[..., 2] - lo[..., 0], 0) * np.maximum(hi[..., 3] - lo[..., 1], 0)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    out = np.zeros_like(inter)
    ok = area > 0 + _EPS
    out[ok, :] = inter[ok, :] / area[ok][:, None]
    return out


def _frame_groups(rows: KittiTrackRows) -> dict[int, np.ndarray]:
    if len(rows) == 0:
        return {}
    order = np.argsort(rows.frame, kind='stable')
    frames, starts = np.unique(rows.frame[order], return_index=True)
    return dict(zip(frames.tolist(), np.split(order, starts[1:]), strict=True))


def _preprocess(gt: KittiTrackRows, pred: KittiTrackRows, cls: str, seq: str) -> list[_Frame]:
    """The frames of one sequence for one class, as `Kitti2DBox.get_preprocessed_seq_data` leaves them."""
    from scipy.optimize import linear_sum_assignment

    distractor = HOTA_CLASSES[cls]
    g_names = np.char.lower(gt.labels.name.astype(str))
    dontcare = g_names == 'dontcare'
    regions = gt.select(dontcare)
    g = gt.select(~dontcare & (gt.track_id >= 0))
    g_names = np.char.lower(g.labels.name.astype(str))
    g_keep_class = (g_names == cls) | (g_names == distractor)
    g = g.select(g_keep_class)
    g_distractor = g_names[g_keep_class] == distractor
    g_occ = g.labels.occluded.astype(np.int64)
    g_trunc = g.labels.truncated.astype(np.int64)
    p_names = np.char.lower(pred.labels.name.astype(str))
    p = pred.select((p_names == cls) & (pred.track_id >= 0))

    g_frames, p_frames, r_frames = _frame_groups(g), _frame_groups(p), _frame_groups(regions)
    last = max([int(r.frame.max()) for r in (gt, pred) if len(r)], default=-1)
    empty = np.zeros(0, np.int64)
    frames = []
    for t in range(last + 1):
        gi, pi = g_frames.get(t, empty), p_frames.get(t, empty)
        g_box, p_box = g.labels.bbox[gi], p.labels.bbox[pi]
        sim = iou_2d(g_box, p_box)
        unmatched = np.arange(len(pi))
        remove_matched = empty
        if len(gi) and len(pi):
            scores = sim.copy()
            scores[scores < 0.5 - _EPS] = 0
            rows, cols = linear_sum_assignment(-scores)
            ok = scores[rows, cols] > 0 + _EPS
            rows, cols = rows[ok], cols[ok]
            drop = g_distractor[gi][rows] | (g_occ[gi][rows] > MAX_OCCLUSION + _EPS) \
                | (g_trunc[gi][rows] > MAX_TRUNCATION + _EPS)
            remove_matched = cols[drop]
            unmatched = np.delete(unmatched, cols, axis=0)
        u_box = p_box[unmatched, :]
        too_small = u_box[:, 3] - u_box[:, 1] <= MIN_HEIGHT + _EPS
        in_region = np.any(_box_ioa(u_box, regions.labels.bbox[r_frames.get(t, empty)]) > 0.5 + _EPS, axis=1)
        remove = np.concatenate([remove_matched, unmatched[too_small | in_region]])
        keep_p = np.delete(np.arange(len(pi)), remove)
        keep_g = (g_occ[gi] <= MAX_OCCLUSION) & (g_trunc[gi] <= MAX_TRUNCATION) & ~g_distractor[gi]
        frames.append(_Frame(g.track_id[gi][keep_g], p.track_id[pi][keep_p], sim[keep_g][:, keep_p]))
        if len(np.unique(frames[-1].trk_ids)) != len(frames[-1].trk_ids):
            dup = [i for i in frames[-1].trk_ids if (frames[-1].trk_ids == i).sum() > 1][0]
            raise FormatError(f'predictions of sequence {seq}: track id {dup} occurs more than once in frame {t} '
                              f'among the {cls} rows; ids must be unique per frame')
    # Ids relabelled 0..n-1 (sorted), as TrackEval does.
    for attr in ('gt_ids', 'trk_ids'):
        ids = np.unique(np.concatenate([getattr(f, attr) for f in frames])) if frames else empty
        for f in frames:
            setattr(f, attr, np.searchsorted(ids, getattr(f, attr)).astype(np.int64))
    return frames


def _zeros() -> dict[str, np.ndarray]:
    return {k: np.zeros(len(ALPHAS)) for k in (*_ARRAY_FIELDS, 'TP', 'FN', 'FP')}


def _final_fields(res: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    tp, fn, fp = res['TP'], res['FN'], res['FP']
    res['DetRe'] = tp / np.maximum(1, tp + fn)
    res['DetPr'] = tp / np.maximum(1, tp + fp)
    res['DetA'] = tp / np.maximum(1, tp + fn + fp)
    res['HOTA'] = np.sqrt(res['DetA'] * res['AssA'])
    return res


def _sequence_hota(frames: list[_Frame]) -> dict[str, np.ndarray]:
    """TrackEval `HOTA.eval_sequence` for one sequence."""
    from scipy.optimize import linear_sum_assignment

    res = _zeros()
    num_gt = sum(len(f.gt_ids) for f in frames)
    num_trk = sum(len(f.trk_ids) for f in frames)
    if num_trk == 0 or num_gt == 0:
        res['FN' if num_trk == 0 else 'FP'] = float(num_gt if num_trk == 0 else num_trk) * np.ones(len(ALPHAS))
        res['LocA'] = np.ones(len(ALPHAS))
        return _final_fields(res)
    n_gid = int(max(f.gt_ids.max(initial=-1) for f in frames)) + 1
    n_tid = int(max(f.trk_ids.max(initial=-1) for f in frames)) + 1
    potential = np.zeros((n_gid, n_tid))
    gt_count = np.zeros((n_gid, 1))
    trk_count = np.zeros((1, n_tid))
    for f in frames:
        sim = f.similarity
        denom = sim.sum(0)[np.newaxis, :] + sim.sum(1)[:, np.newaxis] - sim
        sim_iou = np.zeros_like(sim)
        mask = denom > 0 + _EPS
        sim_iou[mask] = sim[mask] / denom[mask]
        potential[f.gt_ids[:, np.newaxis], f.trk_ids[np.newaxis, :]] += sim_iou
        gt_count[f.gt_ids] += 1
        trk_count[0, f.trk_ids] += 1
    alignment = potential / (gt_count + trk_count - potential)
    matches = np.zeros((len(ALPHAS), n_gid, n_tid))
    loc_sums = np.zeros((len(frames), len(ALPHAS)))
    for k, f in enumerate(frames):
        if len(f.gt_ids) == 0:
            res['FP'] += len(f.trk_ids)
            continue
        if len(f.trk_ids) == 0:
            res['FN'] += len(f.gt_ids)
            continue
        score = alignment[f.gt_ids[:, np.newaxis], f.trk_ids[np.newaxis, :]] * f.similarity
        rows, cols = linear_sum_assignment(-score)
        sims = f.similarity[rows, cols]
        hit = sims[np.newaxis, :] >= ALPHAS[:, np.newaxis] - _EPS  # (alphas, matches)
        n_hit = hit.sum(1)
        res['TP'] += n_hit
        res['FN'] += len(f.gt_ids) - n_hit
        res['FP'] += len(f.trk_ids) - n_hit
        # Python's sum over the matches in order; adding 0.0 for a miss changes nothing.
        loc_sums[k] = np.cumsum(np.where(hit, sims[np.newaxis, :], 0.0), axis=1)[:, -1]
        a, m = np.nonzero(hit)
        matches[a, f.gt_ids[rows[m]], f.trk_ids[cols[m]]] += 1
    res['LocA'] = np.cumsum(loc_sums, axis=0)[-1]
    for ai in range(len(ALPHAS)):
        mc = matches[ai]
        tp = np.maximum(1, res['TP'][ai])
        res['AssA'][ai] = np.sum(mc * (mc / np.maximum(1, gt_count + trk_count - mc))) / tp
        res['AssRe'][ai] = np.sum(mc * (mc / np.maximum(1, gt_count))) / tp
        res['AssPr'][ai] = np.sum(mc * (mc / np.maximum(1, trk_count))) / tp
    res['LocA'] = np.maximum(1e-10, res['LocA']) / np.maximum(1e-10, res['TP'])
    return _final_fields(res)


def _combine(per_seq: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """TrackEval `HOTA.combine_sequences`: sums, and TP-weighted AssA / AssRe / AssPr / LocA."""
    res = _zeros()
    for key in ('TP', 'FN', 'FP'):
        res[key] = cast(np.ndarray, sum(r[key] for r in per_seq))
    for key in ('AssRe', 'AssPr', 'AssA'):
        res[key] = sum(r[key] * r['TP'] for r in per_seq) / np.maximum(1.0, res['TP'])
    loca = sum(r['LocA'] * r['TP'] for r in per_seq)
    res['LocA'] = np.maximum(1e-10, loca) / np.maximum(1e-10, res['TP'])
    return _final_fields(res)


def evaluate_hota(gt: Mapping[str, KittiTrackRows], pred: Mapping[str, KittiTrackRows], *, cls: str,
                  seqs: Sequence[str] | None = None) -> HotaScores:
    """TrackEval's HOTA on KITTI 2D boxes for one class.

    Args:
        gt: ground-truth rows per sequence name (label_02 files).
        pred: tracking results per sequence name (the 2D boxes are scored; scores are not used).
        cls: 'car' or 'pedestrian'.
        seqs: sequences to score, in this order; default: the keys of `gt`.

    Returns:
        The class's HOTA, DetA, AssA, LocA (fractions, means over alpha) and the per-alpha arrays.

    Raises:
        FormatError: a track id twice in one frame among the class's predictions (after preprocessing,
            as TrackEval checks).
        KeyError: a sequence missing from `gt` or `pred`.
    """
    if cls not in HOTA_CLASSES:
        raise ValueError(f'evaluate_hota: HOTA is defined for {", ".join(HOTA_CLASSES)} only, got {cls!r}')
    seqs = list(gt) if seqs is None else list(seqs)
    res = _combine([_sequence_hota(_preprocess(gt[s], pred[s], cls, s)) for s in seqs])
    per_alpha = {k: res[k] for k in _ARRAY_FIELDS}
    per_alpha.update(TP=res['TP'], FN=res['FN'], FP=res['FP'])
    return HotaScores(HOTA=float(np.mean(res['HOTA'])), DetA=float(np.mean(res['DetA'])),
                      AssA=float(np.mean(res['AssA'])), LocA=float(np.mean(res['LocA'])), per_alpha=per_alpha)
