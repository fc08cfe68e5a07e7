"""The KITTI tracking scores as one text table (`omnifuse eval tracking`): a row per class, 3D MOT and HOTA columns."""

from __future__ import annotations

__all__ = ['TRACKING_COLUMNS', 'format_tracking_table']

TRACKING_COLUMNS = ('sAMOTA', 'AMOTA', 'AMOTP', 'MOTA', 'MOTP', 'IDS', 'FRAG', 'FP', 'FN',
                    'HOTA', 'DetA', 'AssA', 'LocA')


def format_tracking_table(results: dict[str, dict[str, float | int]]) -> str:
    """One line of headers and one per class; counts as integers, the rest with 2 decimals, '-' where missing.

    Args:
        results: class -> metric name -> value (percentages; IDS, FRAG, FP, FN as ints).
    """
    lines = ['class       ' + ''.join(f'{c:>8s}' for c in TRACKING_COLUMNS)]
    for cls, r in results.items():
        cells = []
        for c in TRACKING_COLUMNS:
            v = r.get(c)
            cells.append(f'{"-":>8s}' if v is None else f'{v:8d}' if isinstance(v, int) else f'{v:8.2f}')
        lines.append(f'{cls:12s}' + ''.join(cells))
    return '\n'.join(lines) + '\n'
