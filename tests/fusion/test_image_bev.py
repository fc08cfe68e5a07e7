"""First-stage image fusion (PointImageBEV): image features lifted to the LiDAR BEV through the points.

The block is checked against per-point evaluation of its own layers (a cell holds the max over its
visible points, nothing else), against a pinhole camera built here, and inside the detector: the first
stage (proposals) depends on the image, a dropped camera leaves it running, and the image encoder is
trained through this path alone when there is no second stage.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mmengine.dataset import pseudo_collate

import omnifuse.detectors  # noqa: F401
import omnifuse.fusion  # noqa: F401
from omnifuse.datasets.det_dataset import KittiDetDataset
from omnifuse.datasets.sim import LidarModel, generate_frame, write_kitti
from omnifuse.errors import ShapeError
from omnifuse.fusion.image_bev import PointImageBEV, bev_cell_index
from omnifuse.ops.features import ImageFeatures
from omnifuse.registry import MODELS

RANGE = [0.0, -12.8, -3.0, 25.6, 12.8, 1.0]
CLASSES = ['Car', 'Pedestrian', 'Cyclist']


def _pinhole(f: float = 50.0, cx: float = 32.0, cy: float = 16.0) -> torch.Tensor:
    """(4, 4) LiDAR -> pixels for a camera at the origin looking along +x (u right = -y, v down = -z)."""
    return torch.tensor([[cx, -f, 0.0, 0.0], [cy, 0.0, -f, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])


def _features(channels: int = 4, *, seed: int = 0) -> ImageFeatures:
    g = torch.Generator().manual_seed(seed)
    fmap = torch.randn((1, channels, 8, 16), generator=g)  # stride 4 over a 32 x 64 image
    cams = {'front': {'lidar2img': _pinhole()[None], 'img_hw': torch.tensor([[32, 64]]),
                      'valid': torch.tensor([True])}}
    return ImageFeatures({'front': fmap}, cams, 4, channels)


def _run(block: PointImageBEV, points: list[torch.Tensor], images: dict, hw: tuple[int, int]) -> torch.Tensor:
    """The block on a list of per-sample (N_b, >=3) point tensors, as the detector flattens them."""
    xyz = torch.cat(points)
    batch = torch.cat([torch.full((len(p),), b, dtype=torch.long) for b, p in enumerate(points)])
    return block(xyz, batch, len(points), images, hw)


def test_cell_index_rows_are_y_and_columns_are_x() -> None:
    xyz = torch.tensor([[0.05, -12.75, 0.0], [25.55, 12.75, 0.0], [10.0, 0.0, 0.0], [-0.1, 0.0, 0.0],
                        [3.0, 13.0, 0.0]])
    batch = torch.tensor([0, 0, 1, 0, 0])
    index, inside = bev_cell_index(xyz, batch, RANGE, (64, 128))  # 0.4 m rows, 0.2 m columns
    assert inside.tolist() == [True, True, True, False, False]
    assert index[0] == 0 and index[1] == 64 * 128 - 1
    assert index[2] == 64 * 128 + 64 * 128 // 2 + 50  # sample 1, row of y=0, column of x=10


def test_each_cell_holds_the_max_over_its_visible_points() -> None:
    torch.manual_seed(0)
    block = PointImageBEV(image_channels={'camera': 4}, point_range=RANGE, out_channels=6)
    block.lift[1].running_mean.uniform_(-0.5, 0.5)  # non-trivial BN statistics
    block.eval()
    images = {'camera': _features()}
    pts = torch.tensor([[10.0, 0.5, 0.0, 0.1],   # cell A, seen
                        [10.1, 0.55, 0.2, 0.2],  # cell A, seen
                        [10.0, -1.9, 0.0, 0.3],  # cell B, seen
                        [5.0, 12.0, 0.0, 0.4],   # in range, outside the image (u < 0)
                        [20.0, 0.0, 0.0, 0.5],   # cell C, seen
                        [30.0, 0.0, 0.0, 0.6]])  # beyond the BEV range
    with torch.no_grad():
        out = _run(block, [pts], images, (64, 128))
        single = [_run(block, [p[None]], images, (64, 128)) for p in pts]
    assert out.shape == (1, 6, 64, 128)
    a, b, c = (50, 33), (50, 27), (100, 32)  # (column, row), 0.2 m columns x 0.4 m rows
    close = torch.testing.assert_close
    close(out[0, :, a[1], a[0]], torch.maximum(single[0][0, :, a[1], a[0]], single[1][0, :, a[1], a[0]]))
    assert not torch.allclose(single[0][0, :, a[1], a[0]], single[1][0, :, a[1], a[0]])  # a real max of two
    close(out[0, :, b[1], b[0]], single[2][0, :, b[1], b[0]])
    close(out[0, :, c[1], c[0]], single[4][0, :, c[1], c[0]])
    assert float(single[3].abs().sum()) == 0.0 and float(single[5].abs().sum()) == 0.0
    mask = torch.zeros(64, 128, dtype=torch.bool)
    for col, row in (a, b, c):
        mask[row, col] = True
    assert float(out[0][:, ~mask].abs().sum()) == 0.0  # nothing outside the three cells
    assert all(float(out[0, :, row, col].abs().sum()) > 0.0 for col, row in (a, b, c))


def test_missing_images_give_zeros_and_bad_points_a_named_error() -> None:
    block = PointImageBEV(image_channels={'camera': 4, 'thermal': 2}, point_range=RANGE, out_channels=5)
    pts = torch.tensor([[10.0, 0.5, 0.0, 0.1]])
    block.eval()
    with torch.no_grad():
        assert float(_run(block, [pts], {}, (64, 128)).abs().sum()) == 0.0
        assert float(_run(block, [pts], {'camera': None, 'thermal': None}, (64, 128)).abs().sum()) == 0.0
        # thermal alone is enough to see a point (camera missing: its features and flag are zero)
        th = _features(2)
        assert float(_run(block, [pts], {'thermal': th}, (64, 128)).abs().sum()) > 0.0
    block.train()
    zeros = _run(block, [pts], {}, (64, 128))  # no visible point while training: zeros still in the graph
    assert zeros.requires_grad and float(zeros.detach().abs().sum()) == 0.0
    with pytest.raises(ShapeError, match='batch indices'):
        _run(block, [torch.zeros(5, 2)], {}, (64, 128))
    with pytest.raises(ValueError, match='image_channels'):
        PointImageBEV(image_channels={}, point_range=RANGE)


@pytest.fixture(scope='module')
def batch(tmp_path_factory) -> dict:
    root: Path = tmp_path_factory.mktemp('sim_ibev')
    write_kitti([generate_frame(seed, lidar=LidarModel(n_azimuth=500)) for seed in (3, 4)], root)
    ds = KittiDetDataset(data_root=str(root), image_set=None, class_names=CLASSES, pipeline=[
        dict(type='PointRangeFilter', point_range=RANGE), dict(type='ObjectRangeFilter', point_range=RANGE),
        dict(type='ObjectNameFilter', classes=CLASSES), dict(type='ImageResize', scale=0.25),
        dict(type='PackDetInputs')])
    return pseudo_collate([ds[0], ds[1]])


def _drop_camera(data: dict) -> dict:
    return {'points': data['points'], 'images': {}}


def test_detector_proposals_use_the_image_and_survive_a_dropped_camera(batch, tiny_detector_cfg) -> None:
    torch.manual_seed(0)
    model = MODELS.build(tiny_detector_cfg(point_range=RANGE, roi=True, image_bev=dict(out_channels=8)))
    plain = MODELS.build(tiny_detector_cfg(point_range=RANGE, roi=True))
    neck_in = [m for m in model.bev_neck.modules() if isinstance(m, torch.nn.Conv2d)][0].in_channels
    plain_in = [m for m in plain.bev_neck.modules() if isinstance(m, torch.nn.Conv2d)][0].in_channels
    assert neck_in == plain_in + 8
    model.eval()
    data = model.data_preprocessor(batch, False)
    with torch.no_grad():
        heat_cam, _ = model(data['inputs'], mode='tensor')
        heat_none, _ = model(_drop_camera(data['inputs']), mode='tensor')
        assert not torch.allclose(heat_cam, heat_none)  # the proposal heatmap sees the camera
        preds = model(_drop_camera(data['inputs']), data['data_samples'], mode='predict')
    assert all(p.pred.boxes.shape[1] == 7 for p in preds)
    with pytest.raises(ValueError, match='image_bev needs'):
        cfg = tiny_detector_cfg(point_range=RANGE, roi=False, image_bev=dict(out_channels=8))
        del cfg['image_encoder']
        MODELS.build(cfg)


def test_one_stage_model_trains_its_image_encoder_through_the_bev(batch, tiny_detector_cfg) -> None:
    torch.manual_seed(0)
    model = MODELS.build(tiny_detector_cfg(point_range=RANGE, roi=False, image_bev=dict(out_channels=8)))
    model.train()
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    sum(losses.values()).backward()
    assert float(model.image_bev.lift[0].weight.grad.abs().sum()) > 0
    assert float(model.image_encoder.stem[0].weight.grad.abs().sum()) > 0
    without = MODELS.build(tiny_detector_cfg(point_range=RANGE, roi=False))
    without.train()
    losses = without(**without.data_preprocessor(batch, True), mode='loss')
    sum(losses.values()).backward()
    assert model.image_encoder.stem[0].weight.grad is not None
    assert without.image_encoder.stem[0].weight.grad is None  # no first-stage path, no second stage
