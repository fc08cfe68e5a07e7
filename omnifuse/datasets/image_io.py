"""Image files to arrays: the one place where OpenCV's BGR becomes RGB."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from omnifuse.errors import FormatError

__all__ = ['read_image_unchanged', 'read_rgb_image']


def read_image_unchanged(path: str | Path) -> np.ndarray:
    """The file as OpenCV decodes it (any depth and channel count; colour channels in BGR order)."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, 'No such file or directory', str(path))
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FormatError(f'{path}: not an image OpenCV can decode')
    return img


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
