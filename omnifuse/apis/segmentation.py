"""RGB-X semantic segmentation of one SensorFrame with a trained CMX segmentor (shipped weights by default).

The frame's colour camera is segmented; for a thermal model the thermal image of its own camera is warped
into the colour camera with LiDAR depth (`omnifuse.datasets.rgbx_seg.rgbx_frame_inputs`, the same
preprocessing as training and `omnifuse segment --kitti-root`). Without a thermal image, or without the
calibration to warp it, the model runs with X missing (it was trained with X dropped now and then).

    segmenter = FrameSegmenter(camera='front', thermal='front')   # ROS contract names
    labels = segmenter(frame)   # (H, W) uint8 class ids in the 'front' image, or None without that image
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from omnifuse.checkpoint import CHECKPOINT_DIR, CONFIG_DIR
from omnifuse.structures import SensorFrame

__all__ = ['DEFAULT_CONFIG', 'SHIPPED', 'default_checkpoint', 'SegmentationInputs', 'FrameSegmenter',
           'resize_labels']

DEFAULT_CONFIG = CONFIG_DIR / 'cmx' / 'rgbt_cmx.py'
# The weights shipped for each config of configs/cmx (trained on the simulator, docs/results_cmx.md).
SHIPPED = {'rgbt_cmx': 'cmx_rgbt_sim.pth', 'rgb_only': 'cmx_rgb_sim.pth', 'rgbd_cmx': 'cmx_rgbd_sim.pth'}


def default_checkpoint(config: str | Path) -> Path | None:
    """The shipped weights of a configs/cmx config (None for other configs or when not shipped)."""
    config = Path(config).resolve()
    name = SHIPPED.get(config.stem)
    if name is None or config != (CONFIG_DIR / 'cmx' / f'{config.stem}.py').resolve():
        return None
    path = CHECKPOINT_DIR / name
    return path if path.is_file() else None


def resize_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(h, w) class ids -> (H, W) uint8 by nearest neighbour (unchanged when the size already fits)."""
    import cv2

    labels = np.asarray(labels).astype(np.uint8)
    if labels.shape == tuple(shape):
        return labels
    return cv2.resize(labels, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)


@dataclass
class SegmentationInputs:
    """What the model sees for one frame.

    Attributes:
        rgb: (h, w, 3) uint8 RGB at the config's image scale.
        x: (h, w) float32 X in [0, 1] registered to `rgb`, or None (X missing).
        orig_shape: (H, W) of the camera image: the size of the returned labels.
    """

    rgb: np.ndarray
    x: np.ndarray | None
    orig_shape: tuple[int, int]


class FrameSegmenter:
    """`frame -> (H, W) uint8 class ids` in the image of `camera`, or None when the frame lacks that image.

    Args:
        config: a CMX config (default: configs/cmx/rgbt_cmx.py, RGB + thermal).
        checkpoint: weights; None or '' = the shipped weights of a configs/cmx config, 'none' = random
            weights (testing only).
        device: torch device.
        camera: name of the colour camera to segment ('image_2' in KITTI / simulator folders, 'front' on
            the ROS contract).
        thermal: name of the thermal camera (thermal models).
        num_threads: torch intra-op CPU threads during a prediction (restored after); 1 by default, as in
            FrameDetector: the labels then do not depend on the machine's core count, and a busy CPU (other
            jobs on every core) does not slow the spinning worker threads down (measured here: 0.04 s with
            one thread, 3.8 s with two while two trainings ran). None = leave torch's setting.

    Raises:
        FileNotFoundError: config or checkpoint missing (or no shipped weights for this config).
        FormatError: the config or checkpoint is not a CMX segmentor.
    """

    def __init__(self, *, config: str | Path | None = None, checkpoint: str | Path | None = None,
                 device: str = 'cpu', camera: str = 'image_2', thermal: str = 'thermal',
                 num_threads: int | None = 1) -> None:
        from omnifuse.segmentation.inference import build_segmentor

        config = Path(config) if config else DEFAULT_CONFIG
        ckpt: str | Path | None
        if checkpoint is None or str(checkpoint) == '':
            ckpt = default_checkpoint(config)
            if ckpt is None:
                raise FileNotFoundError(2, 'no shipped weights for this config; pass a checkpoint '
                                        '(or "none" for random weights)', str(config))
        elif str(checkpoint).lower() == 'none':
            ckpt = None
        else:
            ckpt = checkpoint
        model, cfg = build_segmentor(config, checkpoint=ckpt, device=device)
        self._init(model, cfg, camera=camera, thermal=thermal, num_threads=num_threads)

    @classmethod
    def from_model(cls, model: Any, cfg: Any, *, camera: str = 'image_2', thermal: str = 'thermal',
                   num_threads: int | None = 1) -> FrameSegmenter:
        """Wrap an already built CMXSegmentor and its mmengine Config."""
        self = cls.__new__(cls)
        self._init(model, cfg, camera=camera, thermal=thermal, num_threads=num_threads)
        return self

    def _init(self, model: Any, cfg: Any, *, camera: str, thermal: str, num_threads: int | None) -> None:
        self.model = model.eval()
        self.num_threads = num_threads
        self.cfg = cfg
        self.camera = str(camera)
        self.thermal = str(thermal) if model.modality == 'thermal' else None
        self.class_names = tuple(model.class_names)
        data = cfg.get('test_dataloader', {}).get('dataset', {}) or {}
        self.scale = float(cfg.get('img_scale', data.get('scale', 1.0)))
        self.max_depth = float(cfg.get('max_depth', data.get('max_depth', 80.0)))
        self.plane_depth = float(cfg.get('plane_depth', data.get('plane_depth', 15.0)))
        self.thermal_registration = str(data.get('thermal_registration', 'lidar'))

    def x_usable(self, frame: SensorFrame) -> bool:
        """Whether the frame has the X stream of the model with the calibration to register it."""
        calib = frame.calib
        if self.model.modality == 'rgb' or calib is None or self.camera not in calib.cameras:
            return False
        if self.model.modality == 'depth':
            return frame.points is not None and len(frame.points) > 0
        return self.thermal in frame.thermal and self.thermal in calib.thermal

    def inputs(self, frame: SensorFrame) -> SegmentationInputs:
        """The model inputs of `frame` (FormatError when it has no image `camera`)."""
        from omnifuse.datasets.rgbx_seg import rgbx_frame_inputs

        modality = self.model.modality if self.x_usable(frame) else 'rgb'
        rgb, x, valid, orig = rgbx_frame_inputs(
            frame, modality, camera_name=self.camera, thermal_name=self.thermal or 'thermal', scale=self.scale,
            max_depth=self.max_depth, plane_depth=self.plane_depth, thermal_registration=self.thermal_registration)
        return SegmentationInputs(rgb, x[0] if valid else None, orig)

    def predict(self, inputs: SegmentationInputs) -> np.ndarray:
        """(H, W) uint8 class ids at the camera's full size."""
        import torch

        from omnifuse.segmentation.rgbx import predict_labels

        threads = torch.get_num_threads()
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        try:
            labels = predict_labels(self.model, inputs.rgb, inputs.x)
        finally:
            torch.set_num_threads(threads)
        return resize_labels(labels, inputs.orig_shape)

    def __call__(self, frame: SensorFrame) -> np.ndarray | None:
        """(H, W) uint8 class ids in the image of `camera`; None when the frame has no such image."""
        if self.camera not in frame.images:
            return None
        return self.predict(self.inputs(frame))
