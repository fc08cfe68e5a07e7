"""BEV area-to-area fusion: pillar binning and the per-pillar max-pool, checked against hand computations."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from omnifuse.fusion.bev_area import BEVAreaFusion, area_max_pool, pillar_index


def _two_pillars() -> tuple[torch.Tensor, ...]:
    # Pillar A (cell x in [0, 1), y in [0, 1)): points 0, 1, 2. Pillar B (x in [2, 3)): points 3, 4.
    xyz = torch.tensor([[0.1, 0.2, 0.0], [0.9, 0.8, 1.0], [0.5, 0.5, -1.0], [2.2, 0.1, 0.0], [2.9, 0.9, 3.0]])
    batch = torch.zeros(5, dtype=torch.long)
    f3d = torch.tensor([[1.0, -2.0], [3.0, 0.0], [2.0, 5.0], [-1.0, -1.0], [-3.0, 4.0]])
    f2d = torch.tensor([[0.5, 0.0, 1.0], [2.0, 1.0, 0.0], [9.0, 9.0, 9.0], [7.0, 7.0, 7.0], [8.0, 8.0, 8.0]])
    # Point 2 (pillar A) and both points of pillar B lie outside the image.
    visible = torch.tensor([True, True, False, False, False])
    return xyz, batch, f3d, f2d, visible


def test_pillar_index_groups_points_of_the_same_cell_and_sample():
    xyz = torch.tensor([[0.1, 0.1, 0.0], [0.4, 0.9, 5.0], [1.1, 0.1, 0.0], [-0.1, 0.1, 0.0], [0.1, 0.1, 0.0]])
    batch = torch.tensor([0, 0, 0, 0, 1])
    inverse, pillars = pillar_index(xyz, batch, pillar_size=(1.0, 1.0))
    assert inverse[0] == inverse[1]  # same cell, any height
    assert len({int(inverse[i]) for i in (0, 2, 3, 4)}) == 4  # next cell, negative cell, other sample
    assert pillars.shape == (4, 3)
    assert pillars[inverse[3]].tolist() == [0, -1, 0]  # floor, not truncation, below the origin
    assert pillars[inverse[4]].tolist() == [1, 0, 0]


def test_pillar_index_respects_origin_and_size():
    xyz = torch.tensor([[0.4, 0.0, 0.0], [0.6, 0.0, 0.0]])
    batch = torch.zeros(2, dtype=torch.long)
    inv_a, _ = pillar_index(xyz, batch, pillar_size=(1.0, 1.0))
    inv_b, _ = pillar_index(xyz, batch, pillar_size=(1.0, 1.0), origin=(0.5, 0.0))
    inv_c, _ = pillar_index(xyz, batch, pillar_size=(0.5, 0.5))
    assert inv_a[0] == inv_a[1]
    assert inv_b[0] != inv_b[1]
    assert inv_c[0] != inv_c[1]


def test_area_max_pool_equals_hand_computation():
    xyz, batch, f3d, f2d, visible = _two_pillars()
    inverse, pillars = pillar_index(xyz, batch, pillar_size=(1.0, 1.0))
    pooled = area_max_pool(f3d, f2d, inverse, pillars.shape[0], visible=visible)
    a, b = int(inverse[0]), int(inverse[3])
    # Pillar A: 3D max over points 0, 1, 2; 2D max over the visible points 0 and 1 only.
    assert pooled[a].tolist() == [3.0, 5.0, 2.0, 1.0, 1.0]
    # Pillar B: no visible point -> zero 2D part, although its points carry large 2D rows.
    assert pooled[b].tolist() == [-1.0, 4.0, 0.0, 0.0, 0.0]


def test_bev_area_fusion_hands_the_pillar_vector_back_to_every_point():
    xyz, batch, f3d, f2d, visible = _two_pillars()
    fusion = BEVAreaFusion(2, 3, pillar_size=(1.0, 1.0), out_channels=None)
    out = fusion(f3d, f2d, xyz, batch, visible)
    expected_a = [3.0, 5.0, 2.0, 1.0, 1.0]
    expected_b = [-1.0, 4.0, 0.0, 0.0, 0.0]
    assert out.tolist() == [expected_a] * 3 + [expected_b] * 2


def test_bev_area_fusion_gradient_reaches_the_max_rows_only():
    xyz, batch, f3d, f2d, visible = _two_pillars()
    f3d = f3d.clone().requires_grad_(True)
    f2d = f2d.clone().requires_grad_(True)
    out = BEVAreaFusion(2, 3, out_channels=None)(f3d, f2d, xyz, batch, visible)
    out[0].sum().backward()  # the vector of pillar A, seen by point 0
    assert f3d.grad[:, 0].tolist() == [0.0, 1.0, 0.0, 0.0, 0.0]  # 3.0 came from point 1
    assert f3d.grad[:, 1].tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]  # 5.0 from point 2
    assert f2d.grad[2].abs().sum() == 0  # invisible point: no 2D gradient


def test_bev_area_fusion_with_mlp_has_the_configured_width_and_is_per_pillar():
    torch.manual_seed(0)
    xyz, batch, f3d, f2d, visible = _two_pillars()
    fusion = BEVAreaFusion(2, 3, out_channels=8).eval()
    out = fusion(f3d, f2d, xyz, batch, visible)
    assert out.shape == (5, 8)
    assert torch.equal(out[0], out[2]) and torch.equal(out[3], out[4])
    assert not torch.equal(out[0], out[3])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60), st.integers(0, 10_000), st.floats(0.3, 2.0))
def test_area_max_pool_is_permutation_equivariant_and_bounded(n, seed, size):
    g = torch.Generator().manual_seed(seed)
    xyz = torch.rand(n, 3, generator=g) * 6 - 3
    batch = torch.randint(0, 2, (n,), generator=g)
    f3d = torch.randn(n, 4, generator=g)
    f2d = torch.rand(n, 2, generator=g)
    visible = torch.rand(n, generator=g) > 0.4
    fusion = BEVAreaFusion(4, 2, pillar_size=(size, size), out_channels=None)
    out = fusion(f3d, f2d, xyz, batch, visible)
    perm = torch.randperm(n, generator=g)
    out_p = fusion(f3d[perm], f2d[perm], xyz[perm], batch[perm], visible[perm])
    assert torch.equal(out_p, out[perm])
    assert torch.all(out[:, :4] >= f3d)  # every point's own 3D feature is below its pillar's max
    vis_rows = visible.nonzero(as_tuple=True)[0]
    assert torch.all(out[vis_rows, 4:] >= f2d[vis_rows])
