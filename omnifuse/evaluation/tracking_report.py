"""KITTI tracking scores of several classes in one report: 3D MOT and HOTA joined per class, with the notes a
reader needs (what `omnifuse eval tracking` prints and writes as JSON).

    label_02/<seq>.txt, results/<seq>.txt -> read_tracking_folders -> {seq: KittiTrackRows} (gt, pred)
      -> evaluate_tracking: per class evaluate_mot (tracking_mot) + evaluate_hota (tracking_hota, car and
         pedestrian) -> TrackingReport (scores per class, notes) -> format_tracking_table / TrackingReport.json_doc

Scores are percentages (the fractions of MotScores / HotaScores times 100); IDS, FRAG, FP and FN stay counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from omnifuse.errors import FormatError
from omnifuse.evaluation.tracking_hota import HOTA_CLASSES, evaluate_hota
from omnifuse.evaluation.tracking_mot import evaluate_mot
from omnifuse.structures.kitti_tracking import KittiTrackRows, read_kitti_tracking

__all__ = ['TrackingReport', 'evaluate_tracking', 'evaluate_tracking_folders', 'read_tracking_folders']

_MOT_PERCENT = ('sAMOTA', 'AMOTA', 'AMOTP', 'MOTA', 'MOTP')


@dataclass(frozen=True)
class TrackingReport:
    """The tracking scores of the requested classes over the requested sequences.

    Attributes:
        scores: class -> {'sAMOTA', 'AMOTA', 'AMOTP', 'MOTA', 'MOTP' (percent, float; MOTA -inf where no ground
            truth is left after the ignore rules), 'IDS', 'FRAG', 'FP', 'FN' (int), and for car and pedestrian
            'HOTA', 'DetA', 'AssA', 'LocA' (percent)}, in the order the classes were asked for.
        notes: one sentence each about what the numbers do not show: result rows after a sequence's last
            ground-truth frame, a class without ground truth or without predictions.
    """

    scores: dict[str, dict[str, float | int]]
    notes: list[str]

    def json_doc(self) -> dict[str, dict[str, float | int | None]]:
        """`scores` with every non-finite value as None (JSON has no infinity)."""
        return {cls: {k: v if isinstance(v, int) or math.isfinite(v) else None for k, v in r.items()}
                for cls, r in self.scores.items()}


def read_tracking_folders(gt_dir: str | Path, pred_dir: str | Path, seqs: Sequence[str]
                          ) -> tuple[dict[str, KittiTrackRows], dict[str, KittiTrackRows]]:
    """The ground truth (`gt_dir/<seq>.txt`, KITTI label_02) and the results (`pred_dir/<seq>.txt`, KITTI tracking
    format) of `seqs` (e.g. '0001') -> (gt, pred) rows per sequence.

    Raises:
        FileNotFoundError: a sequence's ground-truth or result file is missing (the message says to write an empty
            result file for a sequence without tracks).
        FormatError: a line that is not a KITTI tracking row.
    """
    gt_dir, pred_dir = Path(gt_dir), Path(pred_dir)
    gt, pred = {}, {}
    for seq in seqs:
        g, p = gt_dir / f'{seq}.txt', pred_dir / f'{seq}.txt'
        if not g.is_file():
            raise FileNotFoundError(2, f'ground truth of sequence {seq} is missing', str(g))
        if not p.is_file():
            raise FileNotFoundError(2, f'result file of sequence {seq} is missing (write an empty file for a '
                                    'sequence without tracks)', str(p))
        gt[seq] = read_kitti_tracking(g)
        pred[seq] = read_kitti_tracking(p)
    return gt, pred


def evaluate_tracking(gt: Mapping[str, KittiTrackRows], pred: Mapping[str, KittiTrackRows], *,
                      classes: Sequence[str], seqs: Sequence[str], min_overlap: float = 0.25) -> TrackingReport:
    """AB3DMOT's 3D MOT (`evaluate_mot`) and TrackEval's HOTA (`evaluate_hota`, car and pedestrian) per class.

    Args:
        gt: ground-truth rows per sequence name (label_02 files).
        pred: tracking results per sequence name (same names; rectified camera frame, 18 columns).
        classes: classes to score, from 'car', 'pedestrian', 'cyclist', in the report's order.
        seqs: sequences to score, in this order.
        min_overlap: 3D IoU a match needs for the MOT metrics, in (0, 1].

    Returns:
        The report: scores per class (percent; counts as ints) and notes.

    Raises:
        FormatError: DontCare rows or ids below -1 in the predictions, or a track id twice in one frame of a class.
    """
    notes = []
    for seq in seqs:
        last_gt = int(gt[seq].frame.max(initial=-1))
        late = pred[seq].frame > last_gt
        if late.any():
            notes.append(f'sequence {seq}: {int(late.sum())} result row(s) after the last ground-truth frame '
                         f'{last_gt} are scored against no ground truth.')
    scores: dict[str, dict[str, float | int]] = {}
    for cls in classes:
        mot = evaluate_mot(gt, pred, cls=cls, min_overlap=min_overlap, seqs=seqs)
        r: dict[str, float | int] = {k: 100 * getattr(mot, k) for k in _MOT_PERCENT}
        r.update(IDS=mot.IDS, FRAG=mot.FRAG, FP=mot.FP, FN=mot.FN)
        if mot.n_gt == 0:
            notes.append(f'{cls}: no ground truth that is not ignored; MOTA is -inf as in AB3DMOT (null in JSON).')
        if mot.num_predictions == 0:
            notes.append(f'{cls}: no prediction (AB3DMOT\'s evaluate.py skips such a class; its numbers here are 0).')
        if cls in HOTA_CLASSES:
            r.update({k: 100 * v for k, v in evaluate_hota(gt, pred, cls=cls, seqs=seqs).as_dict().items()})
        scores[cls] = r
    return TrackingReport(scores, notes)


def evaluate_tracking_folders(gt_dir: str | Path, pred_dir: str | Path, *, classes: Sequence[str],
                              seqs: Sequence[str], min_overlap: float = 0.25) -> TrackingReport:
    """`evaluate_tracking` of the files of `read_tracking_folders`; a refused result names `pred_dir`.

    Raises:
        FileNotFoundError: a ground-truth or result file is missing.
        FormatError: an unreadable line, or results the protocol refuses ('<pred_dir>: ...').
    """
    gt, pred = read_tracking_folders(gt_dir, pred_dir, seqs)
    try:
        return evaluate_tracking(gt, pred, classes=classes, seqs=seqs, min_overlap=min_overlap)
    except FormatError as exc:
        raise FormatError(f'{Path(pred_dir)}: {exc}') from None
