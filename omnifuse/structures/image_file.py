"""Decode an image file exactly as stored: the one OpenCV `imread` of the package."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from omnifuse.errors import FormatError

__all__ = ['read_image_unchanged']


def read_image_unchanged(path: str | Path) -> np.ndarray:
    """The file as OpenCV decodes it (any depth and channel count; colour channels in BGR order).

    Raises:
        FileNotFoundError: no such file.
        FormatError: OpenCV cannot decode it.
    """
    import cv2

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, 'No such file or directory', str(path))
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FormatError(f'{path}: not an image OpenCV can decode')
    return img
