"""PCD / PLY (open3d) and .bin point cloud files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omnifuse.datasets import read_point_cloud, write_point_cloud
from omnifuse.errors import FormatError


def _points(n: int = 257) -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.concatenate([rng.normal(scale=20, size=(n, 3)), rng.uniform(size=(n, 1))], 1).astype(np.float32)


@pytest.mark.parametrize('suffix', ['.pcd', '.ply'])
@pytest.mark.parametrize('binary', [True, False])
def test_pcd_and_ply_round_trip_with_intensity(tmp_path: Path, suffix: str, binary: bool) -> None:
    pts = _points()
    path = tmp_path / f'cloud{suffix}'
    write_point_cloud(path, pts, binary=binary)
    got = read_point_cloud(path)
    assert got.dtype == np.float32 and got.shape == (len(pts), 4)
    np.testing.assert_allclose(got, pts, rtol=1e-6, atol=1e-5 if binary else 1e-4)
    header = path.read_bytes()[:400]
    assert b'intensity' in header


@pytest.mark.parametrize('suffix', ['.pcd', '.ply'])
def test_files_without_intensity_read_as_zero(tmp_path: Path, suffix: str) -> None:
    import open3d as o3d

    pts = _points(31)
    path = tmp_path / f'xyz{suffix}'
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts[:, :3].astype(np.float64)))
    assert o3d.io.write_point_cloud(str(path), cloud)
    got = read_point_cloud(path)
    np.testing.assert_allclose(got[:, :3], pts[:, :3], atol=1e-5)
    assert (got[:, 3] == 0).all()


def test_bin_round_trip_and_wider_records(tmp_path: Path) -> None:
    pts = _points(10)
    write_point_cloud(tmp_path / 'a.bin', pts)
    np.testing.assert_array_equal(read_point_cloud(tmp_path / 'a.bin'), pts)
    six = np.concatenate([pts[:7], np.ones((7, 2), np.float32)], 1)
    write_point_cloud(tmp_path / 'b.bin', six)
    np.testing.assert_array_equal(read_point_cloud(tmp_path / 'b.bin', num_features=6), pts[:7])
    with pytest.raises(FormatError, match='168 bytes is not a multiple of 16'):
        read_point_cloud(tmp_path / 'b.bin')  # seven 24-byte records read as 16-byte ones


def test_unknown_extension_bad_content_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / 'a.xyz').write_text('1 2 3\n')
    with pytest.raises(FormatError, match=r"a\.xyz: unknown point cloud extension '\.xyz'"):
        read_point_cloud(tmp_path / 'a.xyz')
    with pytest.raises(FormatError, match='unknown point cloud extension'):
        write_point_cloud(tmp_path / 'a.las', _points(3))
    (tmp_path / 'bad.ply').write_text('hello\n')
    with pytest.raises(FormatError, match='not a PLY file'):
        read_point_cloud(tmp_path / 'bad.ply')
    (tmp_path / 'bad.pcd').write_bytes(b'VERSION 0.7\nFIELDS x y z\nPOINTS 5\nDATA binary\n\x00')
    with pytest.raises(FormatError, match='open3d could not read'):
        read_point_cloud(tmp_path / 'bad.pcd')
    with pytest.raises(FileNotFoundError):
        read_point_cloud(tmp_path / 'missing.pcd')
