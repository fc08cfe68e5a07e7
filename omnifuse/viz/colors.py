"""Colours for drawings: the class palette and value-to-colour maps (OpenCV colormaps, RGB out)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

__all__ = ['CLASS_COLORS', 'class_color', 'class_palette', 'colormap', 'depth_colors']

# The one class palette (RGB), keyed by lower-case class name: a class has the same colour in every picture
# (boxes on images and in bird's-eye views, semantic masks, occupancy grids, the simulator's contact sheet,
# the ROS markers). The semantic "stuff" classes keep Cityscapes-like colours; the box classes are bright, to
# stay visible as thin lines on dark images and apart from the depth colormap's blues.
CLASS_COLORS: dict[str, tuple[int, int, int]] = {
    # semantic classes without boxes (the simulator's, omnifuse.datasets.sim.classes)
    'unlabeled': (0, 0, 0),
    'road': (128, 64, 128),
    'sidewalk': (250, 170, 160),
    'terrain': (152, 251, 152),
    'building': (70, 70, 70),
    'pole': (153, 153, 153),
    'vegetation': (107, 142, 35),
    'sky': (70, 130, 180),
    # box classes (KITTI names; the simulator's things are the same classes)
    'car': (0, 255, 0),
    'van': (0, 200, 120),
    'truck': (0, 160, 255),
    'pedestrian': (255, 60, 200),
    'person_sitting': (200, 60, 255),
    'cyclist': (255, 220, 0),
    'tram': (0, 255, 255),
    'misc': (255, 150, 50),
    'dontcare': (128, 128, 128),
    'sign': (255, 255, 255),
}
# Other datasets' names for the same classes.
_SAME_CLASS = {'vehicle': 'car', 'person': 'pedestrian', 'bike': 'cyclist', 'background': 'unlabeled'}


def class_color(name: str) -> tuple[int, int, int]:
    """RGB colour of a class name, case-insensitive (a stable made-up colour for unknown names)."""
    key = name.lower()
    key = _SAME_CLASS.get(key, key)
    if key in CLASS_COLORS:
        return CLASS_COLORS[key]
    h = zlib.crc32(name.encode())
    return (80 + h % 176, 80 + (h >> 8) % 176, 80 + (h >> 16) % 176)


def class_palette(class_names: Sequence[str]) -> np.ndarray:
    """(len(class_names), 3) uint8 RGB: the colour of each class id of a label image whose ids index
    `class_names`."""
    return np.array([class_color(n) for n in class_names], dtype=np.uint8).reshape(-1, 3)


def colormap(values: np.ndarray, *, vmin: float, vmax: float, cmap: int | None = None,
             reverse: bool = False) -> np.ndarray:
    """Map values to RGB colours with an OpenCV colormap.

    Args:
        values: (N,) values; NaN maps like vmin.
        vmin: value mapped to the colormap's first colour (values below are clipped).
        vmax: value mapped to its last colour (values above are clipped).
        cmap: a cv2.COLORMAP_* constant (default TURBO).
        reverse: vmin gets the colormap's last colour instead of its first.

    Returns:
        (N, 3) uint8 RGB.
    """
    import cv2

    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        return np.zeros((0, 3), np.uint8)
    span = max(vmax - vmin, 1e-9)
    t = np.nan_to_num((v - vmin) / span, nan=0.0).clip(0.0, 1.0)
    if reverse:
        t = 1.0 - t
    idx = np.round(t * 255).astype(np.uint8).reshape(-1, 1)
    bgr = cv2.applyColorMap(idx, cv2.COLORMAP_TURBO if cmap is None else cmap).reshape(-1, 3)
    return np.ascontiguousarray(bgr[:, ::-1])


def depth_colors(depth: np.ndarray, *, max_depth: float = 60.0) -> np.ndarray:
    """(N, 3) uint8 RGB for depths [m]: near is red, far is blue (TURBO, reversed)."""
    return colormap(depth, vmin=0.0, vmax=max_depth, reverse=True)
