"""3D detection of one SensorFrame with a trained detector and its test pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from omnifuse.datasets.box_fit import BoxFit
from omnifuse.datasets.input_adapt import InputAdapter
from omnifuse.defaults import DETECTION, SCORE_THRESHOLD
from omnifuse.errors import FormatError
from omnifuse.install_paths import CONFIG_DIR
from omnifuse.structures import Boxes3D, DetPredictions, ObjectLabels, SensorFrame

if TYPE_CHECKING:
    import torch

__all__ = ['DEFAULT_CONFIG', 'DEFAULT_CHECKPOINT', 'load_detector', 'open_detector', 'Detector', 'FrameDetector']

DEFAULT_CONFIG = DETECTION.config  # the shipped detector (omnifuse.defaults)
DEFAULT_CHECKPOINT = DETECTION.checkpoint


def _embedded_config(text: str, ckpt: Path) -> Any:
    """The config a checkpoint embeds: its whole text, or (older checkpoints) a path below the configs."""
    from mmengine.config import Config

    from omnifuse.checkpoint import load_config

    if '\n' not in text.strip() and text.strip().endswith('.py'):
        return load_config(CONFIG_DIR.parent / text.strip())
    try:
        return Config.fromstring(text, '.py')
    except Exception as exc:  # mmengine raises many kinds on a bad config text
        raise FormatError(f'checkpoint {ckpt}: its embedded config cannot be read ({type(exc).__name__}: {exc})') \
            from None


def load_detector(config: str | None, checkpoint: str | None, *, device: str | torch.device = 'cpu'
                  ) -> tuple[Any, Any, dict]:
    """Build the detector and load its weights -> (model in eval mode, config, checkpoint meta).

    `checkpoint` None or '' is the shipped one, 'none' the initial weights; without `config` the checkpoint's
    embedded config, else the shipped one. The model is built and loaded by `omnifuse.checkpoint.build_with_weights`
    (as every model with weights).

    Raises:
        FileNotFoundError: config or checkpoint missing (the message says how to pass one).
        FormatError: the checkpoint does not match the model (names the keys).
    """
    import torch
    from mmengine.registry import init_default_scope

    import omnifuse.detectors  # noqa: F401
    from omnifuse.checkpoint import build_with_weights, load_config, read_state_dict

    ckpt: Path | None
    if checkpoint is None or checkpoint == '':
        ckpt = DEFAULT_CHECKPOINT
        if not ckpt.is_file():
            raise FileNotFoundError(2, 'No shipped checkpoint yet (train one with `omnifuse train`, then pass '
                                    '--checkpoint work_dirs/<config>/weights.pth, or --checkpoint none for '
                                    'untrained weights)', str(ckpt))
    elif checkpoint.lower() == 'none':
        ckpt = None
    else:
        ckpt = Path(checkpoint)
    meta: dict = {}
    if config is not None:
        cfg = load_config(config)
    elif ckpt is not None and 'config' in (meta := read_state_dict(ckpt)[1]):
        cfg = _embedded_config(str(meta['config']), ckpt)
    else:
        cfg = load_config(str(DEFAULT_CONFIG))
    init_default_scope('omnifuse')
    model_type = cfg.model.get('type', '?') if 'model' in cfg else '?'
    if 'model' not in cfg or not str(model_type).endswith('Detector'):
        source = f'checkpoint {ckpt}' if config is None and ckpt is not None else f'config {config or DEFAULT_CONFIG}'
        raise FormatError(f'{source}: holds a {model_type} model, not a 3D detector; pass a detector checkpoint '
                          f'(omnifuse/checkpoints/fast_*.pth) or --config')
    model, meta = build_with_weights(cfg.model, checkpoint=ckpt, device=torch.device(device),
                                     source=config or (f'checkpoint {ckpt}' if ckpt is not None else DEFAULT_CONFIG))
    return model, cfg, meta


def inference_pipeline(cfg: Any) -> list[dict]:
    """The config's inference steps: the test dataloader's pipeline, else `test_pipeline`, else packing only."""
    loader = cfg.get('test_dataloader')
    if loader and loader.get('dataset') and loader['dataset'].get('pipeline'):
        return list(loader['dataset']['pipeline'])
    return list(cfg.get('test_pipeline') or [dict(type='PackDetInputs')])


class Detector:
    """A loaded model with its test pipeline: `detector(frame) -> DetPredictions` (numpy: boxes (K, 7) float64 in
    the frame's LiDAR frame, scores (K,) float32, labels (K,) int64).

    `adapter` normalises each scan before the model (levelling on the ground for a sim-trained model;
    omnifuse.datasets.input_adapt) and maps the boxes back to the sensor frame; None takes the config's
    `input_adapter` (absent: none). `box_fit` then fits the boxes of its classes to the scan's points
    (omnifuse.datasets.box_fit); None takes the config's `box_fit` (absent: none)."""

    def __init__(self, model: Any, cfg: Any, *, main_camera: str = 'image_2',
                 adapter: InputAdapter | None = None, box_fit: BoxFit | None = None) -> None:
        from mmengine.dataset import Compose

        from omnifuse.datasets.transforms import BeamSubsample
        from omnifuse.registry import TRANSFORMS

        self.adapter = adapter if adapter is not None else InputAdapter.from_config(cfg.get('input_adapter'))
        self.box_fit = box_fit if box_fit is not None else BoxFit.from_config(cfg.get('box_fit'))
        self.model = model
        self.cfg = cfg
        self.class_names = list(model.class_names)
        steps = []
        for step in inference_pipeline(cfg):
            step = dict(step)
            if step['type'] in ('ObjectNameFilter',):
                step['classes'] = self.class_names
            if step['type'] == 'PackDetInputs':
                step['main_camera'] = main_camera
            steps.append(TRANSFORMS.build(step))
        self.pipeline = Compose(steps)
        self.main_camera = main_camera
        # steps that change which points the sensor delivers (a thinner LiDAR), for pictures of what the model saw
        self._sensor_steps = [s for s in steps if isinstance(s, BeamSubsample)]

    def for_camera(self, camera: str) -> Detector:
        """The same loaded model fusing colour camera `camera` (its own test pipeline; the same input adapter)."""
        return Detector(self.model, self.cfg, main_camera=camera, adapter=self.adapter, box_fit=self.box_fit)

    def sensed_points(self, points: np.ndarray) -> np.ndarray:
        """(N, C) points, LiDAR frame -> the (M <= N, C) points this model's pipeline keeps as its LiDAR
        (e.g. the 16 beams a `BeamSubsample` step leaves); unchanged when the pipeline has no such step."""
        res = {'points': points}
        for step in self._sensor_steps:
            res = step(res)
        return res['points']

    def __call__(self, frame: Any, *, use_camera: bool = True, use_thermal: bool | None = None,
                 score_threshold: float = 0.0) -> DetPredictions:
        """One frame's detections with score >= `score_threshold` (the one place a detector's threshold is applied;
        0 keeps every box), as numpy `DetPredictions`: boxes (K, 7) float64 in the frame's LiDAR frame (mapped back
        from the levelled frame when the adapter levels, then fitted to the points when `box_fit` is active),
        scores (K,) float32, labels (K,) int64 class indices.
        `use_camera` / `use_thermal` (default: as `use_camera`) say whether the colour / thermal images are fused."""
        import torch
        from mmengine.dataset import pseudo_collate

        from omnifuse.datasets.det_dataset import frame_to_results

        use_thermal = use_camera if use_thermal is None else use_thermal
        T = None
        sensor_points = frame.points
        if self.adapter.active:
            frame, T = self.adapter.adapt_frame(frame)
        res = frame_to_results(frame, use_camera=use_camera and self.model.image_encoder is not None,
                               use_thermal=use_thermal and self.model.thermal_encoder is not None,
                               main_camera=self.main_camera)
        batch = pseudo_collate([self.pipeline(res)])
        with torch.no_grad():
            pred = self.model.test_step(batch)[0].pred  # DetPredictions (omnifuse.structures.det_sample)
        boxes, scores, labels = pred.numpy()  # leaves torch: float64 boxes for the numpy geometry
        keep = scores >= score_threshold
        boxes = boxes[keep] if T is None else self.adapter.boxes_to_sensor(boxes[keep], T)
        if self.box_fit.active and sensor_points is not None:
            boxes = self.box_fit(boxes, labels[keep], self.class_names, sensor_points)
        return DetPredictions(boxes, scores[keep], labels[keep])


def open_detector(config: str | None = None, checkpoint: str | None = None, *, device: str | torch.device = 'cpu',
                  backend: str | None = None, main_camera: str = 'image_2', precision: str = 'f32',
                  num_threads: int | None = None) -> Any:
    """The detector of `config` / `checkpoint` behind one interface, `detector(frame, ...) -> DetPredictions`: an
    exported model (.onnx / .xml made by `omnifuse export`, or `backend` onnxruntime / openvino) on its runtime
    without torch (`omnifuse.deploy.detector_runtime.ExportedFrameDetector`), else the PyTorch model
    (`load_detector`) with its test pipeline (`Detector`). `omnifuse detect` and `FrameDetector` open theirs here.

    Args:
        config: the model config, as `load_detector` (none with an exported checkpoint: it carries its model).
        checkpoint: the weights, as `load_detector`, or an exported model.
        device: torch device (PyTorch only).
        backend: 'torch', 'onnxruntime' or 'openvino'; None: the checkpoint's suffix decides.
        main_camera: the colour camera fused.
        precision: 'f32' or 'bf16' (exported, OpenVINO only).
        num_threads: intra-op threads of an exported model (None: the backend's default).

    Raises:
        FormatError: a config given with an exported checkpoint; see `load_detector`.
    """
    from omnifuse.deploy.runtime import choose_backend

    backend = choose_backend(checkpoint, backend)
    if backend == 'torch' and precision != 'f32':
        raise FormatError(f'precision {precision!r}: reduced precision runs on an exported model on the openvino '
                          f'backend only (`omnifuse export --format openvino`); {checkpoint} runs on torch in f32')
    if backend != 'torch':  # no torch on this path
        from omnifuse.deploy.detector_runtime import ExportedFrameDetector

        if config:
            raise FormatError(f'config {config}: an exported detector ({checkpoint}) carries its model')
        return ExportedFrameDetector(str(checkpoint), backend=backend, num_threads=num_threads, main_camera=main_camera,
                                     precision=precision)
    model, cfg, _ = load_detector(config, checkpoint, device=device)
    return Detector(model, cfg, main_camera=main_camera)


class FrameDetector:
    """`frame -> ObjectLabels` (boxes in the LiDAR frame with scores) for the ROS core and other callers.

    Args:
        config, checkpoint: the model (default: the shipped fast LiDAR + camera model).
        device: torch device.
        score_threshold: detections below it are dropped (default: omnifuse.defaults.SCORE_THRESHOLD).
        camera: camera to fuse; None takes 'image_2' when the frame has it, else its first camera.
        backend: 'torch', 'onnxruntime' or 'openvino' (None: the checkpoint decides: .onnx / .xml files made by
            `omnifuse export` run without torch, anything else with torch).
        num_threads: intra-op threads of an exported model (None: the backend's default).
        precision: 'f32' or 'bf16' (an exported model on OpenVINO only; docs/deploy.md has what bf16 costs).

    The same frame gives the same detections every time (spconv runs single-threaded on the CPU:
    omnifuse.ops.spconv_compat), so a replayed bag equals a direct run.
    """

    def __init__(self, *, config: str | None = None, checkpoint: str | None = None, device: str = 'cpu',
                 score_threshold: float = SCORE_THRESHOLD, camera: str | None = None, backend: str | None = None,
                 num_threads: int | None = None, precision: str = 'f32') -> None:
        from omnifuse.deploy.runtime import choose_backend

        self.backend = choose_backend(checkpoint, backend)
        self.score_threshold = float(score_threshold)
        self.camera = camera
        self._opened = open_detector(config, checkpoint, device=device, backend=self.backend, num_threads=num_threads,
                                     precision=precision)
        self._by_camera: dict[str, Any] = {}
        if self.backend == 'torch':  # the PyTorch model and its config, for tools
            self.model, self.cfg = self._opened.model, self._opened.cfg

    def _detector(self, camera: str) -> Any:
        if camera not in self._by_camera:
            self._by_camera[camera] = self._opened.for_camera(camera)
        return self._by_camera[camera]

    def __call__(self, frame: SensorFrame) -> ObjectLabels:
        """The detections of one frame with score >= `score_threshold`, fusing the chosen camera."""
        names = [self.camera] if self.camera else ['image_2', *frame.images]
        camera = next((n for n in names if n in frame.images), None)
        pred = self._detector(camera or 'image_2')(frame, use_camera=camera is not None,
                                                    score_threshold=self.score_threshold)
        boxes, scores, labels = pred.numpy()
        n = len(boxes)
        class_names = self._detector(camera or 'image_2').class_names
        return ObjectLabels(Boxes3D(boxes), [class_names[int(i)] for i in labels], np.zeros(n),
                            np.zeros(n, dtype=np.int64), np.zeros(n), np.zeros((n, 4)), scores.astype(np.float64))
