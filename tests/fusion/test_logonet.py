"""LoGoNet fusion blocks: image sampling geometry, GoF centroids, LoF, FDA masking, missing cameras."""

from __future__ import annotations

import torch

from omnifuse.fusion.logonet import FeatureDynamicAggregation, GlobalFusion, LocalFusion, sample_modalities
from omnifuse.ops.features import ImageFeatures, SparseLevel
from omnifuse.ops.projection import project_points, sample_image_features

# A pinhole camera looking along LiDAR +x: u = 100 + 100·(-y/x), v = 50 + 100·(-z/x).
L2I = torch.tensor([[100.0, -100.0, 0.0, 0.0], [50.0, 0.0, -100.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
H, W, STRIDE = 100, 200, 4


def _coordinate_map() -> torch.Tensor:
    """(1, 2, h, w) features whose channels are the pixel coordinates (u, v) of each cell centre."""
    h, w = H // STRIDE, W // STRIDE
    v, u = torch.meshgrid((torch.arange(h) + 0.5) * STRIDE, (torch.arange(w) + 0.5) * STRIDE, indexing='ij')
    return torch.stack([u, v])[None].float()


def _cams(valid: bool = True) -> dict:
    return {'cam': {'lidar2img': L2I[None], 'img_hw': torch.tensor([[float(H), float(W)]]),
                    'valid': torch.tensor([valid])}}


def test_sampled_features_come_from_the_projected_pixel() -> None:
    xyz = torch.tensor([[10.0, 0.0, 0.0], [10.0, 2.0, 1.0], [5.0, -3.0, -1.0], [-5.0, 0.0, 0.0], [10.0, -20.0, 0.0]])
    uv, depth = project_points(xyz, L2I)
    torch.testing.assert_close(uv[0], torch.tensor([100.0, 50.0]))
    feats, vis = sample_image_features(_coordinate_map(), xyz, torch.zeros(5, dtype=torch.long), L2I[None],
                                       torch.tensor([[float(H), float(W)]]), stride=STRIDE)
    assert vis.tolist() == [True, True, True, False, False]  # behind the camera; outside the image
    torch.testing.assert_close(feats[:3], uv[:3], atol=0.01, rtol=0)  # bilinear of a linear map is exact inside
    assert (feats[3:] == 0).all()


def test_missing_or_invalid_camera_gives_zero_features_and_flag() -> None:
    xyz = torch.tensor([[10.0, 0.0, 0.0]])
    batch = torch.zeros(1, dtype=torch.long)
    dropped = ImageFeatures({'cam': _coordinate_map()}, _cams(valid=False), STRIDE, 2)
    for images in ({}, {'camera': None}, {'camera': dropped}):
        out = sample_modalities(images, {'camera': 2, 'thermal': 3}, xyz, batch)
        assert out.shape == (1, 2 + 1 + 3 + 1) and (out == 0).all()
    seen = ImageFeatures({'cam': _coordinate_map()}, _cams(), STRIDE, 2)
    out = sample_modalities({'camera': seen}, {'camera': 2}, xyz, batch)
    torch.testing.assert_close(out[0], torch.tensor([100.0, 50.0, 1.0]), atol=0.01, rtol=0)


def test_gof_uses_raw_point_centroids_and_keeps_coords() -> None:
    coords = torch.tensor([[0, 0, 0, 0], [0, 0, 0, 1]])
    level = SparseLevel(torch.randn(2, 4), coords, origin=(0.5, 0.5, 0.5), spacing=(1.0, 1.0, 1.0), shape=(1, 1, 2))
    points = torch.tensor([[0.2, 0.4, 0.6], [0.4, 0.6, 0.2]])
    centroids = GlobalFusion.voxel_centroids(level, points, torch.zeros(2, dtype=torch.long))
    torch.testing.assert_close(centroids[0], torch.tensor([0.3, 0.5, 0.4]))
    torch.testing.assert_close(centroids[1], torch.tensor([1.5, 0.5, 0.5]))  # no raw point: the voxel centre
    gof = GlobalFusion(voxel_channels=4, image_channels={'camera': 2}).eval()
    images = {'camera': ImageFeatures({'cam': _coordinate_map()}, _cams(), STRIDE, 2)}
    out = gof(level, points, torch.zeros(2, dtype=torch.long), images)
    assert out.features.shape == (2, 4) and torch.equal(out.coords, coords)
    out_without = gof(level, points, torch.zeros(2, dtype=torch.long), {})
    assert not torch.allclose(out.features, out_without.features)  # the image does change the voxels


def test_gof_trains_on_a_single_voxel_with_running_statistics() -> None:
    level = SparseLevel(torch.randn(1, 4), torch.tensor([[0, 0, 0, 0]]), origin=(0.5, 0.5, 0.5),
                        spacing=(1.0, 1.0, 1.0), shape=(1, 1, 2))
    points, batch = torch.tensor([[0.2, 0.4, 0.6]]), torch.zeros(1, dtype=torch.long)
    gof = GlobalFusion(voxel_channels=4, image_channels={'camera': 2})
    images = {'camera': ImageFeatures({'cam': _coordinate_map()}, _cams(), STRIDE, 2)}
    out = gof.train()(level, points, batch, images)  # plain BatchNorm1d raises on one row in training
    assert gof.training and gof.fuse.training  # the mode is restored
    out.features.sum().backward()
    assert gof.fuse[0].weight.grad is not None and float(gof.fuse[0].weight.grad.abs().sum()) > 0
    torch.testing.assert_close(out.features.detach(), gof.eval()(level, points, batch, images).features)


def test_lof_output_shape_and_image_dependence() -> None:
    torch.manual_seed(0)
    lof = LocalFusion(image_channels={'camera': 2}, out_channels=8).eval()
    grid = torch.tensor([[10.0, 0.0, 0.0]]).repeat(2, 27, 1) + torch.randn(2, 27, 3) * 0.3
    desc = torch.randn(2, 27, 7)
    images = {'camera': ImageFeatures({'cam': _coordinate_map()}, _cams(), STRIDE, 2)}
    a = lof(grid, torch.zeros(2, dtype=torch.long), desc, images)
    b = lof(grid, torch.zeros(2, dtype=torch.long), desc, {})
    assert a.shape == (2, 27, 8) and not torch.allclose(a, b)


def test_fda_masks_empty_grid_points() -> None:
    torch.manual_seed(0)
    fda = FeatureDynamicAggregation(channels=8, heads=2, ffn_channels=16).eval()
    feats = torch.randn(3, 10, 8)
    pos = torch.randn(3, 10, 4)
    empty = torch.zeros(3, 10, dtype=torch.bool)
    empty[0, 5:] = True
    empty[2] = True  # every point empty: attends over all instead of producing NaN
    with torch.no_grad():
        out = fda(feats, pos, empty)
        changed = feats.clone()
        changed[0, 5:] += 100.0  # masked points must not influence the others
        out2 = fda(changed, pos, empty)
        visible = feats.clone()
        visible[1, 0] += 1.0  # an unmasked point does influence the others (attention is on)
        out3 = fda(visible, pos, empty)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[0, :5], out2[0, :5])
    assert not torch.allclose(out[1, 1:], out3[1, 1:])
