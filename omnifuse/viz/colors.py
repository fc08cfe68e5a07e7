"""Colours for drawings: class palette and value-to-colour maps (OpenCV colormaps, RGB out)."""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ['CLASS_COLORS', 'class_color', 'colormap', 'depth_colors']

# RGB; chosen to stay distinct from each other and from the depth colormap's blues on dark images.
CLASS_COLORS: dict[str, tuple[int, int, int]] = {
    'Car': (0, 255, 0),
    'Van': (0, 200, 120),
    'Truck': (0, 160, 255),
    'Pedestrian': (255, 60, 200),
    'Person_sitting': (200, 60, 255),
    'Cyclist': (255, 220, 0),
    'Tram': (0, 255, 255),
    'Misc': (255, 150, 50),
    'DontCare': (128, 128, 128),
    'Vehicle': (0, 255, 0),
    'Sign': (255, 255, 255),
}


def class_color(name: str) -> tuple[int, int, int]:
    """RGB colour of a class name (a stable made-up colour for unknown names)."""
    if name in CLASS_COLORS:
        return CLASS_COLORS[name]
    h = zlib.crc32(name.encode())
    return (80 + h % 176, 80 + (h >> 8) % 176, 80 + (h >> 16) % 176)


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
