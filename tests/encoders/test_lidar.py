"""LiDAR encoders: spconv SECOND-style backbone geometry, pillar scatter, BEV neck, CPU backward."""

from __future__ import annotations

import numpy as np
import torch

from omnifuse.encoders.lidar import BevNeck, SecondLidarEncoder
from omnifuse.encoders.lidar_pillars import PillarLidarEncoder
from omnifuse.ops import grid_shape

RANGE = (0.0, -6.4, -2.0, 12.8, 6.4, 1.2)


def _points(n: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    xyz = rng.uniform([0.5, -6, -1.8], [12, 6, 1.0], size=(n, 3))
    return torch.from_numpy(np.concatenate([xyz, rng.uniform(0, 1, (n, 1))], 1).astype(np.float32))


def test_second_encoder_levels_contain_the_voxel_of_every_point() -> None:
    torch.manual_seed(0)
    enc = SecondLidarEncoder(voxel_size=(0.2, 0.2, 0.2), point_range=RANGE, channels=(8, 8, 16, 16),
                             out_channels=16).eval()
    pts = [_points(300, 1), _points(200, 2)]
    with torch.no_grad():
        out = enc(pts)
    D, H, W = grid_shape(RANGE, (0.2, 0.2, 0.2))
    assert enc.sparse_shape == (D + 1, H, W)
    assert out.bev.shape[:2] == (2, enc.bev_channels)
    assert out.bev.shape[2:] == (enc.level_geometry['x_conv4'][2][1], enc.level_geometry['x_conv4'][2][2])
    for name, level in out.levels.items():
        assert level.features.shape == (len(level.coords), enc.channels[name])
        keys = {tuple(c) for c in level.coords.tolist()}
        for b, p in enumerate(pts):
            idx = level.index_of(p[:, :3])  # nearest voxel centre at this level
            # A point in the last half cell of a strided level has its nearest centre just off the grid.
            on_grid = ((idx >= 0) & (idx < torch.tensor(level.shape))).all(1)
            assert float(on_grid.float().mean()) > 0.8
            missing = [tuple([b] + i) for i in idx[on_grid].tolist() if tuple([b] + i) not in keys]
            assert not missing, f'{name}: {len(missing)} points have no voxel at their nearest centre'
        # Voxel centres lie inside the point range (up to half a cell).
        c = level.centres()
        half = torch.tensor(level.spacing) / 2
        assert bool((c[:, :2] >= torch.tensor(RANGE[:2]) - half[:2]).all())


def test_second_encoder_trains_on_cpu_and_is_deterministic_in_eval() -> None:
    torch.manual_seed(0)
    enc = SecondLidarEncoder(voxel_size=(0.4, 0.4, 0.4), point_range=RANGE, channels=(8, 8, 8, 8), out_channels=8,
                             mode='dynamic')
    out = enc([_points(200, 3)])
    loss = out.bev.square().mean() + sum(level.features.sum() for level in out.levels.values()) * 0
    loss.backward()  # spconv's CPU backward (patched stream lookup)
    grads = [p.grad for p in enc.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)
    enc.eval()
    with torch.no_grad():
        a = enc([_points(200, 3)]).bev
        b = enc([_points(200, 3)]).bev
    torch.testing.assert_close(a, b)


def test_pillar_encoder_fills_exactly_the_occupied_cells() -> None:
    torch.manual_seed(0)
    enc = PillarLidarEncoder(pillar_size=(0.8, 0.8), point_range=RANGE, feat_channels=8).eval()
    pts = _points(150, 4)
    with torch.no_grad():
        out = enc([pts])
    H, W = out.bev.shape[2:]
    assert (H, W) == (16, 16)
    ix = ((pts[:, 0] - RANGE[0]) / 0.8).floor().long()
    iy = ((pts[:, 1] - RANGE[1]) / 0.8).floor().long()
    occupied = torch.zeros(H, W, dtype=torch.bool)
    occupied[iy, ix] = True
    nonzero = out.bev[0].abs().sum(0) > 0
    assert bool((nonzero & ~occupied).sum() == 0)  # nothing outside occupied cells
    level = out.levels['pillars']
    assert level.shape[0] == 1 and len(level.coords) == int(occupied.sum())
    b, z, y, x = level.coords.T
    torch.testing.assert_close(out.bev[b, :, y, x], level.features)  # the canvas holds the pillar vectors


def test_bev_neck_output_shape_and_stride() -> None:
    neck = BevNeck(in_channels=8, layer_nums=(1, 1), layer_strides=(1, 2), num_filters=(8, 16),
                   upsample_strides=(1, 2), out_channels=(8, 8))
    y = neck(torch.randn(2, 8, 20, 24))
    assert y.shape == (2, 16, 20, 24)
    assert neck.out_channels == 16 and neck.out_stride == 1.0
