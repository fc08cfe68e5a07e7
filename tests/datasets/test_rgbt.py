"""Real RGB-thermal readers (MFNet, PST900, M3FD, LLVIP) and the X-image builders (depth render, thermal warp)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from omnifuse.datasets.rgbt import (
    PST900_CLASSES,
    normalize_thermal,
    read_mfnet,
    read_pst900,
    read_rgbt_pair,
    read_thermal_image,
    render_depth_image,
    scaled_camera,
    warp_thermal_to_camera,
)
from omnifuse.errors import FormatError
from omnifuse.structures import CameraModel

T_CAM_LIDAR = np.array([[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64)


@pytest.fixture(scope='module')
def rgbt(shared_data: Path) -> Path:
    return shared_data / 'rgbt'


def test_mfnet_four_channels_split_into_rgb_and_thermal(rgbt: Path) -> None:
    path = rgbt / 'MFNet' / '01234N.png'
    sample = read_mfnet(path)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert sample.rgb.shape == (480, 640, 3) and sample.thermal.shape == (480, 640)
    np.testing.assert_array_equal(sample.rgb, raw[..., 2::-1])  # BGR(A) -> RGB
    np.testing.assert_array_equal(sample.thermal, raw[..., 3])
    assert sample.condition == 'night' and read_mfnet(rgbt / 'MFNet' / '01477D.png').condition == 'day'
    assert sample.thermal.std() > 1  # a real thermal channel, not a constant alpha


def test_pst900_label_ids_in_0_to_4(rgbt: Path) -> None:
    root = rgbt / 'PST900'
    s = read_pst900(root / 'sample_rgb.png', root / 'sample_thermal8.png', root / 'sample_label_ids.png')
    assert s.rgb.shape == (720, 1280, 3) and s.thermal.shape == (720, 1280) and s.thermal.dtype == np.uint8
    assert s.label is not None and s.label.max() < len(PST900_CLASSES)
    assert set(np.unique(s.label)) == {0, 1, 2, 3}
    assert s.class_names == PST900_CLASSES
    # Colour label visualisation is refused as ids.
    with pytest.raises(FormatError, match='colour'):
        read_pst900(root / 'sample_rgb.png', root / 'sample_thermal8.png', root / 'sample_label_color.png')


def test_m3fd_and_llvip_pairs(rgbt: Path) -> None:
    m = read_rgbt_pair(rgbt / 'M3FD' / 'M3FD_00471_vi.png', rgbt / 'M3FD' / 'M3FD_00471_ir.png')
    assert m.rgb.shape == (768, 1024, 3) and m.thermal.shape == (768, 1024) and m.label is None
    ll = read_rgbt_pair(rgbt / 'LLVIP' / 'visible' / '190001.jpg', rgbt / 'LLVIP' / 'infrared' / '190001.jpg')
    assert ll.rgb.shape == (1024, 1280, 3) and ll.thermal.shape == (1024, 1280) and ll.name == '190001'
    with pytest.raises(FormatError, match='differs'):
        read_rgbt_pair(rgbt / 'M3FD' / 'M3FD_00471_vi.png', rgbt / 'LLVIP' / 'infrared' / '190001.jpg')


def test_thermal_reader_refuses_colour_and_missing_files(rgbt: Path, tmp_path: Path) -> None:
    with pytest.raises(FormatError, match='grey'):
        read_thermal_image(rgbt / 'M3FD' / 'M3FD_00471_vi.png')
    with pytest.raises(FileNotFoundError):
        read_thermal_image(tmp_path / 'none.png')
    bad = tmp_path / 'bad.png'
    bad.write_bytes(b'xx')
    with pytest.raises(FormatError, match='bad.png'):
        read_thermal_image(bad)


def test_normalize_thermal_maps_percentiles_to_unit_range() -> None:
    t = np.arange(10000, dtype=np.uint16).reshape(100, 100) + 20000
    n = normalize_thermal(t)
    assert n.dtype == np.float32 and n.min() == 0.0 and n.max() == 1.0
    assert n[50, 0] == pytest.approx((25000 - np.percentile(t, 1)) / (np.percentile(t, 99) - np.percentile(t, 1)))
    assert (normalize_thermal(np.full((4, 4), 7)) == 0).all()


def _camera(f: float, cx: float, cy: float, w: int, h: int, T: np.ndarray = T_CAM_LIDAR) -> CameraModel:
    return CameraModel(np.array([[f, 0, cx, 0], [0, f, cy, 0], [0, 0, 1, 0]]), T, w, h)


def test_render_depth_image_keeps_the_nearest_point_per_pixel() -> None:
    cam = _camera(100.0, 50.0, 40.0, 100, 80)
    # Points straight ahead (LiDAR +x) project to the principal point (50, 40).
    pts = np.array([[10.0, 0, 0], [5.0, 0, 0], [20.0, 0, 0], [-5.0, 0, 0], [10.0, 1.0, 0.5]])
    depth = render_depth_image(pts, cam, (80, 100))
    assert depth[40, 50] == pytest.approx(5.0)
    # (10, 1, 0.5): u = 50 - 100 * 1 / 10 = 40, v = 40 - 100 * 0.5 / 10 = 35
    assert depth[35, 40] == pytest.approx(10.0)
    assert (depth > 0).sum() == 2  # the point behind the camera is dropped
    assert render_depth_image(np.zeros((0, 4)), cam, (8, 10)).shape == (8, 10)


def test_warp_thermal_identity_and_plane_parallax() -> None:
    rng = np.random.default_rng(0)
    cam = _camera(100.0, 50.0, 40.0, 100, 80)
    thermal = rng.random((80, 100)).astype(np.float32)
    same = warp_thermal_to_camera(thermal, cam, cam, (80, 100))
    np.testing.assert_allclose(same, thermal, atol=1e-4)
    # A thermal camera 0.2 m to the left (LiDAR +y): x_th = x_cam + 0.2, so a point at depth 10 m lands
    # 100 * 0.2 / 10 = 2 px to the right in the thermal image.
    T_th = T_CAM_LIDAR.copy()
    T_th[0, 3] = 0.2
    th_cam = _camera(100.0, 50.0, 40.0, 100, 80, T_th)
    warped = warp_thermal_to_camera(thermal, th_cam, cam, (80, 100), plane_depth=10.0)
    np.testing.assert_allclose(warped[:, :90], thermal[:, 2:92], atol=1e-4)
    # With LiDAR depth 5 m at a pixel, the shift there is 4 px instead.
    depth = np.zeros((80, 100), np.float32)
    depth[40, 50] = 5.0
    warped = warp_thermal_to_camera(thermal, th_cam, cam, (80, 100), depth=depth, plane_depth=10.0)
    assert warped[40, 50] == pytest.approx(thermal[40, 54], abs=1e-4)
    assert warped[10, 10] == pytest.approx(thermal[10, 12], abs=1e-4)


def test_scaled_camera_projects_to_scaled_pixel_centres() -> None:
    cam = _camera(100.0, 50.0, 40.0, 100, 80)
    half = scaled_camera(cam, 0.5)
    pts = np.array([[8.0, 1.0, -0.5], [20.0, -3.0, 1.0]])
    uv, _ = cam.project(pts)
    uv_half, _ = half.project(pts)
    np.testing.assert_allclose(uv_half, (uv + 0.5) * 0.5 - 0.5)
    assert (half.width, half.height) == (50, 40)
