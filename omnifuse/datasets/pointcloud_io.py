"""Point cloud files: PCD and PLY through open3d, and KITTI-style float32 .bin.

All readers return (N, 4) float32 rows (x, y, z, intensity) in the file's frame; intensity is 0 when
the file has none. PCD/PLY intensity is taken from a field named intensity, reflectance,
scalar_intensity or i (the first present).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from omnifuse.errors import FormatError, ShapeError

__all__ = ['read_point_cloud', 'write_point_cloud', 'POINT_CLOUD_SUFFIXES']

POINT_CLOUD_SUFFIXES = ('.pcd', '.ply', '.bin')
_INTENSITY_NAMES = ('intensity', 'reflectance', 'scalar_intensity', 'i')


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in POINT_CLOUD_SUFFIXES:
        raise FormatError(f'{path}: unknown point cloud extension {path.suffix or "(none)"!r}; '
                          f'expected one of {", ".join(POINT_CLOUD_SUFFIXES)}')
    return suffix


def _check_header(path: Path, suffix: str) -> None:
    with path.open('rb') as f:
        head = f.read(256)
    if suffix == '.ply' and not head.startswith(b'ply'):
        raise FormatError(f'{path}: not a PLY file (it does not start with "ply")')
    if suffix == '.pcd':
        text = head.lstrip()
        if not (text.startswith(b'#') or text.startswith(b'VERSION') or text.startswith(b'FIELDS')):
            raise FormatError(f'{path}: not a PCD file (no PCD header)')


def read_point_cloud(path: str | Path, *, num_features: int = 4) -> np.ndarray:
    """Read a .pcd, .ply or .bin point cloud.

    Args:
        path: the file.
        num_features: float32 values per point of a .bin file (KITTI 4, Waymo 6); the first four
            columns are returned.

    Returns:
        (N, 4) float32 (x, y, z, intensity); intensity 0 when the file has none.

    Raises:
        FormatError: unknown extension, bad header, or a file open3d cannot parse.
        FileNotFoundError: no such file.
    """
    path = Path(path)
    suffix = _suffix(path)
    if not path.is_file():
        raise FileNotFoundError(2, 'No such file or directory', str(path))
    if suffix == '.bin':
        from omnifuse.datasets.kitti import read_bin_points

        pts = read_bin_points(path, num_features)
        out = np.zeros((len(pts), 4), dtype=np.float32)
        out[:, : min(4, num_features)] = pts[:, :4]
        return out
    _check_header(path, suffix)
    import open3d as o3d

    o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)
    cloud = o3d.t.io.read_point_cloud(str(path))  # type: ignore[arg-type]  # the stubs say PathLike
    attrs = cloud.point
    if 'positions' not in attrs:
        if path.stat().st_size > 0 and _declares_points(path):
            raise FormatError(f'{path}: open3d could not read the points of this {suffix} file')
        return np.zeros((0, 4), dtype=np.float32)
    xyz = attrs['positions'].numpy().astype(np.float32).reshape(-1, 3)
    out = np.zeros((len(xyz), 4), dtype=np.float32)
    out[:, :3] = xyz
    for name in _INTENSITY_NAMES:
        if name in attrs:
            out[:, 3] = attrs[name].numpy().astype(np.float32).reshape(len(xyz), -1)[:, 0]
            break
    return out


def _declares_points(path: Path) -> bool:
    """Whether the header announces a non-zero number of points."""
    with path.open('rb') as f:
        head = f.read(4096).decode('latin1', 'replace').splitlines()
    for line in head:
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ('POINTS',) or parts[:2] == ['element', 'vertex']:
            try:
                return int(parts[-1]) > 0
            except ValueError:
                return True
    return True


def write_point_cloud(path: str | Path, points: np.ndarray, *, binary: bool = True) -> None:
    """Write points as .pcd, .ply (open3d; fields x y z intensity) or .bin (float32, all columns).

    Args:
        path: output file; the extension chooses the format.
        points: (N, 3) or (N, >=4) points; column 3 is written as intensity (PCD/PLY).
        binary: binary PCD/PLY (False writes ASCII).
    """
    path = Path(path)
    suffix = _suffix(path)
    pts = np.asarray(points, dtype=np.float32)
    if pts.ndim != 2 or pts.shape[1] < 3:
        raise ShapeError(f'write_point_cloud: expected (N, >=3) points, got {pts.shape}')
    if suffix == '.bin':
        np.ascontiguousarray(pts).tofile(path)
        return
    import open3d as o3d

    o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)
    cloud = o3d.t.geometry.PointCloud()
    cpu = o3d.core.Device('CPU:0')
    cloud.point.positions = o3d.core.Tensor(np.ascontiguousarray(pts[:, :3]), o3d.core.float32, cpu)
    if pts.shape[1] >= 4:
        cloud.point.intensity = o3d.core.Tensor(np.ascontiguousarray(pts[:, 3:4]), o3d.core.float32, cpu)
    if not o3d.t.io.write_point_cloud(str(path), cloud, write_ascii=not binary):  # type: ignore[arg-type]
        raise FormatError(f'{path}: open3d could not write the point cloud')
