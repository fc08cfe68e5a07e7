"""Image files to arrays: the one place where OpenCV's BGR becomes RGB."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from omnifuse.errors import FormatError
from omnifuse.structures.image_file import read_image_unchanged

__all__ = ['read_image_unchanged', 'read_rgb_image']


def read_rgb_image(path: str | Path) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB (grey images are repeated, 16-bit scaled down, alpha dropped)."""
    import cv2

    img = read_image_unchanged(path)
    if img.dtype == np.uint16:
        img = np.right_shift(img, 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise FormatError(f'{path}: expected an 8- or 16-bit image, got {img.dtype}')
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    if img.shape[2] != 3:
        raise FormatError(f'{path}: expected 1, 3 or 4 channels, found {img.shape[2]}')
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
