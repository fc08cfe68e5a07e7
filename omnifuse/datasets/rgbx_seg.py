"""RGB-X segmentation dataset over a KITTI-layout folder (the simulator's, or KITTI's own).

    <root>/[training/]image_2/<id>.png      colour image (the camera segmented)
    <root>/[training/]semantic_2/<id>.png   uint8 class ids per image_2 pixel (255 = ignore)
    <root>/[training/]thermal/<id>.png      16-bit thermal of its own camera (calib thermal_thermal_*)
    <root>/[training/]velodyne/<id>.bin, calib/<id>.txt

Each item gives the RGB image, an X image registered to it (thermal warped into image_2, or LiDAR
depth rendered into image_2; see omnifuse/datasets/rgbt.py) and the label, in the form
`RGBXDataPreprocessor` batches. Frames are read lazily by `KittiReader`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from omnifuse.datasets.frame_dataset import FrameFolderDataset, frame_condition
from omnifuse.datasets.rgbt import normalize_thermal, render_depth_image, scaled_camera, warp_thermal_to_camera
from omnifuse.errors import FormatError
from omnifuse.registry import DATASETS
from omnifuse.structures import SensorFrame
from omnifuse.structures.label_image import read_label_png
from omnifuse.structures.seg_sample import SegSample

__all__ = ['RGBXSegDataset', 'frame_condition', 'build_x_image', 'rgbx_batch', 'rgbx_frame_inputs', 'scale_rgbx']

X_MODALITIES = ('thermal', 'depth', 'rgb')


def build_x_image(frame: SensorFrame, modality: str, size: tuple[int, int], *, camera_name: str = 'image_2',
                  thermal_name: str = 'thermal', scale: float = 1.0, max_depth: float = 80.0,
                  plane_depth: float = 15.0, thermal_registration: str = 'lidar') -> tuple[np.ndarray, bool]:
    """The X image of one frame in the (scaled) RGB camera.

    Args:
        frame: a SensorFrame with calib, and points / thermal as available.
        modality: 'thermal', 'depth' or 'rgb' (no X: zeros).
        size: (H, W) of the (scaled) RGB image.
        camera_name: the colour camera.
        thermal_name: the thermal camera (thermal modality).
        scale: the RGB image's resize factor relative to the calibrated camera.
        max_depth: depth [m] mapped to 1 (depth modality).
        plane_depth: depth of the registration plane where LiDAR depth is unknown [m].
        thermal_registration: 'lidar' (per-pixel with LiDAR depth, plane elsewhere) or 'plane'.

    Returns:
        ((1, H, W) float32 in [0, 1], valid): valid is False when the stream is missing (X zeros).
    """
    h, w = size
    zeros = np.zeros((1, h, w), np.float32)
    if modality == 'rgb' or frame.calib is None:
        return zeros, False
    camera = scaled_camera(frame.calib.camera(camera_name), scale)
    points = frame.points if frame.points is not None and len(frame.points) > 0 else None
    if modality == 'depth':
        if points is None:
            return zeros, False
        dense = render_depth_image(points, camera, (h, w))
        return (np.clip(dense / max_depth, 0.0, 1.0)[None]).astype(np.float32), True
    if modality != 'thermal':
        raise FormatError(f'unknown X modality {modality!r}; expected one of {X_MODALITIES}')
    if thermal_name not in frame.thermal:
        return zeros, False
    if thermal_name not in frame.calib.thermal:
        raise FormatError(f'frame {frame.frame_id}: thermal image {thermal_name!r} but no '
                          f'thermal_{thermal_name}_P/_T lines in its calib')
    raw = frame.thermal[thermal_name]
    thermal = normalize_thermal(raw, valid=raw > 0)
    depth = None
    if thermal_registration == 'lidar' and points is not None:
        depth = render_depth_image(points, camera, (h, w))
    elif thermal_registration not in ('lidar', 'plane'):
        raise FormatError(f'thermal_registration must be "lidar" or "plane", got {thermal_registration!r}')
    warped = warp_thermal_to_camera(thermal, frame.calib.thermal[thermal_name], camera, (h, w),
                                    depth=depth, plane_depth=plane_depth)
    return warped[None].astype(np.float32), True


def scale_rgbx(rgb: np.ndarray, x: np.ndarray | None, scale: float, *, modality: str = 'thermal'
               ) -> tuple[np.ndarray, np.ndarray | None]:
    """Resize a registered (RGB, X) pair by the config's image scale, as the model was trained.

    RGB and dense X (thermal) by area averaging; sparse depth X by nearest neighbour (a LiDAR return is never
    blended with a hole). The size is (round(H * scale), round(W * scale)); scale 1 returns the inputs.

    Args:
        rgb: (H, W, 3) uint8.
        x: (H, W) float X registered to it, or None.
        scale: the resize factor.
        modality: the model's X modality ('depth' = sparse).
    """
    import cv2

    h0, w0 = rgb.shape[:2]
    h, w = int(round(h0 * scale)), int(round(w0 * scale))
    if (h, w) == (h0, w0):
        return rgb, x
    rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    if x is not None:
        x = cv2.resize(np.asarray(x, dtype=np.float32), (w, h),
                       interpolation=cv2.INTER_NEAREST if modality == 'depth' else cv2.INTER_AREA)
    return rgb, x


def rgbx_batch(rgb: np.ndarray, x: np.ndarray | None = None, *, x_channels: int = 1) -> dict[str, np.ndarray]:
    """A batch of one image in the layout the segmentor takes: the one input shape of the PyTorch path
    (omnifuse.segmentation.rgbx.predict_labels) and of the exported graph (omnifuse.deploy.runtime).

    Args:
        rgb: (H, W, 3) uint8 RGB.
        x: (H, W) or (H, W, C_x) float X normalised as in training, or None (missing: zeros, x_valid False).
        x_channels: C_x of the model.

    Returns:
        {'rgb': (1, 3, H, W) uint8, 'x': (1, C_x, H, W) float32, 'x_valid': (1,) bool}. RGB is not normalised:
        the model's data preprocessor (and the exported graph) subtract mean and divide by std.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise FormatError(f'expected an (H, W, 3) RGB image, got shape {rgb.shape}')
    h, w = rgb.shape[:2]
    if x is None:
        x_chw = np.zeros((x_channels, h, w), np.float32)
    else:
        x_arr = np.asarray(x, dtype=np.float32)
        x_chw = x_arr[None] if x_arr.ndim == 2 else x_arr.transpose(2, 0, 1)
        if x_chw.shape != (x_channels, h, w):
            raise FormatError(f'X of shape {x_arr.shape} does not fit the {h}x{w} RGB image with {x_channels} '
                              'X channel(s)')
    return {'rgb': np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.uint8),
            'x': np.ascontiguousarray(x_chw[None], dtype=np.float32),
            'x_valid': np.array([x is not None])}


def rgbx_frame_inputs(frame: SensorFrame, modality: str, *, camera_name: str = 'image_2',
                      thermal_name: str = 'thermal', scale: float = 1.0, max_depth: float = 80.0,
                      plane_depth: float = 15.0, thermal_registration: str = 'lidar'
                      ) -> tuple[np.ndarray, np.ndarray, bool, tuple[int, int]]:
    """The model inputs of one frame: its colour image resized by `scale` and the X image registered to it.

    The one preprocessing of RGB-X segmentation, shared by training (`RGBXSegDataset`), `omnifuse segment`
    and the frame-level API (omnifuse.apis.segmentation): resize (INTER_AREA), thermal normalisation and
    warp with LiDAR depth, or depth rendering (`build_x_image`).

    Args:
        frame: a SensorFrame with `images[camera_name]` and calib (points / thermal as available).
        modality: 'thermal', 'depth' or 'rgb'.
        camera_name: the colour camera segmented.
        thermal_name: the thermal camera (thermal modality).
        scale: the resize factor of the colour image (the config's image scale).
        max_depth: see `build_x_image`.
        plane_depth: see `build_x_image`.
        thermal_registration: see `build_x_image`.

    Returns:
        (rgb, x, valid, (H0, W0)): rgb (H, W, 3) uint8 after scaling, x (1, H, W) float32 in [0, 1]
        (zeros when not valid), valid False when the X stream is missing, (H0, W0) the size before scaling.

    Raises:
        FormatError: the frame has no image `camera_name`.
    """
    if camera_name not in frame.images:
        raise FormatError(f'frame {frame.frame_id}: no {camera_name!r} image (has: {sorted(frame.images)})')
    h0, w0 = frame.images[camera_name].shape[:2]
    rgb, _ = scale_rgbx(frame.images[camera_name], None, scale)
    h, w = rgb.shape[:2]
    x, valid = build_x_image(frame, modality, (h, w), camera_name=camera_name, thermal_name=thermal_name,
                             scale=scale, max_depth=max_depth, plane_depth=plane_depth,
                             thermal_registration=thermal_registration)
    return rgb, x, valid, (h0, w0)


@DATASETS.register_module()
class RGBXSegDataset(FrameFolderDataset):
    """RGB + X (+ label) items of a KITTI-layout folder, for CMXSegmentor.

    Args:
        data_root: dataset root (with training/) or the split folder itself.
        modality: 'thermal', 'depth' or 'rgb'.
        class_names: the K class names (metainfo for metrics and tools).
        image_set: ImageSets name or file selecting frames (None: all frames).
        split: 'training' or 'testing'.
        label_dir: folder of label PNGs (None: no labels, e.g. for inference).
        scale: resize factor of images and labels (e.g. 0.5 to train faster).
        flip_prob: probability of a horizontal flip (training augmentation).
        crop_size: optional (h, w): a random crop of at most this size (after scaling) per item
            (training augmentation: fewer pixels per step on a CPU budget). None keeps the whole image.
        max_depth, plane_depth, thermal_registration: see `build_x_image`.
        seed: seed of the augmentation's random generator.

    Item: {'inputs': {'rgb': (3, H, W) uint8 tensor, 'x': (1, H, W) float32 tensor},
           'data_samples': SegSample (omnifuse.structures.seg_sample: frame_id, condition, x_valid and
           gt_sem_seg (H, W) int64 when the dataset has labels)}.
    """

    def __init__(self, data_root: str, *, modality: str = 'thermal', class_names: Sequence[str] = (),
                 image_set: str | None = None, split: str = 'training', label_dir: str | None = 'semantic_2',
                 scale: float = 1.0, flip_prob: float = 0.0, max_depth: float = 80.0, plane_depth: float = 15.0,
                 thermal_registration: str = 'lidar', crop_size: Sequence[int] | None = None,
                 seed: int = 0) -> None:
        if modality not in X_MODALITIES:
            raise FormatError(f'RGBXSegDataset: modality must be one of {X_MODALITIES}, got {modality!r}')
        super().__init__(data_root, split=split, image_set=image_set, class_names=class_names, load_images=True)
        self.modality = modality
        self.label_dir = label_dir
        self.scale = scale
        self.flip_prob = flip_prob
        if crop_size is not None and (len(crop_size) != 2 or min(int(v) for v in crop_size) < 1):
            raise FormatError(f'RGBXSegDataset: crop_size must be (h, w) of positive ints, got {crop_size!r}')
        self.crop_size = None if crop_size is None else (int(crop_size[0]), int(crop_size[1]))
        self.max_depth = max_depth
        self.plane_depth = plane_depth
        self.thermal_registration = thermal_registration
        self.rng = np.random.default_rng(seed)
        if label_dir is not None and not (self.reader.data_dir / label_dir).is_dir():
            raise FileNotFoundError(2, 'No such label directory', str(self.reader.data_dir / label_dir))

    def load(self, index: int) -> dict[str, Any]:
        """Numpy item: rgb (H, W, 3) uint8, x (1, H, W) float32, label (H, W) uint8 or None, meta
        ('x_valid', 'frame_id', 'condition', 'orig_shape' (H0, W0) before scaling)."""
        import cv2

        frame_id = self.frame_id(index)
        frame = self.reader.read(frame_id)
        if 'image_2' not in frame.images:
            raise FormatError(f'frame {frame_id}: no image_2 image in {self.reader.data_dir}')
        rgb, x, valid, (h0, w0) = rgbx_frame_inputs(
            frame, self.modality, scale=self.scale, max_depth=self.max_depth, plane_depth=self.plane_depth,
            thermal_registration=self.thermal_registration)
        h, w = rgb.shape[:2]
        label: np.ndarray | None = None
        if self.label_dir is not None:
            path = self.reader.data_dir / self.label_dir / f'{frame_id}.png'
            label = read_label_png(path).astype(np.uint8)
            if label.shape != (h0, w0):
                raise FormatError(f'{path}: label size {label.shape[::-1]} differs from image_2 {(w0, h0)}')
            if (h, w) != (h0, w0):
                label = cv2.resize(label, (w, h), interpolation=cv2.INTER_NEAREST)
        return {'rgb': rgb, 'x': x, 'x_valid': valid, 'label': label, 'frame_id': frame_id, 'orig_shape': (h0, w0),
                'condition': self.condition(frame_id, frame.meta)}

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        item = self.load(index)
        rgb, x, label = item['rgb'], item['x'], item['label']
        if self.flip_prob > 0 and self.rng.random() < self.flip_prob:
            rgb, x = rgb[:, ::-1], x[:, :, ::-1]
            label = None if label is None else label[:, ::-1]
        if self.crop_size is not None:
            h, w = rgb.shape[:2]
            ch, cw = min(self.crop_size[0], h), min(self.crop_size[1], w)
            y0, x0 = int(self.rng.integers(0, h - ch + 1)), int(self.rng.integers(0, w - cw + 1))
            rgb, x = rgb[y0:y0 + ch, x0:x0 + cw], x[:, y0:y0 + ch, x0:x0 + cw]
            label = None if label is None else label[y0:y0 + ch, x0:x0 + cw]
        sample = SegSample(frame_id=item['frame_id'], condition=item['condition'], x_valid=item['x_valid'],
                           gt_sem_seg=None if label is None else torch.from_numpy(label.astype(np.int64)))
        return {'inputs': {'rgb': torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))),
                           'x': torch.from_numpy(np.ascontiguousarray(x))},
                'data_samples': sample}
