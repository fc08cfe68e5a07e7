"""mmdet3d v1.x info files (`kitti_infos_*.pkl`, `waymo_infos_*.pkl`), read without trusting them.

A pickle names functions that `pickle.load` calls while reading, so a `.pkl` from someone else can
run any command. `load_pickle` uses an unpickler that resolves only an allow-list of globals:
plain builtin containers and scalars, `collections.OrderedDict`, and the numpy functions and types
that numpy arrays, dtypes and scalars pickle into. Anything else raises `UnsafePickleError`
naming the file and the refused global, before it is called.

Info layout (mmdet3d v1.x, `{'metainfo': {...}, 'data_list': [info, ...]}`), per sample:
    lidar_points: lidar_path, num_pts_feats (+ Tr_velo_to_cam, Tr_imu_to_velo for KITTI)
    images: {'CAM2': {img_path, cam2img, lidar2cam, lidar2img, height, width}, ..., 'R0_rect' (KITTI)}
    instances: [{bbox_label_3d, bbox_3d, bbox, truncated, occluded, alpha, num_lidar_pts, ...}]
    sample_idx (sample_id in some files), timestamp [us] (Waymo)
Box convention of `bbox_3d` (mmdet3d, checked against its LiDARInstance3DBoxes/CameraInstance3DBoxes):
    KITTI: camera frame (x y z l h w ry), (x, y, z) the bottom centre; the same numbers as label_2.
    Waymo: LiDAR frame (x y z l w h yaw), (x, y, z) the bottom centre, yaw as omnifuse's.
A `bbox_label_3d` of -1 marks a DontCare region.
"""

from __future__ import annotations

import _compat_pickle
import importlib
import io
import pickle
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from omnifuse.errors import FormatError, UnsafePickleError
from omnifuse.structures import Boxes3D, Calibration, ObjectLabels, SensorFrame
from omnifuse.structures.geometry import wrap_angle

__all__ = ['RestrictedUnpickler', 'load_pickle', 'load_info_file', 'InfoFile', 'InfoReader',
           'info_sample_id', 'info_frame_id', 'info_calibration', 'info_labels',
           'KITTI_CLASSES', 'WAYMO_CLASSES']

KITTI_CLASSES = ('Pedestrian', 'Cyclist', 'Car', 'Van', 'Truck', 'Person_sitting', 'Tram', 'Misc')
WAYMO_CLASSES = ('Car', 'Pedestrian', 'Cyclist')
_DEFAULT_CLASSES = {'kitti': KITTI_CLASSES, 'waymo': WAYMO_CLASSES}
_BOX_FRAME = {'kitti': 'camera', 'waymo': 'lidar'}

# ---------------------------------------------------------------------------------------------
# restricted unpickler

_BUILTINS = frozenset({
    'dict', 'list', 'tuple', 'set', 'frozenset', 'str', 'bytes', 'bytearray', 'int', 'float',
    'complex', 'bool', 'slice', 'NoneType', 'range',
})
# (module, name) pairs numpy arrays, dtypes and scalars pickle into (numpy 1.x and 2.x paths).
_NUMPY = frozenset({
    ('numpy', 'ndarray'), ('numpy', 'dtype'),
    ('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'), ('numpy._core.multiarray', 'scalar'),
    ('numpy.core.numeric', '_frombuffer'), ('numpy._core.numeric', '_frombuffer'),
})
_LATIN1 = frozenset({'latin1', 'latin-1', 'iso-8859-1', 'iso8859-1', 'l1'})


def _numpy_global(module: str, name: str) -> Any:
    if module in ('numpy', 'numpy.core', 'numpy._core'):
        return getattr(np, name)
    sub = module.split('.')[-1]  # 'multiarray' or 'numeric'
    for base in ('numpy._core', 'numpy.core'):
        try:
            return getattr(importlib.import_module(f'{base}.{sub}'), name)
        except (ImportError, AttributeError):
            continue
    raise AttributeError(f'{module}.{name}')


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only builtin containers/scalars and numpy arrays, dtypes, scalars.

    Args:
        file: binary file object.
        source: name used in error messages (the file path).
    """

    def __init__(self, file: io.BufferedIOBase, *, source: str = '<pickle>') -> None:
        super().__init__(file, encoding='latin1')
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        """Resolve a global the pickle names, or raise UnsafePickleError."""
        # Protocol-2 pickles written by Python 2 name '__builtin__' etc.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if module == 'builtins' and name in _BUILTINS:
            return type(None) if name == 'NoneType' else getattr(__import__('builtins'), name)
        if (module, name) in _NUMPY:
            return _numpy_global(module, name)
        if (module, name) == ('collections', 'OrderedDict'):
            return OrderedDict
        if (module, name) == ('_codecs', 'encode'):
            return self._latin1_encode
        raise UnsafePickleError(f'{self.source}: refused to load global {module}.{name} '
                                '(info files may contain only builtins and numpy arrays)')

    def _latin1_encode(self, text: str, encoding: str = 'utf-8', errors: str = 'strict') -> bytes:
        # Protocol 2 stores bytes as _codecs.encode(text, 'latin1'); nothing else is needed.
        if not isinstance(text, str) or str(encoding).lower() not in _LATIN1:
            raise UnsafePickleError(f'{self.source}: refused _codecs.encode with encoding {encoding!r}')
        return text.encode('latin1', errors)

    def persistent_load(self, pid: Any) -> Any:
        """Persistent ids are never legitimate in an info file."""
        raise UnsafePickleError(f'{self.source}: refused a persistent id in the pickle')


def load_pickle(path: str | Path) -> Any:
    """Unpickle an untrusted file with `RestrictedUnpickler`.

    Raises:
        FileNotFoundError: no such file.
        UnsafePickleError: the pickle names a global outside the allow-list (nothing was called).
        FormatError: the file is not a (complete) pickle.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        return RestrictedUnpickler(io.BytesIO(data), source=str(path)).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError, UnicodeDecodeError) as exc:
        raise FormatError(f'{path}: not a readable pickle ({type(exc).__name__}: {exc})') from None


# ---------------------------------------------------------------------------------------------
# info files

@dataclass(frozen=True)
class InfoFile:
    """A loaded mmdet3d v1.x info file.

    Attributes:
        path: the file.
        metainfo: its `metainfo` dict.
        data_list: one dict per sample.
    """

    path: Path
    metainfo: dict[str, Any]
    data_list: list[dict[str, Any]] = field(repr=False)

    @property
    def dataset(self) -> str:
        """'kitti', 'waymo', ... (lower case; '' when the metainfo does not say)."""
        name = self.metainfo.get('dataset', self.metainfo.get('DATASET', ''))
        return str(name).lower()

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names indexed by `bbox_label_3d`."""
        if 'classes' in self.metainfo:
            return tuple(str(c) for c in self.metainfo['classes'])
        categories = self.metainfo.get('categories')
        if isinstance(categories, Mapping):
            by_id = {int(v): str(k) for k, v in categories.items() if int(v) >= 0}
            return tuple(by_id.get(i, f'class_{i}') for i in range(max(by_id, default=-1) + 1))
        return _DEFAULT_CLASSES.get(self.dataset, ())

    def __len__(self) -> int:
        return len(self.data_list)


def load_info_file(path: str | Path) -> InfoFile:
    """Load an mmdet3d v1.x info .pkl (restricted unpickler) and check its top-level layout.

    Raises:
        UnsafePickleError: the file names a global outside builtins and numpy.
        FormatError: not a dict with a `data_list` list of dicts (e.g. an old v0.x info list).
    """
    path = Path(path)
    obj = load_pickle(path)
    if isinstance(obj, list):
        raise FormatError(f'{path}: this is an mmdet3d v0.x info list; convert it to the v1.x '
                          "{'metainfo', 'data_list'} form "
                          '(mmdet3d tools/dataset_converters/update_infos_to_v2.py)')
    if not isinstance(obj, Mapping) or 'data_list' not in obj:
        found = sorted(obj)[:8] if isinstance(obj, Mapping) else type(obj).__name__
        raise FormatError(f"{path}: not an mmdet3d v1.x info file: expected a dict with 'data_list', "
                          f'found {found}')
    data_list = obj['data_list']
    if not isinstance(data_list, list) or not all(isinstance(d, Mapping) for d in data_list):
        raise FormatError(f"{path}: field 'data_list' must be a list of dicts")
    metainfo = obj.get('metainfo') or {}
    if not isinstance(metainfo, Mapping):
        raise FormatError(f"{path}: field 'metainfo' must be a dict, found {type(metainfo).__name__}")
    return InfoFile(path, dict(metainfo), list(data_list))


def info_sample_id(info: Mapping[str, Any]) -> int | str | None:
    """The sample index (`sample_idx`, or `sample_id` in some files), None if absent."""
    for key in ('sample_idx', 'sample_id'):
        if key in info:
            value = info[key]
            return int(value) if isinstance(value, (int, np.integer)) else str(value)
    return None


def info_frame_id(info: Mapping[str, Any], source: str = '<info>') -> str:
    """The frame id: the stem of `lidar_points.lidar_path` ('000008', '1000000')."""
    lidar = info.get('lidar_points')
    if not isinstance(lidar, Mapping) or 'lidar_path' not in lidar:
        raise FormatError(f"{source}: sample {info_sample_id(info)} has no 'lidar_points.lidar_path'")
    return Path(str(lidar['lidar_path'])).stem


def _matrix(value: Any, where: str, shapes: Sequence[tuple[int, int]]) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise FormatError(f'{where}: expected a numeric matrix') from None
    if arr.shape not in shapes:
        raise FormatError(f'{where}: expected shape {" or ".join(map(str, shapes))}, found {arr.shape}')
    return arr


def _as4x4(m: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[: m.shape[0], : m.shape[1]] = m
    return out


def info_calibration(info: Mapping[str, Any], source: str = '<info>') -> Calibration:
    """Cameras of one info sample as a `Calibration`.

    Each camera with `cam2img` becomes a `CameraModel` (mmdet3d's names: 'CAM2', 'CAM_FRONT', ...;
    'CAM2' also as 'image_2'). Its LiDAR -> camera transform is `lidar2cam`, else R0_rect·Tr_velo_to_cam
    (KITTI), else inv(cam2img)·lidar2img. KITTI's raw matrices (P0..P3 from CAM0..CAM3, R0_rect,
    Tr_velo_to_cam, Tr_imu_to_velo) go to `calib.kitti`, so KITTI label conversions work.
    """
    sid = info_sample_id(info)
    images = info.get('images') or {}
    lidar = info.get('lidar_points') or {}
    if not isinstance(images, Mapping) or not isinstance(lidar, Mapping):
        raise FormatError(f"{source}: sample {sid}: 'images' and 'lidar_points' must be dicts")
    kitti: dict[str, np.ndarray] = {}
    if 'R0_rect' in images:
        kitti['R0_rect'] = _matrix(images['R0_rect'], f'{source}: sample {sid}: images.R0_rect',
                                   [(3, 3), (4, 4)])[:3, :3]
    for key in ('Tr_velo_to_cam', 'Tr_imu_to_velo'):
        if key in lidar:
            where = f'{source}: sample {sid}: lidar_points.{key}'
            kitti[key] = _matrix(lidar[key], where, [(3, 4), (4, 4)])[:3]
    rect_from_lidar = None
    if 'R0_rect' in kitti and 'Tr_velo_to_cam' in kitti:
        rect_from_lidar = _as4x4(kitti['R0_rect']) @ _as4x4(kitti['Tr_velo_to_cam'])

    prepared: dict[str, dict[str, Any]] = {}
    for name, cam in images.items():
        if not isinstance(cam, Mapping) or 'cam2img' not in cam:
            continue
        where = f'{source}: sample {sid}: images.{name}'
        K = _matrix(cam['cam2img'], f'{where}.cam2img', [(3, 3), (3, 4), (4, 4)])
        entry = dict(cam)
        if 'lidar2cam' in cam:
            entry['lidar2cam'] = _matrix(cam['lidar2cam'], f'{where}.lidar2cam', [(3, 4), (4, 4)])
        elif rect_from_lidar is not None:
            entry['lidar2cam'] = rect_from_lidar
        elif 'lidar2img' in cam:
            l2i = _as4x4(_matrix(cam['lidar2img'], f'{where}.lidar2img', [(3, 4), (4, 4)]))
            K4 = _as4x4(K)
            if abs(np.linalg.det(K4)) < 1e-12:
                continue
            entry['lidar2cam'] = np.linalg.solve(K4, l2i)
        else:
            continue
        prepared[str(name)] = entry
        if str(name).startswith('CAM') and str(name)[3:].isdigit() and int(str(name)[3:]) <= 3:
            kitti[f'P{int(str(name)[3:])}'] = _as4x4(K)[:3]
    calib = Calibration.from_mmdet3d(prepared, source=source)
    calib.kitti.update(kitti)
    return calib


def info_labels(info: Mapping[str, Any], calib: Calibration, *, classes: Sequence[str],
                box_frame: str, source: str = '<info>') -> ObjectLabels:
    """The `instances` of one info sample as `ObjectLabels` (LiDAR frame, geometric centres).

    Args:
        info: one element of `data_list`.
        calib: its calibration (KITTI camera boxes need R0_rect·Tr_velo_to_cam).
        classes: names indexed by `bbox_label_3d`; -1 becomes 'DontCare'.
        box_frame: 'camera' (KITTI: x y z l h w ry, bottom centre) or 'lidar' (x y z l w h yaw,
            bottom centre).
        source: name of the info file, for error messages.
    """
    if box_frame not in ('camera', 'lidar'):
        raise ValueError(f"box_frame must be 'camera' or 'lidar', got {box_frame!r}")
    instances = info.get('instances') or []
    sid = info_sample_id(info)
    if not instances:
        return ObjectLabels.empty()
    raw = np.zeros((len(instances), 7))
    names, trunc, occ, alpha, bbox2d = [], [], [], [], []
    for i, inst in enumerate(instances):
        where = f'{source}: sample {sid}: instances[{i}]'
        if not isinstance(inst, Mapping) or 'bbox_3d' not in inst:
            raise FormatError(f"{where}: missing field 'bbox_3d'")
        raw[i] = _vector(inst['bbox_3d'], f'{where}.bbox_3d', 7)
        label = int(inst.get('bbox_label_3d', inst.get('bbox_label', -1)))
        if label == -1:
            names.append('DontCare')
        elif 0 <= label < len(classes):
            names.append(str(classes[label]))
        else:
            raise FormatError(f'{where}: bbox_label_3d {label} is outside the {len(classes)} classes '
                              f'{tuple(classes)}')
        trunc.append(float(inst.get('truncated', 0.0)))
        occ.append(int(inst.get('occluded', 0)))
        alpha.append(float(inst.get('alpha', -10.0)))
        bbox2d.append(_vector(inst.get('bbox', [0.0, 0.0, 0.0, 0.0]), f'{where}.bbox', 4))
    if box_frame == 'camera':
        # (x y z l h w ry) -> KITTI label order (h w l x y z ry)
        kitti_rows = raw[:, [4, 5, 3, 0, 1, 2, 6]]
        boxes = Boxes3D.from_kitti_camera(kitti_rows, calib.T_rect_lidar)
    else:
        data = raw.copy()
        data[:, 2] += data[:, 5] / 2  # bottom centre -> geometric centre
        data[:, 6] = wrap_angle(data[:, 6])
        boxes = Boxes3D(data, 'lidar')
    return ObjectLabels(boxes=boxes, names=names, truncated=np.array(trunc),
                        occluded=np.array(occ, dtype=np.int64), alpha=np.array(alpha),
                        bbox_2d=np.array(bbox2d).reshape(-1, 4))


def _vector(value: Any, where: str, n: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise FormatError(f'{where}: expected {n} numbers') from None
    if arr.size != n:
        raise FormatError(f'{where}: expected {n} numbers, found {arr.size}')
    return arr


# ---------------------------------------------------------------------------------------------
# a lazy reader driven by info files

def _find_file(folder: Path, name: str,
               alternatives: Sequence[str] = ('.png', '.jpg', '.jpeg')) -> Path | None:
    """`folder/name`, else the same stem with another image extension.

    mmdet3d's Waymo infos name `.jpg` files where the converted layout holds `.png` ones.
    """
    path = folder / name
    if path.is_file():
        return path
    stem = Path(name).stem
    for ext in alternatives:
        alt = folder / Path(name).with_name(stem + ext)
        if alt.is_file():
            return alt
    return None


class InfoReader:
    """Lazy reader of a dataset described by mmdet3d info files: `reader.read(frame_id) -> SensorFrame`.

    The index is the info files' `data_list` (loaded once with the restricted unpickler); points and
    images are read when a frame is asked for.

    Args:
        info_paths: one or more info .pkl files (their samples are concatenated; ids must be unique).
        data_root: folder the `lidar_dir` and `camera_dirs` are relative to.
        lidar_dir: folder of `lidar_points.lidar_path`, relative to data_root.
        camera_dirs: image folder (relative to data_root) of each info camera name; cameras not
            listed, or without `img_path`, are not read.
        num_point_features: values per point; None takes `lidar_points.num_pts_feats` (default 4).
        box_frame: 'camera' or 'lidar' frame of `bbox_3d`; None infers it from the metainfo dataset.
        load_images: read the camera images.
        dataset: name stored in `frame.meta['dataset']`; None takes the metainfo's.
    """

    def __init__(self, info_paths: str | Path | Sequence[str | Path], *, data_root: str | Path,
                 lidar_dir: str = 'training/velodyne', camera_dirs: Mapping[str, str] | None = None,
                 num_point_features: int | None = None, box_frame: str | None = None,
                 load_images: bool = True, dataset: str | None = None) -> None:
        paths = [info_paths] if isinstance(info_paths, (str, Path)) else list(info_paths)
        if not paths:
            raise FormatError('InfoReader: no info files given')
        self.files = [load_info_file(p) for p in paths]
        self.data_root = Path(data_root)
        self.lidar_dir = lidar_dir
        self.camera_dirs = dict(camera_dirs or {})
        self.num_point_features = num_point_features
        self.load_images = load_images
        self._samples: list[tuple[InfoFile, dict[str, Any]]] = []
        self._index: dict[str, int] = {}
        for file in self.files:
            for info in file.data_list:
                frame = info_frame_id(info, str(file.path))
                if frame in self._index:
                    raise FormatError(f'{file.path}: frame {frame} is also in '
                                      f'{self._samples[self._index[frame]][0].path}')
                self._index[frame] = len(self._samples)
                self._samples.append((file, dict(info)))
        self.dataset = dataset or self.files[0].dataset
        self._box_frame = box_frame

    @property
    def frame_ids(self) -> tuple[str, ...]:
        """Frame ids (lidar file stems) in info order."""
        return tuple(self._index)

    def __len__(self) -> int:
        return len(self._samples)

    def __getitem__(self, index: int) -> SensorFrame:
        return self.read(self.frame_ids[index])

    def __iter__(self) -> Iterator[SensorFrame]:
        for frame in self.frame_ids:
            yield self.read(frame)

    def __contains__(self, frame_id: object) -> bool:
        return frame_id in self._index

    def info(self, frame_id: str) -> tuple[InfoFile, dict[str, Any]]:
        """The info file and the raw info dict of a frame."""
        if frame_id not in self._index:
            known = ', '.join(list(self._index)[:10])
            names = ', '.join(str(f.path) for f in self.files)
            raise FormatError(f'frame {frame_id!r} is not in {names} (frames: {known}'
                              f'{", ..." if len(self._index) > 10 else ""})')
        return self._samples[self._index[frame_id]]

    def box_frame(self, file: InfoFile) -> str:
        """'camera' or 'lidar': the frame of `bbox_3d` in `file`."""
        if self._box_frame is not None:
            return self._box_frame
        if file.dataset in _BOX_FRAME:
            return _BOX_FRAME[file.dataset]
        raise FormatError(f"{file.path}: metainfo does not name a known dataset ({file.dataset!r}); "
                          "pass box_frame='camera' or 'lidar'")

    def read(self, frame_id: str, *, image_reader: Callable[[Path], np.ndarray] | None = None) -> SensorFrame:
        """Read one frame: points, calibration, labels, and the images of `camera_dirs`."""
        from omnifuse.datasets.kitti import read_bin_points, read_rgb_image

        frame_id = str(frame_id)
        file, info = self.info(frame_id)
        source = str(file.path)
        lidar = info['lidar_points']
        nfeat = self.num_point_features or int(lidar.get('num_pts_feats', 4))
        points_path = self.data_root / self.lidar_dir / str(lidar['lidar_path'])
        if not points_path.is_file():
            raise FormatError(f'frame {frame_id}: missing file {points_path} (named by {source})')
        points = read_bin_points(points_path, nfeat)
        calib = info_calibration(info, source)
        paths = {'lidar': str(points_path), 'info': source}

        images: dict[str, np.ndarray] = {}
        if self.load_images:
            read_image = image_reader or read_rgb_image
            for name, folder in self.camera_dirs.items():
                cam = (info.get('images') or {}).get(name)
                if not isinstance(cam, Mapping) or not cam.get('img_path'):
                    continue
                image_path = _find_file(self.data_root / folder, str(cam['img_path']))
                if image_path is None:
                    missing = self.data_root / folder / str(cam['img_path'])
                    raise FormatError(f'frame {frame_id}: missing file {missing} '
                                      f'(images.{name}.img_path in {source})')
                images[name] = read_image(image_path)
                paths[name] = str(image_path)
                _fill_size(calib, name, images[name])

        labels = None
        if 'instances' in info:
            labels = info_labels(info, calib, classes=file.classes, box_frame=self.box_frame(file),
                                 source=source)
        stamp_ns = 0
        if 'timestamp' in info and info['timestamp'] is not None:
            stamp_ns = _timestamp_ns(info['timestamp'])
        meta: dict[str, object] = {'paths': paths, 'dataset': self.dataset,
                                   'sample_idx': info_sample_id(info)}
        if info.get('context_name') and info.get('timestamp') is not None:
            # the official Waymo frame name ('<context>_<timestamp_micros>'), as in gt.bin
            meta['waymo_frame'] = f"{info['context_name']}_{int(info['timestamp'])}"
        return SensorFrame(frame_id=frame_id, stamp_ns=stamp_ns, points=points, images=images, calib=calib,
                           labels=labels, stamps_ns={'lidar': stamp_ns} if stamp_ns else {}, meta=meta)


def _timestamp_ns(value: Any) -> int:
    """Info timestamps: Waymo/nuScenes write microseconds (int), some converters seconds (float)."""
    if isinstance(value, (float, np.floating)) and not float(value).is_integer():
        return int(round(float(value) * 1e9))
    v = int(value)
    if v < 10**11:  # seconds
        return v * 10**9
    if v < 10**17:  # microseconds
        return v * 1000
    return v


def _fill_size(calib: Calibration, name: str, image: np.ndarray) -> None:
    import dataclasses

    h, w = image.shape[:2]
    for key in [name] + (['image_2'] if name == 'CAM2' else []):
        cam = calib.cameras.get(key)
        if cam is not None and (cam.width <= 0 or cam.height <= 0):
            calib.cameras[key] = dataclasses.replace(cam, width=int(w), height=int(h))
