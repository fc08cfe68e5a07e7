"""Near-field occupancy model (segmentation/nearfield_occupancy.py): ultrasonic rasterisation, IPM, fusion, the
two-stage model, its sample and data preprocessor."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from omnifuse.datasets.ultrasonic_raster import rasterize_ultrasonic
from omnifuse.encoders.camera_bev import IPMCameraToBEV
from omnifuse.errors import ShapeError
from omnifuse.fusion.ultrasonic_bev import ContentAwareDilatedConv, UltrasonicCameraFusion
from omnifuse.segmentation.nearfield_occupancy import NearFieldOccupancyNet, OccupancyDataPreprocessor
from omnifuse.structures.bev_grid import BEVGrid
from omnifuse.structures.calibration import CameraModel, UltrasonicSensor
from omnifuse.structures.seg_sample import OccupancyPredictions, OccupancySample

GRID = BEVGrid(0.1, 10.0)


def _cell(x: float, y: float) -> tuple[int, int]:
    rows, cols, inside = GRID.xy_to_cell(np.array([[x, y]]))
    assert inside[0]
    return int(rows[0]), int(cols[0])


def test_bev_grid_cell_centres_match_the_documented_convention() -> None:
    centres = GRID.cell_centers()
    assert centres.shape == (200, 200, 2)
    assert np.allclose(centres[0, 0], [9.95, 9.95])  # front-left corner
    assert np.allclose(centres[199, 199], [-9.95, -9.95])
    r, c = _cell(3.04, -1.01)
    assert np.allclose(centres[r, c], [3.05, -1.05])


def test_ultrasonic_raster_marks_echo_arc_free_cone_and_coverage() -> None:
    sensor = UltrasonicSensor(2.0, 0.0, 0.5, 0.0, math.radians(30), 0.15, 5.5)
    raster = rasterize_ultrasonic({'f0': 1.0}, {'f0': sensor}, GRID, arc_width=0.3)
    echo, free, cover = raster
    assert echo[_cell(3.0, 0.0)] == 1 and free[_cell(3.0, 0.0)] == 0
    assert free[_cell(2.5, 0.0)] == 1 and echo[_cell(2.5, 0.0)] == 0
    assert cover[_cell(6.0, 0.0)] == 1 and free[_cell(6.0, 0.0)] == 0 and echo[_cell(6.0, 0.0)] == 0
    assert cover[_cell(2.0, 1.5)] == 0  # 90 degrees off the boresight
    assert cover[_cell(8.0, 0.0)] == 0  # beyond max range
    # The echo arc follows the cone: a cell at the same range 20 degrees off axis is an echo too.
    a = math.radians(20)
    assert echo[_cell(2.0 + math.cos(a), math.sin(a))] == 1


def test_ultrasonic_raster_handles_nan_missing_and_unknown_sensors() -> None:
    sensors = {'a': UltrasonicSensor(2.0, 0.0, 0.5, 0.0), 'b': UltrasonicSensor(-2.0, 0.0, 0.5, math.pi)}
    nan = rasterize_ultrasonic({'a': float('nan')}, sensors, GRID)
    assert nan[0].sum() == 0  # no echo anywhere
    assert nan[1][_cell(6.0, 0.0)] == 1  # free up to max range
    assert nan[2][_cell(-4.0, 0.0)] == 0  # sensor b reported nothing: no coverage behind
    nothing = rasterize_ultrasonic({'zz': 1.0}, sensors, GRID)  # a name without a pose is ignored
    assert nothing.sum() == 0
    # A different layout (from another calibration) rasterises without retraining anything.
    other = {'side': UltrasonicSensor(0.0, 1.0, 0.5, math.pi / 2)}
    side = rasterize_ultrasonic({'side': 2.0}, other, GRID)
    assert side[0][_cell(0.0, 3.0)] == 1


def test_content_aware_dilated_conv_gates_are_a_per_pixel_softmax() -> None:
    torch.manual_seed(0)
    cad = ContentAwareDilatedConv(4).eval()
    x = torch.randn(1, 4, 16, 16)
    weights = torch.softmax(cad.gate(x), 1)
    assert weights.shape == (1, 4, 16, 16)
    assert torch.allclose(weights.sum(1), torch.ones(1, 16, 16))
    mixed = sum(weights[:, i:i + 1] * b(x) for i, b in enumerate(cad.branches))
    assert torch.allclose(cad(x), torch.relu(cad.norm(mixed) + x), atol=1e-6)


def test_fusion_runs_with_either_input_missing() -> None:
    fusion = UltrasonicCameraFusion(ultrasonic_channels=8, camera_channels=6, out_channels=5).eval()
    u, c = torch.randn(2, 8, 10, 10), torch.randn(2, 6, 10, 10)
    assert fusion(u, c).shape == (2, 5, 10, 10)
    assert fusion(None, c).shape == (2, 5, 10, 10)
    assert fusion(u, None).shape == (2, 5, 10, 10)
    assert not torch.allclose(fusion(u, c), fusion(u, None))


def test_ipm_samples_the_pixel_where_a_ground_cell_projects() -> None:
    # A camera at the origin looking along +x, 1.73 m above the ground (z = -1.73 in the LiDAR frame).
    T = np.array([[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float)
    cam = CameraModel(np.array([[100.0, 0, 64, 0], [0, 100.0, 32, 0], [0, 0, 1, 0]]), T, 128, 64)
    ipm = IPMCameraToBEV(in_channels=1, out_channels=1, stride=1, heights=(0.0,), ground_z=-1.73).eval()
    with torch.no_grad():
        ipm.reduce[0].weight.fill_(1.0)
    feats = torch.zeros(1, 1, 64, 128)
    uv, _ = cam.project(np.array([[6.0, 1.0, -1.73]]))
    u, v = int(uv[0, 0]), int(uv[0, 1])
    feats[0, 0, v - 1:v + 2, u - 1:u + 2] = 10.0
    bev, mask = ipm(feats, torch.from_numpy(cam.lidar2img).float()[None], (64, 128))
    r, c = _cell(6.0, 1.0)
    assert bev[0, 0, r, c] > 5.0
    assert bev[0, 0][_cell(6.0, -3.0)] < 1e-3
    assert mask[0, 0][_cell(-5.0, 0.0)] == 0  # behind the camera


def _toy_batch(camera: bool = True) -> tuple[dict, list[OccupancySample]]:
    torch.manual_seed(1)
    labels = torch.zeros(2, 200, 200, dtype=torch.long)
    labels[:, 60:80, 90:110] = 1
    labels[:, 150:160, 20:30] = 4
    labels[:, :5] = 255
    raster = torch.zeros(2, 3, 200, 200)
    raster[:, 0, 60:80, 90:110] = 1
    raster[:, 0, 150:160, 20:30] = 1
    inputs = {'ultrasonic': raster, 'lidar2img': torch.eye(4).repeat(2, 1, 1),
              'image': torch.rand(2, 3, 64, 160) if camera else None,
              'camera_valid': torch.tensor([camera, camera])}
    return inputs, [OccupancySample(frame_id=str(i), gt_labels=labels[i]) for i in range(2)]


def test_two_stage_model_learns_a_toy_grid_and_ignores_unknown_cells() -> None:
    torch.manual_seed(0)
    model = NearFieldOccupancyNet(occupied_classes=('vehicle', 'pedestrian', 'cyclist', 'static'), width=16)
    inputs, samples = _toy_batch()
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    first = None
    for _ in range(25):
        losses = model(inputs, samples, mode='loss')
        total = sum(losses.values())
        first = first if first is not None else float(total)
        opt.zero_grad()
        total.backward()
        opt.step()
    assert float(total) < 0.5 * first
    model.eval()
    with torch.no_grad():
        pred = model(inputs, samples, mode='predict')
    assert [p.frame_id for p in pred] == ['0', '1']
    assert pred[0].pred.labels.shape == (200, 200)
    assert pred[0].gt_labels is samples[0].gt_labels
    occupied = pred[0].pred.labels[60:80, 90:110]
    assert (occupied == 1).float().mean() > 0.5


def test_model_runs_without_camera_and_ultrasonic_only_variant() -> None:
    fused = NearFieldOccupancyNet(occupied_classes=('a', 'b'), width=8).eval()
    inputs, _ = _toy_batch(camera=False)
    with torch.no_grad():
        assert fused(inputs, mode='tensor').shape == (2, 200, 200)
    us_only = NearFieldOccupancyNet(occupied_classes=('a', 'b'), use_camera=False, width=8).eval()
    with torch.no_grad():
        assert us_only(inputs, mode='tensor').shape == (2, 200, 200)
    with pytest.raises(ValueError, match='use_camera or use_ultrasonic'):
        NearFieldOccupancyNet(occupied_classes=('a',), use_camera=False, use_ultrasonic=False)





def test_occupancy_sample_fields_are_checked() -> None:
    with pytest.raises(ShapeError, match='OccupancySample.gt_labels'):
        OccupancySample(gt_labels=np.zeros((200,), np.int64))
    with pytest.raises(ShapeError, match='OccupancyPredictions.labels'):
        OccupancyPredictions(torch.zeros(2, 200, 200, dtype=torch.long))


def test_preprocessor_stacks_pseudo_collated_items_as_default_collate_did() -> None:
    from mmengine.dataset import default_collate, pseudo_collate

    inputs, samples = _toy_batch()
    items = [{'inputs': {k: v[i] for k, v in inputs.items()}, 'data_samples': samples[i]} for i in range(2)]
    out = OccupancyDataPreprocessor()(pseudo_collate(items))
    want = default_collate([it['inputs'] for it in items])
    for key, value in want.items():
        assert out['inputs'][key].dtype == value.dtype and torch.equal(out['inputs'][key], value), key
    assert [s.frame_id for s in out['data_samples']] == ['0', '1']
    assert torch.equal(out['data_samples'][1].gt_labels, samples[1].gt_labels)
