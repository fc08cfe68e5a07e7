"""A square bird's-eye-view grid around the ego, LiDAR frame.

Image convention, so that a grid saved as a PNG reads like a map seen from above with the vehicle
facing up: row 0 is the front edge (x = +extent), column 0 the left edge (y = +extent).

    row r  <->  x = extent - (r + 0.5) * resolution
    col c  <->  y = extent - (c + 0.5) * resolution
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ['BEVGrid']


@dataclass(frozen=True)
class BEVGrid:
    """Square grid of `size × size` cells of `resolution` metres covering ±extent around the ego.

    Attributes:
        resolution: cell edge [m]. extent: half side [m].
    """

    resolution: float = 0.1
    extent: float = 10.0

    @property
    def size(self) -> int:
        """Cells along each side."""
        return int(round(2 * self.extent / self.resolution))

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the grid."""
        return (self.size, self.size)

    def cell_centers(self) -> np.ndarray:
        """(H, W, 2) x, y [m] of every cell centre, LiDAR frame."""
        idx = (np.arange(self.size) + 0.5) * self.resolution
        x = self.extent - idx
        y = self.extent - idx
        return np.stack(np.meshgrid(x, y, indexing='ij'), -1)

    def xy_to_cell(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cells holding points.

        Args:
            xy: (N, >=2) points, LiDAR frame (only x, y used).

        Returns:
            rows (N,) int, cols (N,) int, inside (N,) bool (rows/cols are clipped where outside).
        """
        xy = np.asarray(xy, dtype=np.float64)
        rows = np.floor((self.extent - xy[:, 0]) / self.resolution).astype(np.int64)
        cols = np.floor((self.extent - xy[:, 1]) / self.resolution).astype(np.int64)
        inside = (rows >= 0) & (rows < self.size) & (cols >= 0) & (cols < self.size)
        return rows.clip(0, self.size - 1), cols.clip(0, self.size - 1), inside
