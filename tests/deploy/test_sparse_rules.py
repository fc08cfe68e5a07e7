"""The numpy steps of the exported detector (omnifuse.deploy): index tables against a brute-force lookup, and
the per-corner trilinear neighbours against the plain (P, K, 3) formulation they replaced."""

from __future__ import annotations

import numpy as np
import pytest

from omnifuse.deploy import detector_np as dnp
from omnifuse.deploy.sparse_plan import SparsePlanner
from omnifuse.deploy.sparse_rules import SiteGrid, conv_rules, kernel_offsets, strided_sites
from omnifuse.deploy.voxels_np import stable_argsort


def _random_sites(rng: np.random.Generator, shape: tuple[int, int, int], n: int) -> np.ndarray:
    flat = rng.choice(int(np.prod(shape)), n, replace=False)
    D, H, W = shape
    return np.stack([flat // (H * W), (flat // W) % H, flat % W], 1).astype(np.int64)


@pytest.mark.parametrize('subm', [True, False])
def test_conv_rules_match_a_brute_force_lookup(subm: bool) -> None:
    rng = np.random.default_rng(0)
    shape = (5, 17, 13)
    sites = _random_sites(rng, shape, 300)
    kernel, stride, padding = (3, 1, 1) if subm else (3, 2, 1)
    out = sites if subm else strided_sites(sites, shape, kernel, stride, padding)
    grid = SiteGrid(shape, 3)
    grid.fill(sites)
    rules = conv_rules(grid, out, kernel, stride, padding)
    assert rules.dtype == np.int32 and rules.shape == (out.shape[0], 27)
    row = {tuple(s): i for i, s in enumerate(sites.tolist())}
    want = np.array([[row.get(tuple(o * stride - padding + k), -1) for k in kernel_offsets(kernel).tolist()]
                     for o in out], np.int32)
    np.testing.assert_array_equal(rules, want)
    # a strided output is a site some offset reads; -1 (no input) gathers the zero row appended to features
    assert subm or (rules >= 0).any(1).all()
    feats = np.concatenate([rng.normal(size=(sites.shape[0], 2)), np.zeros((1, 2))])
    np.testing.assert_array_equal(feats[rules], feats[np.where(rules < 0, sites.shape[0], rules)])
    grid.clear()
    assert (grid.cells == -1).all()


@pytest.mark.parametrize('size', [3000, 65536, 11_264_000])
def test_stable_order_is_numpys_stable_argsort(size: int) -> None:
    """The voxeliser's sort (one or two 16-bit radix passes): numpy's stable argsort, ties in input
    order (many ties: keys drawn from few values, or spread over the whole range)."""
    rng = np.random.default_rng(5)
    for keys in (rng.integers(0, min(size, 300), 40_000), rng.integers(0, size, 40_000)):
        np.testing.assert_array_equal(stable_argsort(keys, size), np.argsort(keys, kind='stable'))


def _second_like_spec(shape: list[int]) -> dict:
    """A backbone description laid out as the shipped SECOND backbone's (subm, then per level a strided and a
    submanifold convolution, the last one folding z)."""
    convs = [dict(table='subm0', subm=True, kernel=[3, 3, 3], stride=[1, 1, 1], padding=[1, 1, 1], in_set=0,
                  out_set=0)]
    for s in (1, 2, 3):
        convs += [dict(table=f'down{s}', subm=False, kernel=[3, 3, 3], stride=[2, 2, 2], padding=[1, 1, 1],
                       in_set=s - 1, out_set=s),
                  dict(table=f'subm{s}', subm=True, kernel=[3, 3, 3], stride=[1, 1, 1], padding=[1, 1, 1],
                       in_set=s, out_set=s)]
    convs.append(dict(table='down4', subm=False, kernel=[3, 1, 1], stride=[2, 1, 1], padding=[0, 0, 0], in_set=3,
                      out_set=4))
    return {'sparse_shape': shape, 'convs': convs, 'levels': {}, 'bev_set': 4}


def test_planner_with_a_helper_thread_gives_the_same_plan() -> None:
    """The site sets (and the first convolution's columns) computed in a helper thread beside the table lookups:
    the same tables, sites, columns and BEV rows as in one thread, scan after scan (the lookup grids are
    reused)."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(3)
    shape = [21, 160, 140]
    alone, helped = SparsePlanner(_second_like_spec(shape)), SparsePlanner(_second_like_spec(shape))
    with ThreadPoolExecutor(1) as helper:
        for n in (4000, 9000, 2500):
            zyx = _random_sites(rng, tuple(shape), n)
            feats = rng.normal(size=(n, 4)).astype(np.float32)
            want, got = alone.plan(zyx, features=feats), helped.plan(zyx, helper, feats)
            assert alone.plan(zyx).columns is None
            np.testing.assert_array_equal(got.columns, want.columns)
            # the first convolution's columns: row o holds the features of its 27 neighbours (zeros where none)
            rules = want.tables['subm0']
            expect = np.where((rules >= 0)[..., None], feats[rules], 0).reshape(n, 27 * 4)
            np.testing.assert_array_equal(want.columns, expect)
            assert list(got.tables) == list(want.tables)
            for name, table in want.tables.items():
                np.testing.assert_array_equal(got.tables[name], table, err_msg=name)
            assert sorted(got.sites) == sorted(want.sites) == [0, 1, 2, 3, 4]
            for s, sites in want.sites.items():
                np.testing.assert_array_equal(got.sites[s], sites)
            np.testing.assert_array_equal(got.bev_rows, want.bev_rows)
            assert (got.bev_rows >= 0).sum() == want.sites[4].shape[0] > 0
    for planner in (alone, helped):
        assert all((grid.cells == -1).all() for grid in planner.grids.values())


def _trilinear_reference(geometry: dict, sites: np.ndarray, xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (P, K, 3) formulation `trilinear_rows` had before (kept here as the reference)."""
    F32 = np.float32
    origin, spacing = np.asarray(geometry['origin'], F32), np.asarray(geometry['spacing'], F32)
    shape = geometry['shape']
    rel = (xyz.astype(F32) - origin) / spacing
    flat = int(shape[0]) == 1
    if flat:
        rel = np.concatenate([rel[:, :2], np.zeros_like(rel[:, 2:])], 1)
    base = np.floor(rel)
    frac = rel - base
    offs = np.asarray([(dx, dy, dz) for dz in ((0,) if flat else (0, 1)) for dy in (0, 1) for dx in (0, 1)], np.int64)
    idx = base.astype(np.int64)[:, None, :] + offs[None]
    w = np.where(offs[None].astype(bool), frac[:, None, :], F32(1) - frac[:, None, :]).prod(-1)
    rows = dnp._lookup(sites, shape, idx[..., ::-1])
    return rows, (w * (rows >= 0)).astype(F32)


@pytest.mark.parametrize('depth', [1, 4])
def test_trilinear_rows_equal_the_plain_formulation(depth: int) -> None:
    rng = np.random.default_rng(1)
    shape = (depth, 20, 16)
    geometry = {'origin': [0.1, -4.0, -3.0], 'spacing': [0.4, 0.4, 1.0], 'shape': list(shape)}
    sites = _random_sites(rng, shape, 150 * depth)
    # points inside, on and beyond every border of the grid
    xyz = rng.uniform([-1.0, -5.5, -4.5], [7.5, 4.5, 1.5], (2000, 3)).astype(np.float32)
    rows, weights = dnp.trilinear_rows(geometry, sites, xyz)
    want_rows, want_weights = _trilinear_reference(geometry, sites, xyz)
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_array_equal(weights, want_weights)  # bit for bit: the same float32 products in order
    assert weights.dtype == np.float32 and (rows >= 0).any()
