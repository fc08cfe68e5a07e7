"""Near-field occupancy samples from a simulator (KITTI-layout) directory.

The simulator's `occupancy/<id>.png` holds one semantic class id per BEV cell (0.1 m over ±10 m, see
omnifuse.structures.bev_grid). For the occupancy task the classes are grouped: free ground and a few
occupied groups. Predictions are written back in simulator ids (one representative id per group), so
predicted and true grids are files of the same format.

No torch at import: `occupancy_inputs` and `NearFieldOccupancyDataset.sample` are the numpy preprocessing that
the PyTorch path and the exported, torch-free runtime (omnifuse.deploy) share; only `__getitem__` (training)
turns a sample into tensors. The frame's typed sample is `OccupancySample` (omnifuse.structures.seg_sample).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict

import cv2
import numpy as np

from omnifuse.datasets.frame_dataset import FrameFolderDataset
from omnifuse.datasets.kitti import read_rgb_image, read_ultrasonic_file
from omnifuse.datasets.sim import classes as sim_classes
from omnifuse.datasets.ultrasonic_raster import rasterize_ultrasonic, unused_ultrasonic
from omnifuse.errors import FormatError
from omnifuse.registry import DATASETS
from omnifuse.structures.bev_grid import BEVGrid
from omnifuse.structures.calibration import CameraModel, UltrasonicSensor
from omnifuse.structures.seg_sample import OccupancySample

__all__ = ['OCCUPANCY_GROUPS', 'GROUP_OF_SIM_ID', 'GROUP_TO_SIM_ID', 'NearFieldOccupancyDataset',
           'OccupancyItem', 'read_occupancy_png', 'write_occupancy_png',
           'groups_to_sim_ids', 'occupancy_inputs']

# Group 0 is free space; the rest are occupied. Sky and unknown cells are ignored.
OCCUPANCY_GROUPS: tuple[str, ...] = ('free', 'vehicle', 'pedestrian', 'cyclist', 'static')
_MEMBERS = {
    'free': ('unlabeled', 'road', 'sidewalk', 'terrain'),
    'vehicle': ('car', 'van', 'truck'),
    'pedestrian': ('pedestrian',),
    'cyclist': ('cyclist',),
    'static': ('building', 'pole', 'vegetation'),
}
GROUP_OF_SIM_ID = np.full(256, -1, dtype=np.int64)
for _g, _name in enumerate(OCCUPANCY_GROUPS):
    for _member in _MEMBERS[_name]:
        GROUP_OF_SIM_ID[sim_classes.CLASS_IDS[_member]] = _g
GROUP_TO_SIM_ID = np.array([sim_classes.UNLABELED, sim_classes.CAR, sim_classes.PEDESTRIAN,
                            sim_classes.CYCLIST, sim_classes.BUILDING], dtype=np.uint8)
IGNORE = 255


def read_occupancy_png(path: str | Path, grid: BEVGrid) -> np.ndarray:
    """(H, W) uint8 class ids of an occupancy PNG, checked against the grid size."""
    path = Path(path)
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FormatError(f'{path}: not a readable PNG image')
    if img.ndim != 2 or img.shape != grid.shape:
        raise FormatError(f'{path}: expected a {grid.shape[0]}x{grid.shape[1]} single-channel occupancy grid, '
                          f'got shape {img.shape}')
    if img.dtype != np.uint8:  # a 16-bit PNG: ids above 255 would wrap around in uint8
        if img.dtype.kind not in 'ui' or (img.size and int(img.max()) > 255):
            raise FormatError(f'{path}: occupancy ids must be 8-bit (0..255); this {img.dtype} PNG holds ids up to '
                              f'{int(img.max()) if img.size else 0}')
    return img.astype(np.uint8)


def write_occupancy_png(path: str | Path, grid_ids: np.ndarray) -> None:
    """Write (H, W) uint8 class ids as a PNG (the simulator's occupancy format)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(grid_ids, dtype=np.uint8)):
        raise FormatError(f'{path}: could not write the PNG')


def groups_to_sim_ids(groups: np.ndarray) -> np.ndarray:
    """Model labels (0 free, 1.. occupied groups) to simulator class ids, (H, W) uint8."""
    return GROUP_TO_SIM_ID[np.asarray(groups, dtype=np.int64)]


class OccupancyItem(TypedDict):
    """One frame of `NearFieldOccupancyDataset.sample`: the network inputs (`occupancy_inputs`, numpy, no batch
    dimension) and the frame's `OccupancySample` (gt_labels numpy, None when the frame has no truth grid)."""

    inputs: dict[str, np.ndarray]
    data_samples: OccupancySample


@DATASETS.register_module()
class NearFieldOccupancyDataset(FrameFolderDataset):
    """Camera image, ultrasonic raster and grouped occupancy labels of each frame.

    Args:
        data_root: simulator output (KITTI layout with occupancy/ and ultrasonic/).
        image_set: ImageSets name or file ('train', 'val'); None for every frame.
        image_scale: resize factor of the camera image fed to the network.
        resolution, extent: the BEV grid of the labels.
        drop_camera: feed no camera (robustness evaluation).

    Item: {'inputs': {'image' (3, h, w) float [0, 1], 'lidar2img' (4, 4), 'camera_valid' () bool,
    'ultrasonic' (3, G, G)} tensors, 'data_samples': OccupancySample (omnifuse.structures.seg_sample: frame_id,
    condition, ultrasonic_note, gt_labels (G, G) int64 tensor)}; the configs batch it with `pseudo_collate` and the
    model's `OccupancyDataPreprocessor` stacks the inputs. `sample(index)`: the same with numpy arrays, and
    gt_labels None when the frame has no occupancy/ file.
    """

    def __init__(self, data_root: str, *, image_set: str | None = None, image_scale: float = 0.5,
                 resolution: float = 0.1, extent: float = 10.0, drop_camera: bool = False) -> None:
        super().__init__(data_root, image_set=image_set, class_names=OCCUPANCY_GROUPS)
        self.grid = BEVGrid(resolution, extent)
        self.image_scale = image_scale
        self.drop_camera = drop_camera

    def sample(self, index: int) -> OccupancyItem:
        """The item of frame `index` with numpy arrays; gt_labels only when the frame has a truth grid."""
        frame_id = self.frame_id(index)
        calib = self.reader.read_calib(frame_id)
        meta = self.meta(frame_id)
        faults = meta.get('faults') or {}
        if not isinstance(faults, Mapping):
            raise FormatError(f"{self.reader.path('meta', frame_id, '.json')}: 'faults' is not a JSON object")
        image = read_rgb_image(self.reader.path('image_2', frame_id, '.png'))
        readings = read_ultrasonic_file(self.reader.path('ultrasonic', frame_id, '.txt'))
        camera_valid = not (self.drop_camera or bool(faults.get('camera_dead', False)))
        inputs = occupancy_inputs(image if camera_valid else None, calib.cameras['image_2'], readings,
                                  calib.ultrasonic, self.grid, image_scale=self.image_scale)
        gt_labels = None
        truth = self.reader.path('occupancy', frame_id, '.png')
        if truth.is_file():
            groups = GROUP_OF_SIM_ID[read_occupancy_png(truth, self.grid)]
            gt_labels = np.where(groups < 0, IGNORE, groups).astype(np.int64)
        sample = OccupancySample(frame_id=frame_id, condition=self.condition(frame_id, meta),
                                 ultrasonic_note=unused_ultrasonic(readings, calib.ultrasonic) or '',
                                 gt_labels=gt_labels)
        return {'inputs': inputs, 'data_samples': sample}

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        item = self.sample(index)
        sample = item['data_samples']
        if sample.gt_labels is None:
            raise FileNotFoundError(2, 'no occupancy truth for training',
                                    str(self.reader.path('occupancy', sample.frame_id, '.png')))
        inputs = {k: torch.from_numpy(np.asarray(v)) for k, v in item['inputs'].items()}
        return {'inputs': inputs, 'data_samples': sample.to('cpu')}


def occupancy_inputs(image: np.ndarray | None, camera: CameraModel, readings: Mapping[str, float],
                     sensors: Mapping[str, UltrasonicSensor], grid: BEVGrid, *, image_scale: float = 0.5,
                     image_size: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """Network inputs of one frame (no batch dimension), shared by the dataset and live inference.

    Args:
        image: (H, W, 3) uint8 RGB, or None when the camera is missing or dead (zeros are fed).
        camera: the camera's calibration (LiDAR frame -> pixels).
        readings: ultrasonic ranges [m] by sensor name (NaN = no echo).
        sensors: ultrasonic sensor poses by name.
        grid: the BEV grid.
        image_scale: resize factor of the image fed to the network.
        image_size: (H, W) of the full image when `image` is None (default: the camera's size).

    Returns:
        {'image' (3, h, w) float32 [0, 1], 'lidar2img' (4, 4) float32 for that size, 'camera_valid' () bool,
        'ultrasonic' (3, G, G) float32}: numpy arrays (the PyTorch path wraps them with torch.from_numpy).
    """
    if image is not None:
        full_h, full_w = image.shape[:2]
    else:
        full_h, full_w = image_size or (camera.height, camera.width)
        if not full_h or not full_w:
            full_h, full_w = 375, 1242
    h, w = int(round(full_h * image_scale)), int(round(full_w * image_scale))
    if image is not None:
        small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        image_t = np.ascontiguousarray(small.transpose(2, 0, 1), dtype=np.float32) / np.float32(255.0)
    else:
        image_t = np.zeros((3, h, w), np.float32)
    scale = np.diag([w / full_w, h / full_h, 1.0, 1.0])
    raster = rasterize_ultrasonic(readings, sensors, grid)
    return {'image': image_t, 'lidar2img': (scale @ camera.lidar2img).astype(np.float32),
            'camera_valid': np.array(image is not None), 'ultrasonic': np.asarray(raster, dtype=np.float32)}
