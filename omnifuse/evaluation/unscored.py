"""What an evaluator leaves out, said instead of dropped: prediction files of frames the ground truth lacks."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

__all__ = ['extra_prediction_files', 'extra_files_note']


def extra_prediction_files(pred_dir: str | Path, scored: Iterable[str], suffix: str) -> list[str]:
    """Sorted stems of the `*<suffix>` files in `pred_dir` whose frame is not among the `scored` stems."""
    keep = set(scored)
    return sorted(p.stem for p in Path(pred_dir).glob(f'*{suffix}') if p.stem not in keep)


def extra_files_note(extra: list[str]) -> str | None:
    """The line an evaluator prints about `extra_prediction_files` (None when there are none)."""
    if not extra:
        return None
    shown = ', '.join(extra[:5]) + (', ...' if len(extra) > 5 else '')
    return f'{len(extra)} prediction file(s) for frames without ground truth ignored ({shown}).'
