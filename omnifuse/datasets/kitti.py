"""Lazy reader of the KITTI object layout (and of the omnifuse simulator's extension of it).

    <root>/ImageSets/{train,val,test,...}.txt      frame ids, one a line (optional)
    <root>/training/velodyne/<id>.bin               float32 x y z intensity (N, 4)
    <root>/training/image_2/<id>.png                colour image of the left camera
    <root>/training/calib/<id>.txt                  P0..P3, R0_rect, Tr_velo_to_cam (+ omnifuse lines)
    <root>/training/label_2/<id>.txt                KITTI labels (see labels_io.py)
    <root>/training/thermal/<id>.png                16-bit thermal image (omnifuse simulator)
    <root>/training/ultrasonic/<id>.txt             lines `name range_m`, 'nan' for no echo (simulator)
    <root>/training/meta/<id>.json                  stamp_ns, stamps_ns and other facts (simulator)

`root` may also be the split folder itself (the one holding velodyne/). Nothing is read when the
reader is made but the frame index: the ImageSets file, or one `os.scandir` of velodyne/.
A frame's files are read when the frame is asked for. velodyne/ and calib/ are required; every other
stream is read when its folder exists, and then a frame without its file is a FormatError.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from omnifuse.datasets.image_io import read_image_unchanged, read_rgb_image
from omnifuse.datasets.labels_io import read_object_labels
from omnifuse.errors import FormatError
from omnifuse.structures import Calibration, CameraModel, SensorFrame

__all__ = ['KittiReader', 'read_bin_points', 'read_frame_meta', 'read_rgb_image', 'read_ultrasonic_file',
           'resolve_kitti_root', 'read_image_set']

FRAME_ID_SUFFIX = '.bin'


def read_bin_points(path: str | Path, num_features: int = 4) -> np.ndarray:
    """Read a KITTI-style .bin point file.

    Args:
        path: the file, consecutive float32 records of `num_features` values.
        num_features: values per point (KITTI 4: x y z intensity; Waymo 6).

    Returns:
        (N, num_features) float32 points, LiDAR frame.

    Raises:
        FormatError: the size is not a whole number of records.
    """
    path = Path(path)
    size = os.path.getsize(path)
    record = 4 * num_features
    if size % record:
        raise FormatError(f'{path}: {size} bytes is not a multiple of {record} '
                          f'({num_features} float32 values per point)')
    return np.fromfile(path, dtype=np.float32).reshape(-1, num_features)



def _read_thermal(path: Path) -> np.ndarray:
    img = read_image_unchanged(path)
    if img.ndim != 2:
        raise FormatError(f'{path}: a thermal image must have one channel, found shape {img.shape}')
    return img


def read_ultrasonic_file(path: str | Path) -> dict[str, float]:
    """Read ultrasonic ranges: lines `name range_m` ('nan' when there is no echo).

    Returns:
        range [m] by sensor name, NaN for no echo.

    Raises:
        FormatError: naming `file:line` for a malformed line or a repeated name.
    """
    path = Path(path)
    out: dict[str, float] = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith('#'):
            continue
        if len(parts) != 2:
            raise FormatError(f'{path}:{lineno}: expected "name range_m", got {line.strip()[:60]!r}')
        try:
            value = float(parts[1])
        except ValueError:
            msg = f'{path}:{lineno}: range {parts[1]!r} is not a number (use nan for no echo)'
            raise FormatError(msg) from None
        if value < 0 or math.isinf(value):
            raise FormatError(f'{path}:{lineno}: range must be >= 0 m or nan, got {parts[1]!r}')
        if parts[0] in out:
            raise FormatError(f'{path}:{lineno}: sensor {parts[0]!r} appears twice')
        out[parts[0]] = value
    return out


def resolve_kitti_root(root: str | Path, split: str = 'training') -> tuple[Path, Path]:
    """Find the data folder and the dataset root.

    Args:
        root: the dataset root (holding `<split>/velodyne`) or the split folder (holding `velodyne`).
        split: 'training' or 'testing'.

    Returns:
        (data_dir, dataset_root): the folder holding velodyne/, and the folder searched for ImageSets/.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(2, 'No such directory (KITTI root)', str(root))
    if (root / split / 'velodyne').is_dir():
        return root / split, root
    if (root / 'velodyne').is_dir():
        return root, root.parent
    raise FormatError(f'{root}: not a KITTI object layout: neither {root / split / "velodyne"} '
                      f'nor {root / "velodyne"} exists')


def read_image_set(path: str | Path) -> list[str]:
    """Frame ids listed in an ImageSets file (one a line; blank lines ignored)."""
    path = Path(path)
    ids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    for lineno, frame in enumerate(ids, 1):
        if len(frame.split()) != 1:
            raise FormatError(f'{path}:{lineno}: expected one frame id a line, got {frame!r}')
    return ids


class KittiReader:
    """Lazy KITTI object-layout reader: `reader[i]` / `reader.read('000008')` -> `SensorFrame`.

    Args:
        root: dataset root (with `<split>/velodyne/`) or the split folder itself.
        split: sub-folder holding the data ('training' or 'testing').
        image_set: None (every .bin in velodyne/), a name ('val' reads ImageSets/val.txt from the
            root, the split folder or its parent), or a path to such a file.
        num_point_features: float32 values per point in the .bin files (4 for KITTI).
        load_images: read image_2/ (and thermal/) when present; False reads points, calib, labels only.
        require_labels: a frame whose label file is missing from an existing label_2/ is an error (True) or
            a frame without labels (False: inference, which needs none).

    The frame returned holds: points (N, C) float32 LiDAR frame; images['image_2'] (H, W, 3) uint8 RGB;
    thermal['thermal'] (H, W) uint16 when thermal/ exists; ultrasonic ranges when ultrasonic/ exists;
    calib (image_2 size filled in from the image); labels with every KITTI field incl. DontCare
    when label_2/ exists; meta['paths'] the files read.
    """

    def __init__(self, root: str | Path, split: str = 'training', *, image_set: str | Path | None = None,
                 num_point_features: int = 4, load_images: bool = True, require_labels: bool = True) -> None:
        self.data_dir, self.root = resolve_kitti_root(root, split)
        self.require_labels = require_labels
        self.num_point_features = num_point_features
        self.load_images = load_images
        self._frame_ids = tuple(self._list_frames(image_set))
        self._index = {frame: i for i, frame in enumerate(self._frame_ids)}

    # ---- index ----
    def _image_set_path(self, image_set: str | Path) -> Path:
        candidate = Path(image_set)
        if candidate.suffix == '.txt' or len(candidate.parts) > 1:
            if candidate.is_file():
                return candidate
            raise FileNotFoundError(2, 'No such ImageSets file', str(candidate))
        for folder in (self.root, self.data_dir, self.data_dir.parent):
            path = folder / 'ImageSets' / f'{image_set}.txt'
            if path.is_file():
                return path
        missing = self.root / 'ImageSets' / f'{image_set}.txt'
        raise FileNotFoundError(2, 'No such ImageSets file', str(missing))

    def _list_frames(self, image_set: str | Path | None) -> list[str]:
        if image_set is not None:
            return read_image_set(self._image_set_path(image_set))
        with os.scandir(self.data_dir / 'velodyne') as entries:
            ids = [e.name[: -len(FRAME_ID_SUFFIX)] for e in entries if e.name.endswith(FRAME_ID_SUFFIX)]
        return sorted(ids)

    @property
    def frame_ids(self) -> tuple[str, ...]:
        """The frame ids, in order."""
        return self._frame_ids

    def __len__(self) -> int:
        return len(self._frame_ids)

    def __getitem__(self, index: int) -> SensorFrame:
        return self.read(self._frame_ids[index])

    def __iter__(self) -> Iterator[SensorFrame]:
        for frame in self._frame_ids:
            yield self.read(frame)

    def __contains__(self, frame_id: object) -> bool:
        return frame_id in self._index

    # ---- one frame ----
    def path(self, folder: str, frame_id: str, ext: str) -> Path:
        """`<data_dir>/<folder>/<frame_id><ext>`."""
        return self.data_dir / folder / f'{frame_id}{ext}'

    def _required(self, folder: str, frame_id: str, ext: str) -> Path:
        path = self.path(folder, frame_id, ext)
        if not path.is_file():
            raise FormatError(f'frame {frame_id}: missing file {path}')
        return path

    def _optional(self, folder: str, frame_id: str, ext: str) -> Path | None:
        """The frame's file when the stream's folder exists (missing file -> FormatError), else None."""
        if not (self.data_dir / folder).is_dir():
            return None
        return self._required(folder, frame_id, ext)

    def read_calib(self, frame_id: str) -> Calibration:
        """calib/<id>.txt as a `Calibration`."""
        return Calibration.from_kitti_file(self._required('calib', frame_id, '.txt'))

    def read_points(self, frame_id: str) -> np.ndarray:
        """velodyne/<id>.bin as (N, num_point_features) float32, LiDAR frame."""
        return read_bin_points(self._required('velodyne', frame_id, '.bin'), self.num_point_features)

    def read(self, frame_id: str) -> SensorFrame:
        """Read every available stream of one frame (see the class docstring)."""
        frame_id = str(frame_id)
        paths: dict[str, str] = {}
        points_path = self._required('velodyne', frame_id, '.bin')
        points = read_bin_points(points_path, self.num_point_features)
        paths['velodyne'] = str(points_path)
        finite = np.isfinite(points).all(axis=1)
        dropped = int(len(points) - finite.sum())
        if dropped:  # a NaN / inf point is no measurement: keep it out of every count and model
            points = points[finite]
        calib_path = self._required('calib', frame_id, '.txt')
        calib = Calibration.from_kitti_file(calib_path)
        paths['calib'] = str(calib_path)

        images: dict[str, np.ndarray] = {}
        thermal: dict[str, np.ndarray] = {}
        if self.load_images:
            image_path = self._optional('image_2', frame_id, '.png')
            if image_path is not None:
                images['image_2'] = read_rgb_image(image_path)
                paths['image_2'] = str(image_path)
                if 'image_2' in calib.cameras:
                    calib.cameras['image_2'] = _with_size(calib.cameras['image_2'], images['image_2'])
            thermal_path = self._optional('thermal', frame_id, '.png')
            if thermal_path is not None:
                thermal['thermal'] = _read_thermal(thermal_path)
                paths['thermal'] = str(thermal_path)
                if 'thermal' in calib.thermal:
                    calib.thermal['thermal'] = _with_size(calib.thermal['thermal'], thermal['thermal'])

        ultrasonic: dict[str, float] = {}
        us_path = self._optional('ultrasonic', frame_id, '.txt')
        if us_path is not None:
            ultrasonic = read_ultrasonic_file(us_path)
            paths['ultrasonic'] = str(us_path)

        labels = None
        label_path = (self._optional('label_2', frame_id, '.txt') if self.require_labels
                      else self.path('label_2', frame_id, '.txt'))
        if label_path is not None and label_path.is_file():
            labels = read_object_labels(label_path, calib)
            paths['label_2'] = str(label_path)

        meta: dict[str, object] = {}
        stamp_ns, stamps_ns = 0, {}  # type: tuple[int, dict[str, int]]
        meta_path = self._optional('meta', frame_id, '.json')
        if meta_path is not None:
            meta, stamp_ns, stamps_ns = _read_meta(meta_path)
            paths['meta'] = str(meta_path)
        meta.update({'paths': paths, 'dataset': 'kitti'})
        if dropped:
            meta['non_finite_points'] = dropped
        return SensorFrame(frame_id=frame_id, stamp_ns=stamp_ns, points=points, images=images,
                           thermal=thermal, ultrasonic=ultrasonic, calib=calib, stamps_ns=stamps_ns,
                           labels=labels, meta=meta)


def read_frame_meta(path: str | Path) -> dict[str, object]:
    """A frame's `meta/<id>.json` (the simulator writes it: condition, sequence, stamps, poses, ...) as a dict;
    {} when the file does not exist. The one reader of these files.

    Raises:
        FormatError: not valid JSON, or not a JSON object, naming the file.
    """
    import json

    path = Path(path)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding='utf-8'))
    except UnicodeDecodeError:
        raise FormatError(f'{path}: not a text file (frame meta files are JSON)') from None
    except json.JSONDecodeError as exc:
        raise FormatError(f'{path}:{exc.lineno}: not valid JSON ({exc.msg})') from None
    if not isinstance(data, dict):
        raise FormatError(f'{path}: expected a JSON object, found {type(data).__name__}')
    return data


def _read_meta(path: Path) -> tuple[dict[str, object], int, dict[str, int]]:
    """meta/<id>.json of the simulator: (other keys, stamp_ns, stamps_ns)."""
    data = read_frame_meta(path)
    try:
        stamp_ns = int(data.pop('stamp_ns', 0) or 0)  # type: ignore[call-overload]
        stamps = {str(k): int(v) for k, v in (data.pop('stamps_ns', None) or {}).items()}  # type: ignore[attr-defined]
    except (TypeError, ValueError, AttributeError):
        msg = f'{path}: stamp_ns must be an integer and stamps_ns an object of integers'
        raise FormatError(msg) from None
    return data, stamp_ns, stamps


def _with_size(camera: CameraModel, image: np.ndarray) -> CameraModel:
    """The camera with the image's size when its calib did not give one."""
    if camera.width > 0 and camera.height > 0:
        return camera
    return dataclasses.replace(camera, width=int(image.shape[1]), height=int(image.shape[0]))
