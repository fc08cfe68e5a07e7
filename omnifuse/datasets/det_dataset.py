"""mmengine datasets for 3D detection over the KITTI layout (real KITTI or the simulator's output) and Waymo.

Each item is `pipeline(frame_to_results(reader.read(frame_id)))`; see omnifuse.datasets.transforms for the
results dict. Frames are read lazily: the dataset's data list holds only frame ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from mmengine.dataset import BaseDataset

from omnifuse.datasets.labels_io import object_labels_to_kitti
from omnifuse.datasets.transforms import CAMS_OF_FIELD  # importing the module registers the transforms
from omnifuse.registry import DATASETS, TRANSFORMS
from omnifuse.structures import SensorFrame
from omnifuse.structures.label_image import read_label_png

__all__ = ['frame_to_results', 'KittiDetDataset', 'WaymoDetDataset']


def frame_to_results(frame: SensorFrame, *, use_camera: bool = True, use_thermal: bool = True,
                     main_camera: str = 'image_2') -> dict[str, Any]:
    """The pipeline's results dict of one frame (see omnifuse.datasets.transforms).

    Args:
        frame: a frame from a reader (points required).
        use_camera: keep the colour images (and their cameras).
        use_thermal: keep the thermal images (and their cameras).
        main_camera: the camera whose calibration the KITTI metric uses.
    """
    if frame.points is None:
        from omnifuse.errors import FormatError
        raise FormatError(f'frame {frame.frame_id}: no LiDAR points')
    res: dict[str, Any] = {'frame_id': frame.frame_id, 'points': np.asarray(frame.points, dtype=np.float32),
                           'images': {}, 'thermal': {}, 'cams': {'camera': {}, 'thermal': {}},
                           'aug_matrix': np.eye(4),
                           'meta': dict(frame.meta)}
    calib = frame.calib
    for field, use, modality in (('images', use_camera, 'camera'), ('thermal', use_thermal, 'thermal')):
        if not use or calib is None:
            continue
        # Colour and thermal cameras may share a name (the ROS contract calls both 'front'): look each
        # image up in its own store.
        store = calib.cameras if modality == 'camera' else calib.thermal
        for name, img in getattr(frame, field).items():
            cam = store.get(name)
            if cam is None:  # an image without calibration cannot be fused
                continue
            res[field][name] = img
            res['cams'][modality][name] = {'lidar2img': cam.lidar2img.copy(), 'P': cam.P.copy(),
                                           'img_hw': (int(img.shape[0]), int(img.shape[1]))}
    if calib is not None and main_camera in calib.cameras:
        cam = calib.cameras[main_camera]
        res['T_cam_lidar'] = cam.T_cam_lidar.copy()
        res['P'] = cam.P.copy()
        img = frame.images.get(main_camera)
        w, h = (img.shape[1], img.shape[0]) if img is not None else (cam.width, cam.height)
        res['image_size'] = np.array([w, h], dtype=np.int64)
    if frame.labels is not None:
        labels = frame.labels.without_dontcare()
        res['gt_boxes'] = labels.boxes.data.copy()
        res['gt_names'] = list(labels.names)
        if 'T_cam_lidar' in res:
            res['gt_kitti'] = object_labels_to_kitti(frame.labels, res['T_cam_lidar']).as_dict()
    else:
        res['gt_boxes'] = np.zeros((0, 7))
        res['gt_names'] = []
    return res


class _FrameDataset(BaseDataset):
    """A BaseDataset whose data list is frame ids, read through `self.reader` when an item is asked for."""

    def __init__(self, *, class_names: Sequence[str], pipeline: Sequence[dict] = (), use_camera: bool = True,
                 use_thermal: bool = True, max_frames: int | None = None, test_mode: bool = False,
                 lazy_init: bool = False, main_camera: str = 'image_2') -> None:
        self.class_names = tuple(class_names)
        self.use_camera = use_camera
        self.use_thermal = use_thermal
        self.max_frames = max_frames
        self.main_camera = main_camera
        # Build the transforms from omnifuse's registry (works with or without a default scope).
        steps = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline]
        super().__init__(metainfo={'classes': self.class_names}, pipeline=steps, test_mode=test_mode,
                         lazy_init=lazy_init, serialize_data=False)

    def _reader(self) -> Any:
        raise NotImplementedError

    def load_data_list(self) -> list[dict]:
        self.reader = self._reader()
        ids = list(self.reader.frame_ids)
        if self.max_frames is not None:
            ids = ids[: self.max_frames]
        return [{'frame_id': i} for i in ids]

    def get_data_info(self, idx: int) -> dict:
        frame = self.reader.read(self.data_list[idx]['frame_id'])
        return frame_to_results(frame, use_camera=self.use_camera, use_thermal=self.use_thermal,
                                main_camera=self.main_camera)


@DATASETS.register_module()
class KittiDetDataset(_FrameDataset):
    """Frames of a KITTI-layout folder (real KITTI, or the simulator's output with thermal and conditions).

    Args:
        data_root: the root (holding `<split>/velodyne`, optionally ImageSets/).
        split: 'training' or 'testing'.
        image_set: None (every frame), a name under ImageSets/ ('train', 'val') or a file path.
        class_names: detected classes (label order).
        pipeline: transform configs.
        use_camera, use_thermal: load and keep these images.
        max_frames: use only the first N frames (quick runs).
        conditions: keep only frames whose simulator meta (`<split>/meta/<id>.json`) has one of these
            conditions ('day', 'night', 'fog', ...); None keeps every frame.
        load_semantics: also read the simulator's per-pixel class ids of each loaded image
            (`<split>/semantic_2/<id>.png` for image_2, `<split>/semantic_thermal/<id>.png` for thermal;
            uint8 ids of omnifuse.datasets.sim.classes, 255 = ignore) into results['semantics'] =
            {modality: {camera name: (H, W) uint8}}, keyed as `cams`. A missing label file gives no entry.
        test_mode: mmengine's flag (no effect on loading).
    """

    # (modality, camera name) -> folder of its per-pixel class ids (the simulator's KITTI writer)
    SEMANTIC_FOLDERS: dict[tuple[str, str], str] = {('camera', 'image_2'): 'semantic_2',
                                                    ('thermal', 'thermal'): 'semantic_thermal'}

    def __init__(self, *, data_root: str, split: str = 'training', image_set: str | None = None,
                 conditions: Sequence[str] | None = None, load_semantics: bool = False,
                 **kwargs: Any) -> None:
        self.kitti_root = data_root
        self.split = split
        self.image_set = image_set
        self.conditions = tuple(conditions) if conditions is not None else None
        self.load_semantics = bool(load_semantics)
        super().__init__(**kwargs)

    def _semantics(self, frame_id: str, results: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
        """{modality: {camera name: (H, W) uint8 class ids}} of the loaded images whose label file exists."""
        from omnifuse.errors import FormatError

        out: dict[str, dict[str, np.ndarray]] = {}
        for field, modality in CAMS_OF_FIELD.items():
            for name, img in results.get(field, {}).items():
                folder = self.SEMANTIC_FOLDERS.get((modality, name))
                if folder is None:
                    continue
                path = Path(self.reader.data_dir) / folder / f'{frame_id}.png'
                if not path.is_file():
                    continue
                sem = read_label_png(path)
                if sem.max(initial=0) > 255:
                    raise FormatError(f'{path}: class ids must fit in uint8 (255 = ignore), found {int(sem.max())}')
                sem = sem.astype(np.uint8)
                if sem.shape != img.shape[:2]:
                    raise FormatError(f'{path}: size {sem.shape[1]}x{sem.shape[0]} differs from its image '
                                      f'{name!r} ({img.shape[1]}x{img.shape[0]})')
                out.setdefault(modality, {})[name] = sem
        return out

    def _frame_meta(self, frame_id: str) -> dict:
        from omnifuse.datasets.kitti import read_frame_meta

        return read_frame_meta(Path(self.reader.data_dir) / 'meta' / f'{frame_id}.json')

    def load_data_list(self) -> list[dict]:
        """The frames of the split, only those of `conditions` (by their meta file) when given."""
        items = super().load_data_list()
        if self.conditions is None:
            return items
        return [it for it in items if self._frame_meta(it['frame_id']).get('condition') in self.conditions]

    def get_data_info(self, idx: int) -> dict:
        """As the base class, plus the simulator's per-frame meta (`<split>/meta/<id>.json`: condition, ...)
        and, with load_semantics, the per-pixel class ids (results['semantics'])."""
        res = super().get_data_info(idx)
        res['meta'].update(self._frame_meta(res['frame_id']))
        if self.load_semantics:
            res['semantics'] = self._semantics(res['frame_id'], res)
        return res

    def _reader(self) -> Any:
        from omnifuse.datasets.kitti import KittiReader

        return KittiReader(self.kitti_root, self.split, image_set=self.image_set,
                           load_images=self.use_camera or self.use_thermal)


@DATASETS.register_module()
class WaymoDetDataset(_FrameDataset):
    """Frames of mmdet3d's KITTI-format Waymo layout (six-float points, five cameras).

    Args:
        data_root: the layout root (holding `<split>/velodyne` and waymo_infos_*.pkl).
        info_files: info .pkl files (None: every waymo_infos_*.pkl in the root).
        Other arguments as KittiDetDataset (main_camera defaults to 'CAM_FRONT').
    """

    def __init__(self, *, data_root: str, info_files: str | Sequence[str] | None = None, split: str = 'training',
                 main_camera: str = 'CAM_FRONT', **kwargs: Any) -> None:
        self.waymo_root = data_root
        self.info_files = info_files
        self.split = split
        super().__init__(main_camera=main_camera, **kwargs)

    def _reader(self) -> Any:
        from omnifuse.datasets.waymo import WaymoReader

        files = self.info_files
        if isinstance(files, str):
            files = str(Path(self.waymo_root) / files) if not Path(files).is_absolute() else files
        return WaymoReader(self.waymo_root, info_files=files, split=self.split,
                           load_images=self.use_camera)
