"""Sparse 3D convolution as gathers and one matrix product: the index tables ("rules"), in numpy.

A sparse convolution over the active sites of a voxel grid is, for every output site `o` and kernel offset
`k`, a sum of `W[k] @ x[i]` over the input site `i` that offset `k` reads (when it is active). With the
active input rows followed by one zero row, the table `rules[o, k]` = that input row (or -1, the zero row
counted from the end) turns the whole convolution into

    out = x_pad[rules].reshape(M_out, K * C_in) @ W.reshape(K * C_in, C_out)

one gather and one matrix product, which ONNX and OpenVINO run as they are (`omnifuse.deploy.sparse_graph`).
The index tables depend on the active sites only, never on features, so they are computed here, outside
the graph, once per scan (one sample: coordinates are (z, y, x) int64 in a (D, H, W) grid).

The rules follow spconv 2.x (the layers the detector is trained with), kernel offset order (kz, ky, kx):
    submanifold (SubMConv3d): the output sites are the input sites; offset k reads i = o + k - k_size // 2.
    strided (SparseConv3d): offset k reads i = o * stride - padding + k; the output sites are every o in
        the output grid that reads at least one active input site (in raster order).

Lookups go through a dense grid of rows (`SiteGrid`), kept between scans and cleared cell by cell: a fresh
grid of the finest level costs more (page faults on 50 MB) than everything else here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from omnifuse.errors import ShapeError

__all__ = ['Triple', 'triple', 'conv_output_shape', 'kernel_offsets', 'SiteGrid', 'strided_sites', 'conv_rules',
           'gather_columns']

Triple = tuple[int, int, int]


def triple(value: int | Sequence[int], name: str) -> Triple:
    """(a, b, c) from one number or three."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value), int(value)
    out = tuple(int(v) for v in value)
    if len(out) != 3:
        raise ShapeError(f'{name}: expected one number or three, got {value!r}')
    return out[0], out[1], out[2]


def conv_output_shape(shape: Sequence[int], kernel: int | Sequence[int], stride: int | Sequence[int],
                      padding: int | Sequence[int]) -> Triple:
    """(D', H', W') of a convolution over a (D, H, W) grid."""
    k, s, p = triple(kernel, 'kernel'), triple(stride, 'stride'), triple(padding, 'padding')
    d, h, w = ((int(n) + 2 * p[i] - k[i]) // s[i] + 1 for i, n in enumerate(shape))
    return d, h, w


def kernel_offsets(kernel: int | Sequence[int]) -> np.ndarray:
    """(K, 3) int64 (dz, dy, dx) kernel indices in weight order (z slowest, x fastest)."""
    kz, ky, kx = triple(kernel, 'kernel')
    grid = np.stack(np.meshgrid(np.arange(kz), np.arange(ky), np.arange(kx), indexing='ij'), -1)
    return grid.reshape(-1, 3).astype(np.int64)


class SiteGrid:
    """Rows of the active sites of one (D, H, W) grid, as a dense int32 array with `margin` empty cells on
    every side (so kernel reads past the border need no bounds check).

    `fill(sites)` writes rows 0..M-1; `rows(flat)` reads them (-1 where empty); `clear()` empties the cells
    `fill` wrote, so the next scan reuses the array.
    """

    def __init__(self, shape: Sequence[int], margin: int) -> None:
        self.shape = triple(shape, 'shape')
        self.margin = int(margin)
        self.dims = tuple(n + 2 * self.margin for n in self.shape)
        self.cells = np.full(int(np.prod(self.dims)), -1, np.int32)
        self._filled = np.zeros(0, np.int64)

    def flat(self, zyx: np.ndarray) -> np.ndarray:
        """(...,) int64 cell index of (..., 3) (z, y, x) sites (-margin .. n - 1 + margin).

        The cells are laid out y, x, z (z fastest): the grids are flat (D of 2-41 against H, W of 100-1600),
        so a site's 27 neighbours lie in 3 runs of 3 x D cells, not 9 runs over 3 distant z planes (fewer
        cache and TLB misses in `conv_rules`' lookups)."""
        m = self.margin
        D, _, W = self.dims
        return ((zyx[..., 1] + m) * W + (zyx[..., 2] + m)) * D + (zyx[..., 0] + m)

    def step(self, offsets: np.ndarray) -> np.ndarray:
        """(K,) int64 flat step of each (K, 3) (dz, dy, dx) offset."""
        D, _, W = self.dims
        return (offsets[:, 1] * W + offsets[:, 2]) * D + offsets[:, 0]

    def fill(self, zyx: np.ndarray) -> None:
        """Make the (M, 3) sites active, site i at row i (clears any previous fill first)."""
        self.clear()
        self._filled = self.flat(zyx)
        self.cells[self._filled] = np.arange(zyx.shape[0], dtype=np.int32)

    def clear(self) -> None:
        """Empty the cells of the last fill."""
        self.cells[self._filled] = -1
        self._filled = np.zeros(0, np.int64)


def _axis_outputs(n_in: int, n_out: int, k: int, s: int, p: int) -> np.ndarray:
    """(n_in, C) output indices along one axis that each input index feeds (-1 pads; C = outputs at most)."""
    i = np.arange(n_in)[:, None]
    num = i + p - np.arange(k)[None, :]  # (n_in, k): o * s = i + p - k
    out = np.where((num % s == 0) & (num >= 0) & (num // s < n_out), num // s, -1)
    out = -np.sort(-out, axis=1)  # valid outputs first
    width = max(int((out >= 0).sum(1).max(initial=0)), 1)
    return out[:, :width]


def strided_sites(zyx: np.ndarray, shape: Sequence[int], kernel: int | Sequence[int],
                  stride: int | Sequence[int], padding: int | Sequence[int]) -> np.ndarray:
    """(M', 3) int64 output sites (raster order) of a strided sparse convolution over active (M, 3) `zyx`.

    An output site o is active when some kernel offset k reads an active input: o * s - p + k = i, i.e.
    o = (i + p - k) / s, integral and inside the output grid. Per axis an input feeds at most ceil(k / s)
    outputs, so the sites are the combinations of each axis' candidates (8 passes for kernel 3, stride 2).
    """
    k, s, p = triple(kernel, 'kernel'), triple(stride, 'stride'), triple(padding, 'padding')
    out_shape = conv_output_shape(shape, kernel, stride, padding)
    cands = [_axis_outputs(int(shape[d]), out_shape[d], k[d], s[d], p[d])[zyx[:, d]] for d in range(3)]
    marks = np.zeros(int(np.prod(out_shape)), bool)
    _, H, W = out_shape
    for a in range(cands[0].shape[1]):
        for b in range(cands[1].shape[1]):
            for c in range(cands[2].shape[1]):
                oz, oy, ox = cands[0][:, a], cands[1][:, b], cands[2][:, c]
                ok = (oz >= 0) & (oy >= 0) & (ox >= 0)
                marks[((oz * H + oy) * W + ox)[ok]] = True
    flat = np.flatnonzero(marks)
    return np.stack([flat // (H * W), (flat // W) % H, flat % W], 1).astype(np.int64)


def conv_rules(grid: SiteGrid, out_zyx: np.ndarray, kernel: int | Sequence[int], stride: int | Sequence[int],
               padding: int | Sequence[int]) -> np.ndarray:
    """(M_out, K) int32 input row read by each output site and kernel offset; -1 where none.

    `grid` holds the active input sites (`SiteGrid.fill`). A submanifold convolution is the case out_zyx = the
    input sites, stride 1, padding k_size // 2. -1 is what a Gather (numpy, torch, ONNX) reads as the last
    row: the zero row appended to the features, so the table needs no second pass to name that row.
    """
    s, p = np.array(triple(stride, 'stride')), np.array(triple(padding, 'padding'))
    base = grid.flat(out_zyx * s - p)  # (M_out,) the cell offset (0, 0, 0) reads
    return np.take(grid.cells, base[:, None] + grid.step(kernel_offsets(kernel))[None, :])


def gather_columns(features: np.ndarray, rules: np.ndarray) -> np.ndarray:
    """(M_out, K·C) the rows of (M_in, C) `features` that each output site reads at each offset (`rules`
    (M_out, K) from `conv_rules`; -1 reads zeros): the input of a convolution's matrix product, as the graph
    gathers it."""
    padded = np.concatenate([features, np.zeros((1, features.shape[1]), features.dtype)])
    return np.take(padded, rules, axis=0).reshape(rules.shape[0], -1)
