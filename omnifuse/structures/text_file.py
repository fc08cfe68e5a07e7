"""The text of a data file, or a one-line error naming it (the readers of structures/ share this)."""

from __future__ import annotations

from pathlib import Path

from omnifuse.errors import FormatError

__all__ = ['read_text_file']


def read_text_file(path: str | Path, what: str) -> str:
    """The UTF-8 text of `path`; `what` names the files in the error (e.g. 'KITTI labels')."""
    path = Path(path)
    try:
        return path.read_text(encoding='utf-8')
    except UnicodeDecodeError:
        raise FormatError(f'{path}: not a text file ({what} are UTF-8/ASCII text)') from None
