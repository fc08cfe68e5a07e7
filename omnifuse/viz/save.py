"""Writing pictures: the output path checked before any work starts, then one call to save an RGB image."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from omnifuse.errors import OmnifuseError

__all__ = ['IMAGE_SUFFIXES', 'check_image_path', 'save_picture']

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg')


def check_image_path(path: str | Path, *, option: str = '--png') -> Path:
    """The picture file `path` as given to `option`, refused before the work when it cannot be written:
    an existing folder, a suffix OpenCV cannot write, a parent that is a file. Creates the parent folders."""
    path = Path(path)
    if path.is_dir():
        raise OmnifuseError(f'{option} {path}: is a folder; give a file name such as {path / "picture.png"}')
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise OmnifuseError(f'{option} {path}: unknown picture type {path.suffix or "(no suffix)"!r}; '
                            f'use one of {", ".join(IMAGE_SUFFIXES)}')
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise OmnifuseError(f'{option} {path}: {parent} is a file, not a folder')
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def save_picture(path: str | Path, rgb: np.ndarray, *, option: str = '--png') -> Path:
    """Write an (H, W, 3) uint8 RGB picture (PNG compressed) to a path `check_image_path` accepts."""
    import cv2

    path = check_image_path(path, option=option)
    params = [cv2.IMWRITE_PNG_COMPRESSION, 9] if path.suffix.lower() == '.png' else []
    if not cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR), params):
        raise OmnifuseError(f'{option} {path}: OpenCV could not write the picture')
    return path
