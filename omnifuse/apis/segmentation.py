"""RGB-X semantic segmentation of one SensorFrame with a trained CMX segmentor (shipped weights by default).

The frame's colour camera is segmented; for a thermal model the thermal image of its own camera is warped
into the colour camera with LiDAR depth (`omnifuse.datasets.rgbx_seg.rgbx_frame_inputs`, the same
preprocessing as training and `omnifuse segment --kitti-root`). Without a thermal image, or without the
calibration to warp it, the model runs with X missing (it was trained with X dropped now and then).

    segmenter = FrameSegmenter(camera='front', thermal='front')   # ROS contract names
    labels = segmenter(frame)   # (H, W) uint8 class ids in the 'front' image, or None without that image

A checkpoint exported by `omnifuse export` (.onnx, or OpenVINO .xml) runs with ONNX Runtime / OpenVINO
through the same preprocessing, without importing torch (omnifuse.deploy.runtime).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from omnifuse.defaults import SEGMENTATION, SEGMENTATION_CHECKPOINTS
from omnifuse.install_paths import CONFIG_DIR
from omnifuse.structures import SensorFrame

__all__ = ['DEFAULT_CONFIG', 'SHIPPED', 'default_checkpoint', 'SegmentationInputs', 'FrameSegmenter',
           'resize_labels']

DEFAULT_CONFIG = SEGMENTATION.config  # the shipped model (omnifuse.defaults)
# The weights shipped for each config of configs/cmx, by config name -> file name (omnifuse.defaults).
SHIPPED = {stem: path.name for stem, path in SEGMENTATION_CHECKPOINTS.items()}


def default_checkpoint(config: str | Path) -> Path | None:
    """The shipped weights of a configs/cmx config (None for other configs or when not shipped)."""
    config = Path(config).resolve()
    path = SEGMENTATION_CHECKPOINTS.get(config.stem)
    if path is None or config != (CONFIG_DIR / 'cmx' / f'{config.stem}.py').resolve():
        return None
    return path if path.is_file() else None


def resize_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(h, w) class ids -> (H, W) uint8 by nearest neighbour (unchanged when the size already fits)."""
    import cv2

    labels = np.asarray(labels).astype(np.uint8)
    if labels.shape == tuple(shape):
        return labels
    return cv2.resize(labels, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)


@dataclass(frozen=True)
class _Settings:
    class_names: tuple[str, ...]
    modality: str
    scale: float
    max_depth: float
    plane_depth: float
    thermal_registration: str


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
            one thread, 3.8 s with two while two trainings ran). None = leave torch's setting. An exported
            model gets the same number of backend threads.
        backend: 'torch', 'onnxruntime' or 'openvino'; None = the checkpoint decides (.onnx: onnxruntime,
            .xml: openvino, else torch). An exported model carries its class names, modality and scale; the
            config is not read.

    Raises:
        FileNotFoundError: config or checkpoint missing (or no shipped weights for this config).
        FormatError: the config or checkpoint is not a CMX segmentor, or the backend cannot run it.
    """

    def __init__(self, *, config: str | Path | None = None, checkpoint: str | Path | None = None,
                 device: str = 'cpu', camera: str = 'image_2', thermal: str = 'thermal',
                 num_threads: int | None = 1, backend: str | None = None) -> None:
        from omnifuse.deploy.runtime import ExportedSegmentor, choose_backend

        named = checkpoint if checkpoint is not None and str(checkpoint).lower() not in ('', 'none') else None
        if choose_backend(named, backend) != 'torch':
            seg = ExportedSegmentor(named, backend=backend, num_threads=num_threads)  # type: ignore[arg-type]
            self._setup(seg, seg, camera=camera, thermal=thermal, num_threads=num_threads)
            return
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
        data = cfg.get('test_dataloader', {}).get('dataset', {}) or {}
        settings = _Settings(
            class_names=tuple(model.class_names), modality=model.modality,
            scale=float(cfg.get('img_scale', data.get('scale', 1.0))),
            max_depth=float(cfg.get('max_depth', data.get('max_depth', 80.0))),
            plane_depth=float(cfg.get('plane_depth', data.get('plane_depth', 15.0))),
            thermal_registration=str(data.get('thermal_registration', 'lidar')))
        self._setup(model.eval(), settings, camera=camera, thermal=thermal, num_threads=num_threads)
        self.cfg = cfg

    def _setup(self, model: Any, settings: Any, *, camera: str, thermal: str, num_threads: int | None) -> None:
        """`model`: a CMXSegmentor or an ExportedSegmentor; `settings`: where class names, modality, scale and
        the X registration come from (the config for torch, the file's metadata for an exported model)."""
        self.model = model
        self.cfg = None
        self.backend = getattr(getattr(model, 'model', None), 'backend', 'torch')
        self.num_threads = num_threads
        self.camera = str(camera)
        self.modality = str(settings.modality)
        self.thermal = str(thermal) if self.modality == 'thermal' else None
        self.class_names = tuple(settings.class_names)
        self.scale = float(settings.scale)
        self.max_depth = float(settings.max_depth)
        self.plane_depth = float(settings.plane_depth)
        self.thermal_registration = str(settings.thermal_registration)

    def x_usable(self, frame: SensorFrame) -> bool:
        """Whether the frame has the X stream of the model with the calibration to register it."""
        calib = frame.calib
        if self.modality == 'rgb' or calib is None or self.camera not in calib.cameras:
            return False
        if self.modality == 'depth':
            return frame.points is not None and len(frame.points) > 0
        return self.thermal in frame.thermal and self.thermal in calib.thermal

    def inputs(self, frame: SensorFrame) -> SegmentationInputs:
        """The model inputs of `frame` (FormatError when it has no image `camera`)."""
        from omnifuse.datasets.rgbx_seg import rgbx_frame_inputs

        modality = self.modality if self.x_usable(frame) else 'rgb'
        rgb, x, valid, orig = rgbx_frame_inputs(
            frame, modality, camera_name=self.camera, thermal_name=self.thermal or 'thermal', scale=self.scale,
            max_depth=self.max_depth, plane_depth=self.plane_depth, thermal_registration=self.thermal_registration)
        return SegmentationInputs(rgb, x[0] if valid else None, orig)

    def predict(self, inputs: SegmentationInputs) -> np.ndarray:
        """(H, W) uint8 class ids at the camera's full size."""
        return resize_labels(self.predict_labels(inputs.rgb, inputs.x), inputs.orig_shape)

    def predict_labels(self, rgb: np.ndarray, x: np.ndarray | None) -> np.ndarray:
        """(h, w) int64 class ids of an (h, w, 3) uint8 image at the model's scale and its X (None = missing)."""
        if self.backend != 'torch':
            return self.model.predict_labels(rgb, x)
        import torch

        from omnifuse.segmentation.rgbx import predict_labels

        threads = torch.get_num_threads()
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        try:
            return predict_labels(self.model, rgb, x)
        finally:
            torch.set_num_threads(threads)

    def predict_pair(self, rgb: np.ndarray, x: np.ndarray | None) -> np.ndarray:
        """(H, W) uint8 class ids of a registered full-size pair: scaled to the model's image scale
        (`scale_rgbx`), predicted, labels back at the input size."""
        from omnifuse.datasets.rgbx_seg import scale_rgbx

        small, small_x = scale_rgbx(rgb, x, self.scale, modality=self.modality)
        return resize_labels(self.predict_labels(small, small_x), rgb.shape[:2])

    def __call__(self, frame: SensorFrame) -> np.ndarray | None:
        """(H, W) uint8 class ids in the image of `camera`; None when the frame has no such image."""
        if self.camera not in frame.images:
            return None
        return self.predict(self.inputs(frame))
