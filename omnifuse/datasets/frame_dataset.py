"""The one base of the segmentation and occupancy datasets: a KITTI-layout folder of frames, an ImageSets list,
and per frame one typed sample (issue 22).

    FrameFolderDataset            reader (KittiReader over <root>/<split>, ImageSets list), class names /
                                  metainfo, len, frame meta and condition
      RGBXSegDataset              load(i) numpy -> __getitem__ {'inputs': {'rgb', 'x'}, 'data_samples': SegSample}
      PointSegDataset             load(i) numpy -> {'inputs': {'points'}, 'data_samples': PointSegSample}
                                  (the image + lidar2img a SampleCamera in PointSegSample.cameras)
      NearFieldOccupancyDataset   sample(i) numpy (shared with `omnifuse occupancy` and the exported model)
                                  -> {'inputs': {'image', 'lidar2img', 'camera_valid', 'ultrasonic'},
                                  'data_samples': OccupancySample}

Each subclass keeps its fixed preprocessing (no transform pipeline): the same numpy code serves training and the
torch-free paths. The detection datasets (omnifuse.datasets.det_dataset) are mmengine `BaseDataset`s with a
transform pipeline and are not built on this class (docs/architecture.md, issue 22, says why).

No torch here: the occupancy dataset is imported by the torch-free runtime.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omnifuse.datasets.kitti import KittiReader, read_frame_meta
from omnifuse.structures import SensorFrame

__all__ = ['FrameFolderDataset', 'frame_condition']


def frame_condition(frame: SensorFrame, data_dir: Path) -> str | None:
    """'day' / 'night' / ... of a frame: frame.meta['condition'], else `meta/<id>.json` 'condition'."""
    return _condition(frame.meta, data_dir / 'meta' / f'{frame.frame_id}.json')


def _condition(meta: Mapping[str, object], meta_file: Path) -> str | None:
    value = meta.get('condition')
    if value is None:
        value = read_frame_meta(meta_file).get('condition')
    return None if value is None else str(value)


class FrameFolderDataset:
    """The frames of a KITTI-layout folder (optionally an ImageSets list of them); one item per frame.

    Args:
        data_root: dataset root (with `<split>/`) or the split folder itself.
        split: sub-folder holding the data ('training' or 'testing').
        image_set: ImageSets name ('train', 'val') or file selecting frames; None = every frame.
        class_names: the class names of the labels (metainfo for metrics and tools).
        load_images: whether the reader's `read` loads image_2/ and thermal/ (subclasses that read single files
            through `reader.path` leave it False).

    Subclasses make the item of `__getitem__(index)`: `{'inputs': {...tensors}, 'data_samples': typed sample}`.
    """

    def __init__(self, data_root: str | Path, *, split: str = 'training', image_set: str | None = None,
                 class_names: Sequence[str] = (), load_images: bool = False) -> None:
        self.reader = KittiReader(data_root, split, image_set=image_set, load_images=load_images)
        self.class_names = tuple(class_names)

    @property
    def metainfo(self) -> dict[str, Any]:
        """mmengine dataset meta: {'classes': names}."""
        return {'classes': self.class_names}

    def __len__(self) -> int:
        return len(self.reader)

    def frame_id(self, index: int) -> str:
        """The id of frame `index` (ImageSets order)."""
        return self.reader.frame_ids[index]

    def meta(self, frame_id: str) -> dict[str, object]:
        """meta/<id>.json of the simulator (condition, faults, ...), {} when absent."""
        return read_frame_meta(self.reader.path('meta', frame_id, '.json'))

    def condition(self, frame_id: str, frame_meta: Mapping[str, object] | None = None) -> str | None:
        """'day' / 'night' / ... of a frame: `frame_meta` ['condition'] (a SensorFrame's meta, or the meta file
        already read), else its `meta/<id>.json` 'condition'; None when neither has one."""
        return _condition(frame_meta or {}, self.reader.path('meta', frame_id, '.json'))

    def __getitem__(self, index: int) -> dict[str, Any]:
        raise NotImplementedError
