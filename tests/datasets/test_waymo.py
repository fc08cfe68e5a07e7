"""WaymoReader on the two mmdet3d KITTI-format Waymo frames in ../shared/data/waymo."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from omnifuse.datasets import WaymoReader, load_info_file
from omnifuse.errors import FormatError


@pytest.fixture(scope='module')
def waymo_root(shared_data: Path) -> Path:
    return shared_data / 'waymo' / 'kitti_format'


def test_frames_come_from_every_info_file_and_keep_six_point_columns(waymo_root: Path) -> None:
    reader = WaymoReader(waymo_root)
    assert reader.frame_ids == ('0000000', '1000000')  # waymo_infos_train.pkl, then waymo_infos_val.pkl
    f = reader.read('1000000')
    raw = np.fromfile(waymo_root / 'training' / 'velodyne' / '1000000.bin', dtype=np.float32).reshape(-1, 6)
    assert f.points.shape == (800, 6) and f.points.dtype == np.float32
    np.testing.assert_array_equal(f.points, raw)
    bgr = cv2.imread(str(waymo_root / 'training' / 'image_0' / '1000000.png'))
    np.testing.assert_array_equal(f.images['CAM_FRONT'], bgr[:, :, ::-1])
    assert f.stamp_ns == 1522688014970187 * 1000 and f.stamps_ns['lidar'] == f.stamp_ns
    cam = f.calib.cameras['CAM_FRONT']
    assert (cam.width, cam.height) == (1920, 1280)


def test_labels_are_lidar_boxes_with_geometric_centres(waymo_root: Path) -> None:
    info = load_info_file(waymo_root / 'waymo_infos_train.pkl').data_list[0]
    f = WaymoReader(waymo_root, info_files=[waymo_root / 'waymo_infos_train.pkl']).read('0000000')
    raw = np.asarray(info['instances'][0]['bbox_3d'])
    assert f.labels.names == ['Car']
    np.testing.assert_allclose(f.labels.boxes.data[0], [raw[0], raw[1], raw[2] + raw[5] / 2, *raw[3:]])


def test_projected_box_matches_the_2d_box_mmdet3d_stored(waymo_root: Path) -> None:
    """Corners projected with the info's lidar2img written out here, against the info's own `bbox`."""
    info = load_info_file(waymo_root / 'waymo_infos_train.pkl').data_list[0]
    f = WaymoReader(waymo_root).read('0000000')
    cam = f.calib.cameras['CAM_FRONT']
    got = f.labels.boxes.project_to_image(cam)[0]
    x, y, z, length, w, h, yaw = f.labels.boxes.data[0]
    sx, sy, sz = np.meshgrid([-0.5, 0.5], [-0.5, 0.5], [-0.5, 0.5], indexing='ij')
    local = np.stack([sx.ravel() * length, sy.ravel() * w, sz.ravel() * h], 1)
    rot = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    corners = local @ rot.T + [x, y, z]
    l2i = np.asarray(info['images']['CAM_FRONT']['lidar2img'])  # (3, 4)
    hom = corners @ l2i[:, :3].T + l2i[:, 3]
    uv = hom[:, :2] / hom[:, 2:]
    np.testing.assert_allclose(got, [*uv.min(0), *uv.max(0)], atol=1e-6)
    np.testing.assert_allclose(got, info['instances'][0]['bbox'], atol=2.0)  # mmdet3d's stored 2D box


def test_unknown_frame_and_missing_files(waymo_root: Path, tmp_path: Path) -> None:
    reader = WaymoReader(waymo_root)
    with pytest.raises(FormatError, match="frame '0000001' is not in"):
        reader.read('0000001')
    with pytest.raises(FormatError, match='no waymo_infos_'):
        WaymoReader(tmp_path)
    # the info names a frame whose point file is not there
    (tmp_path / 'waymo_infos_val.pkl').write_bytes((waymo_root / 'waymo_infos_val.pkl').read_bytes())
    with pytest.raises(FormatError, match=r'missing file .*training/velodyne/1000000\.bin'):
        WaymoReader(tmp_path).read('1000000')
