"""KITTI text files read with nothing but str.split, independently of omnifuse's readers (for checking them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def raw_calib(path: Path) -> dict[str, np.ndarray]:
    """Every `key: v v v ...` line of a KITTI calib file -> {key: (n,) float64}."""
    out = {}
    for line in path.read_text().splitlines():
        if ':' in line:
            key, values = line.split(':', 1)
            out[key.strip()] = np.array([float(v) for v in values.split()])
    return out
