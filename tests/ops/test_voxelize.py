"""Voxelisation, scatter ops, voxel lookup and RoI-grid statistics against brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from omnifuse.ops import (
    VoxelTable,
    batch_voxelize,
    dynamic_voxelize,
    grid_shape,
    hard_voxelize,
    roi_cell_stats,
    roi_grid_points,
    scatter_max,
    scatter_mean,
    sparse_trilinear,
    unique_voxels,
)
from omnifuse.ops.features import SparseLevel
from omnifuse.structures.geometry_torch import points_in_boxes_torch

RANGE = (0.0, -4.0, -1.0, 8.0, 4.0, 1.0)
VS = (0.5, 0.5, 0.5)


def _cloud(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    lo = torch.tensor([-1.0, -5.0, -1.5])
    hi = torch.tensor([9.0, 5.0, 1.5])
    xyz = lo + torch.rand(n, 3, generator=g) * (hi - lo)
    return torch.cat([xyz, torch.rand(n, 1, generator=g)], 1)


def _reference_hard(points: np.ndarray, max_points: int, max_voxels: int):
    """Loop reference: first voxels and first points in input order win."""
    lo, vs = np.array(RANGE[:3]), np.array(VS)
    D, H, W = grid_shape(RANGE, VS)
    voxels: dict[tuple, list] = {}
    order = []
    for p in points:
        idx = np.floor((p[:3] - lo) / vs).astype(int)
        if (idx < 0).any() or (idx >= [W, H, D]).any():
            continue
        key = (idx[2], idx[1], idx[0])
        if key not in voxels:
            if len(voxels) >= max_voxels:
                continue
            voxels[key] = []
            order.append(key)
        if len(voxels[key]) < max_points:
            voxels[key].append(p)
    return order, voxels


@pytest.mark.parametrize('seed', [0, 1])
def test_hard_voxelize_matches_loop_reference(seed: int) -> None:
    pts = _cloud(400, seed)
    voxels, coords, num = hard_voxelize(pts, VS, RANGE, max_points=3, max_voxels=60)
    order, ref = _reference_hard(pts.numpy(), 3, 60)
    assert [tuple(c) for c in coords.tolist()] == [tuple(int(v) for v in k) for k in order]
    for i, key in enumerate(order):
        n = len(ref[key])
        assert int(num[i]) == n
        np.testing.assert_allclose(voxels[i, :n].numpy(), np.stack(ref[key]), rtol=0, atol=0)
        assert (voxels[i, n:] == 0).all()


def test_dynamic_voxelize_marks_out_of_range_points() -> None:
    pts = torch.tensor([[0.1, 0.1, 0.1, 0], [7.9, -3.9, -0.9, 0], [8.0, 0, 0, 0], [-0.1, 0, 0, 0], [1, 1, 1.0, 0]])
    coords = dynamic_voxelize(pts, VS, RANGE)
    assert coords[0].tolist() == [2, 8, 0]
    assert coords[1].tolist() == [0, 0, 15]
    assert (coords[2:] == -1).all()


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 300))
def test_unique_voxels_inverts_and_keeps_first_appearance(seed: int, n: int) -> None:
    g = torch.Generator().manual_seed(seed)
    coords = torch.randint(0, 4, (n, 4), generator=g)
    uniq, inverse = unique_voxels(coords)
    assert torch.equal(uniq[inverse], coords)
    first = [int((coords == u).all(1).nonzero()[0]) for u in uniq]
    assert first == sorted(first)
    assert len(uniq) == len(torch.unique(coords, dim=0))


def test_scatter_ops_match_loops() -> None:
    g = torch.Generator().manual_seed(3)
    src = torch.randn(50, 4, generator=g)
    index = torch.randint(0, 7, (50,), generator=g)
    mean = scatter_mean(src, index, 8)
    mx = scatter_max(src, index, 8)
    for k in range(8):
        sel = src[index == k]
        if len(sel):
            torch.testing.assert_close(mean[k], sel.mean(0))
            torch.testing.assert_close(mx[k], sel.max(0).values)
        else:
            assert (mean[k] == 0).all() and (mx[k] == 0).all()


def test_batch_voxelize_prefixes_the_sample_index() -> None:
    a, b = _cloud(100, 4), _cloud(80, 5)
    _, coords, _ = batch_voxelize([a, b], VS, RANGE, mode='hard', max_points=4, max_voxels=1000)
    _, ca, _ = hard_voxelize(a, VS, RANGE, max_points=4, max_voxels=1000)
    assert set(coords[:, 0].tolist()) == {0, 1}
    assert torch.equal(coords[coords[:, 0] == 0, 1:], ca)


def test_voxel_table_finds_exactly_the_stored_voxels() -> None:
    coords = torch.tensor([[0, 1, 2, 3], [1, 0, 0, 0], [0, 4, 4, 4]])
    table = VoxelTable(coords, (5, 5, 5))
    query = torch.tensor([[0, 4, 4, 4], [0, 1, 2, 3], [1, 0, 0, 1], [0, 9, 0, 0], [1, 0, 0, 0]])
    assert table.lookup(query).tolist() == [2, 0, -1, -1, 1]


def test_sparse_trilinear_is_exact_at_centres_and_ignores_empty_voxels() -> None:
    coords = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 2]])
    feats = torch.tensor([[1.0, 10.0], [3.0, 30.0]])
    level = SparseLevel(feats, coords, origin=(0.25, 0.25, 0.25), spacing=(0.5, 0.5, 0.5), shape=(2, 4, 4))
    xyz = torch.tensor([[0.75, 0.75, 0.25], [1.0, 0.75, 0.25], [0.75, 0.9, 0.4], [5.0, 5.0, 5.0]])
    out, weight = sparse_trilinear(level, xyz, torch.zeros(4, dtype=torch.long))
    torch.testing.assert_close(out[0], feats[0])
    torch.testing.assert_close(out[1], feats.mean(0))
    torch.testing.assert_close(out[2], feats[0])  # its other neighbours are empty: renormalised
    assert float(weight[3]) == 0 and (out[3] == 0).all()


def test_roi_cell_stats_counts_the_points_inside_each_roi() -> None:
    g = torch.Generator().manual_seed(7)
    pts = torch.rand(3000, 3, generator=g) * torch.tensor([20.0, 20.0, 3.0]) - torch.tensor([0.0, 10.0, 1.5])
    batch = torch.randint(0, 2, (3000,), generator=g)
    rois = torch.tensor([[5.0, 0.0, 0.0, 4.0, 2.0, 1.6, 0.3], [12.0, -3.0, -0.2, 3.0, 3.0, 2.0, -1.2],
                         [5.0, 0.0, 0.0, 4.0, 2.0, 1.6, 0.3]])
    rb = torch.tensor([0, 0, 1])
    count, centroid = roi_cell_stats(pts, batch, rois, rb, 6)
    for r in range(3):
        inside = points_in_boxes_torch(pts[batch == rb[r]], rois[r:r + 1])[:, 0]
        assert abs(int(count[r].sum()) - int(inside.sum())) <= 1  # boundary points may fall either way
    assert float(centroid.abs().max()) <= 0.5
    grid, local = roi_grid_points(rois, 6)
    assert grid.shape == (3, 216, 3)
    inside = points_in_boxes_torch(grid[0], rois[:1])
    assert bool(inside.all())
