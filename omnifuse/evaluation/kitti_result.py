"""The result of a KITTI evaluation: AP tables, flat metric keys and the printed report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ['KittiResult', 'ap11', 'ap40', 'METRIC_ROWS', 'OVERLAP_SETS', 'DIFFICULTY_NAMES']

METRIC_ROWS = ('bbox', 'bev', '3d', 'aos')
OVERLAP_SETS = ('strict', 'loose')
DIFFICULTY_NAMES = ('easy', 'moderate', 'hard')
_ROW_HELP = {'bbox': '2D image box', 'bev': "bird's-eye-view box", '3d': '3D box',
             'aos': 'orientation (2D match)'}


def _cells(values: Sequence[float]) -> str:
    return ' '.join(f'{v:8.2f}' for v in values)


def ap11(precision: np.ndarray) -> np.ndarray:
    """AP|R11 [%]: mean of the 41-point precision at indices 0, 4, ..., 40 (recall 0, 0.1, ..., 1).

    Args:
        precision: (..., 41) monotone precision curves.
    """
    return np.asarray(precision[..., 0::4].sum(-1) / 11 * 100)


def ap40(precision: np.ndarray) -> np.ndarray:
    """AP|R40 [%]: mean of the 41-point precision at indices 1..40 (recall 1/40, ..., 1)."""
    return np.asarray(precision[..., 1:].sum(-1) / 40 * 100)


@dataclass(frozen=True)
class KittiResult:
    """KITTI AP values and curves.

    Attributes:
        ap: {class: {set: {metric: {'AP11': [easy, moderate, hard], 'AP40': [...]}}}}, percent; set in
            ('strict', 'loose'), metric in ('bbox', 'bev', '3d', 'aos').
        curves: {(class, set, metric): {'precision': (3, 41), 'recall': (3, 41)}}, rows easy/moderate/hard;
            for 'aos' the 'precision' curve is the orientation similarity.
        min_overlaps: {class: {set: (bbox, bev, 3d)}} the thresholds used.
        classes: the evaluated classes, in order.
        num_frames: number of frames evaluated.
    """

    ap: dict[str, dict[str, dict[str, dict[str, list[float]]]]]
    curves: dict[tuple[str, str, str], dict[str, np.ndarray]] = field(repr=False)
    min_overlaps: dict[str, dict[str, tuple[float, float, float]]]
    classes: tuple[str, ...]
    num_frames: int

    @classmethod
    def from_curves(cls, curves: Mapping[tuple[str, str, str], Mapping[str, np.ndarray]], *,
                    classes: Sequence[str], num_frames: int,
                    min_overlaps: Mapping[str, Mapping[str, tuple[float, float, float]]]) -> KittiResult:
        """Build the AP tables from 41-point curves keyed (class, set, metric)."""
        ap: dict[str, dict[str, dict[str, dict[str, list[float]]]]] = {}
        for c in classes:
            ap[c] = {}
            for s in OVERLAP_SETS:
                ap[c][s] = {}
                for m in METRIC_ROWS:
                    prec = curves[(c, s, m)]['precision']
                    ap[c][s][m] = {'AP11': [float(v) for v in ap11(prec)],
                                   'AP40': [float(v) for v in ap40(prec)]}
        mins = {c: dict(min_overlaps[c]) for c in classes}
        return cls(ap=ap, curves={k: dict(v) for k, v in curves.items()}, min_overlaps=mins,
                   classes=tuple(classes), num_frames=num_frames)

    def to_dict(self) -> dict[str, dict[str, dict[str, dict[str, list[float]]]]]:
        """The JSON shape {class: {set: {metric: {'AP11': [e, m, h], 'AP40': [e, m, h]}}}} (percent)."""
        return {c: {s: {m: {k: list(v) for k, v in self.ap[c][s][m].items()} for m in METRIC_ROWS}
                    for s in OVERLAP_SETS} for c in self.classes}

    def overall(self, overlap_set: str = 'strict') -> dict[str, dict[str, list[float]]]:
        """Mean over the classes, as mmdet3d's 'Overall': {metric: {'AP11': [e, m, h], 'AP40': [...]}}."""
        out: dict[str, dict[str, list[float]]] = {}
        for m in METRIC_ROWS:
            out[m] = {}
            for k in ('AP11', 'AP40'):
                vals = np.array([self.ap[c][overlap_set][m][k] for c in self.classes])
                out[m][k] = [float(v) for v in vals.mean(0)]
        return out

    def flat(self) -> dict[str, float]:
        """Flat metric keys (percent).

        '{class}_{metric}_{difficulty}_{AP11|AP40}' for the strict set, the same with '_loose' appended
        for the loose set, and 'Overall_...' (strict, mean over classes) when there is more than one class.
        """
        out: dict[str, float] = {}
        for c in self.classes:
            for s in OVERLAP_SETS:
                suffix = '' if s == 'strict' else '_loose'
                for m in METRIC_ROWS:
                    for k in ('AP11', 'AP40'):
                        for d, v in zip(DIFFICULTY_NAMES, self.ap[c][s][m][k], strict=True):
                            out[f'{c}_{m}_{d}_{k}{suffix}'] = v
        if len(self.classes) > 1:
            for m, vals in self.overall().items():
                for k, v3 in vals.items():
                    for d, v in zip(DIFFICULTY_NAMES, v3, strict=True):
                        out[f'Overall_{m}_{d}_{k}'] = v
        return out

    def table(self) -> str:
        """The familiar KITTI report as text.

        Per class and overlap set, rows bbox/bev/3d/aos, columns easy/moderate/hard for AP|R11 and AP|R40.
        """
        lines = [
            f'KITTI object detection evaluation: {self.num_frames} frames, classes {", ".join(self.classes)}',
            'Average precision in percent. AP|R11: mean precision at the 11 recall points 0, 0.1, ..., 1 '
            '(the original metric);',
            'AP|R40: mean precision at the 40 recall points 1/40, ..., 1 (the KITTI leaderboard since 2019).',
            'Difficulty: easy / moderate / hard = objects taller than 40 / 25 / 25 px, occluded at most '
            '0 / 1 / 2, truncated at most 15 / 30 / 50 %.',
            'Rows: ' + ', '.join(f'{k} = {v}' for k, v in _ROW_HELP.items())
            + '; a detection matches when its overlap (IoU) exceeds the minimum shown.',
        ]
        head = f'  {"metric":<6} {"min IoU":>7} | {"AP|R11":^26} | {"AP|R40":^26}'
        sub = f'  {"":<6} {"":>7} | ' + ' '.join(f'{d:>8}' for d in DIFFICULTY_NAMES) + ' | ' + \
            ' '.join(f'{d:>8}' for d in DIFFICULTY_NAMES)
        for c in self.classes:
            for s in OVERLAP_SETS:
                mins = self.min_overlaps[c][s]
                title = f'{c} -- {s} overlaps (bbox {mins[0]:.2f}, bev {mins[1]:.2f}, 3d {mins[2]:.2f})'
                lines += ['', title, head, sub]
                for m in METRIC_ROWS:
                    thr = mins[0] if m == 'aos' else mins[('bbox', 'bev', '3d').index(m)]
                    ap = self.ap[c][s][m]
                    lines.append(f'  {m:<6} {thr:>7.2f} | ' + _cells(ap['AP11']) + ' | ' + _cells(ap['AP40']))
        if len(self.classes) > 1:
            lines += ['', f'Mean over the {len(self.classes)} classes -- strict overlaps', head, sub]
            for m, row in self.overall().items():
                lines.append(f'  {m:<6} {"":>7} | ' + _cells(row['AP11']) + ' | ' + _cells(row['AP40']))
        return '\n'.join(lines) + '\n'
