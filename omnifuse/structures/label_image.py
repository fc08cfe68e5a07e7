"""Label images (per-pixel class ids) from PNG files, for the datasets and the evaluation alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from omnifuse.errors import FormatError
from omnifuse.structures.image_file import read_image_unchanged

__all__ = ['read_label_png']


def read_label_png(path: str | Path) -> np.ndarray:
    """Read a label image as (H, W) int64 class ids (8- or 16-bit single-channel PNG).

    Raises:
        FileNotFoundError: no such file.
        FormatError: unreadable, or not a single-channel image.
    """
    img = read_image_unchanged(path)
    if img.ndim == 3:
        if img.shape[2] >= 3 and np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 1], img[..., 2]):
            img = img[..., 0]
        else:
            raise FormatError(f'{path}: a label image must hold one channel of class ids, found {img.shape[2]} '
                              'different channels (a colour visualisation?)')
    if img.dtype not in (np.uint8, np.uint16):
        raise FormatError(f'{path}: label ids must be 8- or 16-bit, found {img.dtype}')
    return img.astype(np.int64)
