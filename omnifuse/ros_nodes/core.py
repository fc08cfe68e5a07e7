"""`PerceptionCore`: SensorFrame in, detections + segmentation + occupancy out (no ROS).

Each model is an injected component with a small protocol, and may be None (its output topic is
then not produced):

    detector(frame)  -> ObjectLabels                 boxes in the LiDAR frame
    segmenter(frame) -> (H, W) uint8 class ids | None  in the image plane of `segmentation_camera`
    occupancy(frame) -> (H, W) uint8 | None          BEV grid: 0..100 occupancy [%], 255 unknown;
                                                       geometry in `grid` (rows along +y)

Tracking (`tracker`, a `omnifuse.ros_nodes.tracking.TrackingStage`, or None) runs after the detector on every
frame, skipped frames included (`PerceptionCore.track`): tracks with stable ids and velocities from the
detections, coasting through frames without detections known (see that module). Built from the `tracking`
params section when a detector is configured and `tracking.enabled` is true.

`PerceptionCore.from_params(params)` builds them from the `models` section of the node params:
`kind: checkpoint` loads a learned model through `build_checkpoint_model` (the one place where the
real builders are plugged in; checkpoint "" = the shipped weights of the role), `kind: cluster` the
geometric `ClusterDetector`, `kind: none` nothing.

Cameras are named as on the ROS contract ('front'). A model that fuses a camera says which one in its
`camera` attribute (and `thermal` for a thermal camera); when the frame lacks it, or its calibration,
the core adds a note to `PerceptionOutputs.notes` (published in /diagnostics as a warning) and the
model runs without it (detector: LiDAR only; segmenter: no output without its colour camera, RGB only
without its thermal camera; occupancy: ultrasonic only). No model silently takes another camera.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from omnifuse.errors import OmnifuseError
from omnifuse.ros_nodes.cluster import ClusterDetector
from omnifuse.ros_nodes.codec import OccupancyGridSpec
from omnifuse.ros_nodes.params import default
from omnifuse.structures import ObjectLabels, SensorFrame
from omnifuse.structures.tracks import Tracks

__all__ = ['FrameDetectorFn', 'FrameSegmenterFn', 'FrameOccupancyFn', 'PerceptionOutputs', 'PerceptionCore',
           'build_checkpoint_model', 'input_notes']


class FrameDetectorFn(Protocol):
    """frame -> ObjectLabels (boxes (N, 7), LiDAR frame, with scores): what the core needs of a detector
    (`omnifuse.apis.detection.FrameDetector`, the learned models, and `ClusterDetector` provide it)."""

    def __call__(self, frame: SensorFrame) -> ObjectLabels:
        """The objects found in `frame`."""


class FrameSegmenterFn(Protocol):
    """frame -> (H, W) uint8 class ids in the segmentation camera's image, or None (no input)."""

    def __call__(self, frame: SensorFrame) -> np.ndarray | None:
        """The class ids of `frame`'s segmentation image, or None."""


class FrameOccupancyFn(Protocol):
    """frame -> (H, W) uint8 BEV occupancy (0..100 %, 255 unknown), or None (no input)."""

    def __call__(self, frame: SensorFrame) -> np.ndarray | None:
        """The occupancy grid around `frame`'s ego vehicle, or None."""


@dataclass
class PerceptionOutputs:
    """What one LiDAR frame produced; None where the model is absent or had no input.

    Attributes:
        stamp_ns: the LiDAR stamp of the frame.
        objects: detections (LiDAR frame).
        tracks: tracked objects (LiDAR frame), when tracking is on.
        segmentation: (H, W) uint8 class ids.
        occupancy: (H, W) uint8 grid.
        timings_ms: wall time of each model that ran ('detector', 'segmenter', 'occupancy', 'tracker').
        notes: inputs a model wanted but the frame lacked ("segmenter: thermal camera 'front' missing, ...").
        errors: per model that raised on this frame, the exception (its output is then None).
    """

    stamp_ns: int
    objects: ObjectLabels | None = None
    tracks: Tracks | None = None
    segmentation: np.ndarray | None = None
    occupancy: np.ndarray | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def model_ms(self) -> float:
        """Total model time [ms]."""
        return float(sum(self.timings_ms.values()))


def _detection_model(*, checkpoint: str, config: str = '', device: str = 'cpu', camera: str = 'front',
                     score_threshold: float = 0.0, backend: str = '', num_threads: int = 0, precision: str = '',
                     **_: Any) -> Callable:
    from omnifuse.apis.detection import FrameDetector

    return FrameDetector(config=config or None, checkpoint=checkpoint, device=device,
                         score_threshold=score_threshold, camera=camera or None, backend=backend or None,
                         num_threads=num_threads or None, precision=precision or 'f32')


def _segmentation_model(*, checkpoint: str, config: str = '', device: str = 'cpu', camera: str = 'front',
                        thermal: str = 'front', backend: str = '', **_: Any) -> Callable:
    from omnifuse.apis.segmentation import FrameSegmenter

    return FrameSegmenter(config=config or None, checkpoint=checkpoint, device=device, camera=camera or 'front',
                          thermal=thermal or 'front', backend=backend or None)


def _occupancy_model(*, checkpoint: str, config: str = '', device: str = 'cpu', camera: str = 'front',
                     backend: str = '', **_: Any) -> Callable:
    from omnifuse.apis.occupancy import NearFieldOccupancyPredictor

    return NearFieldOccupancyPredictor(config=config or None, checkpoint=checkpoint, device=device,
                                       camera=camera or None, backend=backend or None)


def build_checkpoint_model(role: str, *, checkpoint: str, config: str = '', device: str = 'cpu',
                           camera: str = 'front', thermal: str = 'front', score_threshold: float = 0.0,
                           backend: str = '', num_threads: int = 0, precision: str = '') -> Callable:
    """Build the learned model of `role` ('detector', 'segmenter', 'occupancy') from a checkpoint.

    Args:
        role: the model's role.
        checkpoint: weights file; '' = the role's shipped weights (omnifuse.defaults.SHIPPED).
        config: its config ('' = the config the shipped weights were trained with, or the one stored in
            the checkpoint).
        device: torch device.
        camera: the colour camera the model fuses (ROS contract name).
        thermal: the thermal camera (segmenter).
        score_threshold: the detector drops detections below it (detector).
        backend: 'torch', 'onnxruntime' or 'openvino' ('' = the checkpoint decides: a .onnx / .xml file made by
            `omnifuse export` runs without torch).
        num_threads: intra-op threads of an exported detector (0: the backend's default).
        precision: an exported detector's arithmetic, 'f32' or 'bf16' (OpenVINO only); '' = f32 (detector).

    Raises:
        FileNotFoundError: no such checkpoint.
        OmnifuseError: no builder for `role`, or the checkpoint does not fit the model.
    """
    builders: dict[str, Callable[..., Callable]] = {'occupancy': _occupancy_model, 'detector': _detection_model,
                                                    'segmenter': _segmentation_model}
    if not checkpoint:  # the shipped model of the role
        from omnifuse.defaults import SHIPPED
        from omnifuse.install_paths import CHECKPOINT_DIR

        checkpoint = str(SHIPPED[role].checkpoint if role in SHIPPED else CHECKPOINT_DIR / f'{role}.pth')
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(2, 'checkpoint not found', str(path))
    if role not in builders:
        raise OmnifuseError(f'models.{role}: no builder for {role} checkpoints (omnifuse/ros_nodes/core.py: '
                            f'build_checkpoint_model); expected one of {sorted(builders)}')
    return builders[role](checkpoint=str(path), config=config, device=device, camera=camera, thermal=thermal,
                          score_threshold=score_threshold, backend=backend, num_threads=num_threads,
                          precision=precision)


def _device(params: Mapping[str, Any], models: Mapping[str, Any]) -> str:
    """The `device` parameter, checked against torch only when a model runs on torch (exported models,
    .onnx / .xml, and the cluster detector need no torch)."""
    from omnifuse.deploy.runtime import is_exported

    text = str(params.get('device', default('device')) or default('device'))
    uses_torch = any(str((spec or {}).get('kind', 'none')).lower() == 'checkpoint'
                     and not is_exported(str((spec or {}).get('checkpoint', '') or '') or None)
                     and str((spec or {}).get('backend', '') or '') not in ('onnxruntime', 'openvino')
                     for role, spec in models.items() if role in ('detector', 'segmenter', 'occupancy'))
    if not uses_torch:
        return text
    from omnifuse.ops.device import resolve_device

    return str(resolve_device(text, option='parameter device'))


# What a model does without the camera it wants (the note in /diagnostics).
_WITHOUT_CAMERA = {'detector': 'detections from the LiDAR alone', 'segmenter': 'no segmentation',
                   'occupancy': 'occupancy from the ultrasonic sensors alone'}


def input_notes(role: str, model: object, frame: SensorFrame) -> list[str]:
    """Notes on the cameras `model` fuses (its `camera` / `thermal` attributes) that `frame` lacks."""
    notes = []
    calib = frame.calib
    camera = getattr(model, 'camera', None)
    if camera:
        if camera not in frame.images:
            have = f' (the frame has {", ".join(sorted(frame.images))})' if frame.images else ''
            notes.append(f'{role}: camera {camera!r} missing{have}: {_WITHOUT_CAMERA.get(role, "not used")}')
        elif calib is None or camera not in calib.cameras:
            notes.append(f'{role}: camera {camera!r} has no calibration yet (camera_info + /tf_static): '
                         f'{_WITHOUT_CAMERA.get(role, "not used")}')
    thermal = getattr(model, 'thermal', None)
    if thermal and camera in frame.images:
        if thermal not in frame.thermal:
            notes.append(f'{role}: thermal camera {thermal!r} missing: ran on the colour image alone')
        elif calib is None or thermal not in calib.thermal or camera not in calib.cameras:
            notes.append(f'{role}: thermal camera {thermal!r} has no calibration yet (camera_info + /tf_static): '
                         'ran on the colour image alone')
    if role == 'occupancy' and not frame.ultrasonic:
        notes.append('occupancy: no ultrasonic readings (name the sensors in inputs.ultrasonic): '
                     'ran on the camera alone')
    elif role == 'occupancy':
        from omnifuse.datasets.ultrasonic_raster import unused_ultrasonic

        unused = unused_ultrasonic(frame.ultrasonic, calib.ultrasonic if calib is not None else {})
        if unused:
            notes.append(f'occupancy: {unused}')
    return notes


class PerceptionCore:
    """Runs the injected models on one SensorFrame.

    Args:
        detector, segmenter, occupancy: the models (any may be None).
        grid: geometry of the occupancy grid (None: `occupancy_grid` of the shipped params).
        segmentation_camera: camera whose image plane the segmentation is in.
        tracker: the tracking stage (None: no tracks).
        num_threads: torch intra-op CPU threads while the models run (restored after); 1 (default) gives
            the same outputs on every machine and keeps a busy CPU from stalling spinning worker threads
            (measured on 2 cores with two trainings running: conv layers 30-100x slower with 2 threads);
            0 or None = leave torch's setting (more throughput on an idle many-core CPU).
    """

    def __init__(self, *, detector: FrameDetectorFn | None = None, segmenter: FrameSegmenterFn | None = None,
                 occupancy: FrameOccupancyFn | None = None, grid: OccupancyGridSpec | None = None,
                 segmentation_camera: str = 'front',
                 tracker: Any = None, num_threads: int | None = 1) -> None:
        self.detector = detector
        self.tracker = tracker if detector is not None else None
        self.segmenter = segmenter
        self.occupancy = occupancy
        self.grid = grid if grid is not None else OccupancyGridSpec(**default('occupancy_grid'))
        self.segmentation_camera = segmentation_camera
        self.num_threads = int(num_threads or 0)

    @property
    def produces(self) -> tuple[str, ...]:
        """Output kinds this core produces: 'objects', 'tracks', 'segmentation', 'occupancy'."""
        return tuple(name for name, model in (('objects', self.detector), ('tracks', self.tracker),
                                              ('segmentation', self.segmenter), ('occupancy', self.occupancy))
                     if model is not None)

    def track(self, out: PerceptionOutputs, frame: SensorFrame, *, reset: bool = False, late: bool = False) -> None:
        """Advance the tracks to `frame` with `out.objects` (None: the frame was skipped or its detector failed,
        the tracks coast); sets `out.tracks`, `out.timings_ms['tracker']` and a note when the tracks restarted.
        A tracker error is recorded in `out.errors['tracker']` (the tracks then restart), never raised."""
        if self.tracker is None:
            return
        objects = out.objects
        if frame.points is None or 'detector' in out.errors:
            objects = None  # nothing known about this instant: coast rather than count a miss
        fid = str(frame.meta.get('lidar_frame_id', 'lidar') or 'lidar')
        pose = frame.meta.get('world_T_lidar')
        try:
            step = self.tracker.step(frame.stamp_ns, objects, pose=None if pose is None else np.asarray(pose),
                                     reset=reset, late=late, frame_id=fid)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # a tracker failure costs this frame's tracks, never the stream
            out.errors['tracker'] = f'{type(exc).__name__}: {exc}'
            out.tracks = Tracks.empty(fid)
            self.tracker.reset()
            return
        out.tracks = step.tracks
        out.timings_ms['tracker'] = step.ms
        if step.note:
            out.notes.append(step.note)

    def __call__(self, frame: SensorFrame) -> PerceptionOutputs:
        """Run every model on `frame`; a model that raises leaves its output None and its error in `errors`."""
        torch = sys.modules.get('torch')  # not imported: every model is exported (or the cluster detector)
        if not self.num_threads or torch is None:
            return self._run(frame)
        threads = torch.get_num_threads()
        torch.set_num_threads(self.num_threads)
        try:
            return self._run(frame)
        finally:
            torch.set_num_threads(threads)

    def _run(self, frame: SensorFrame) -> PerceptionOutputs:
        out = PerceptionOutputs(frame.stamp_ns)
        for role, model in (('detector', self.detector), ('segmenter', self.segmenter),
                            ('occupancy', self.occupancy)):
            if model is not None:
                out.notes.extend(input_notes(role, model, frame))
        if self.detector is not None:
            if frame.points is None:  # an unusable LiDAR message: no boxes, the other models still run
                out.objects = ObjectLabels.empty()
            else:
                # the detector applies its own score threshold (models.detector.score_threshold)
                out.objects = self._timed(out, 'detector', self.detector, frame)
        if self.segmenter is not None:
            seg = self._timed(out, 'segmenter', self.segmenter, frame)
            out.segmentation = None if seg is None else np.asarray(seg, dtype=np.uint8)
        if self.occupancy is not None:
            occ = self._timed(out, 'occupancy', self.occupancy, frame)
            out.occupancy = None if occ is None else np.asarray(occ, dtype=np.uint8)
        return out

    @staticmethod
    def _timed(out: PerceptionOutputs, role: str, model: Callable[[SensorFrame], Any], frame: SensorFrame) -> Any:
        """Run one model, timing it; an exception becomes `out.errors[role]` (the other models still run)."""
        t0 = time.perf_counter()
        try:
            return model(frame)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # one model failing on one frame must not take the others with it
            out.errors[role] = f'{type(exc).__name__}: {exc}'
            return None
        finally:
            out.timings_ms[role] = (time.perf_counter() - t0) * 1e3

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> PerceptionCore:
        """Build from the node params (`models`, `device`, `num_threads`, `occupancy_grid`);
        see the module docstring."""
        models = params.get('models', {}) or {}
        device = _device(params, models)
        built: dict[str, Any] = {}
        score_threshold = float((models.get('detector', {}) or {}).get('score_threshold',
                                                                        default('models.detector.score_threshold')))
        for role in ('detector', 'segmenter', 'occupancy'):
            spec = models.get(role, {}) or {}
            kind = str(spec.get('kind', 'none') or 'none').lower()
            if kind == 'none':
                built[role] = None
            elif kind == 'checkpoint':
                camera = default(f'models.{role}.camera')
                thermal = default('models.segmenter.thermal')
                built[role] = build_checkpoint_model(role, checkpoint=str(spec.get('checkpoint', '') or ''),
                                                     config=str(spec.get('config', '') or ''), device=device,
                                                     camera=str(spec.get('camera', camera) or camera),
                                                     thermal=str(spec.get('thermal', thermal) or thermal),
                                                     score_threshold=score_threshold,
                                                     backend=str(spec.get('backend', '') or ''),
                                                     precision=str(spec.get('precision', '') or ''),
                                                     num_threads=int(params.get('num_threads', default('num_threads'))
                                                                     or 0))
            elif kind == 'cluster' and role == 'detector':
                cluster = {**default('models.cluster'), **(models.get('cluster', {}) or {})}
                built[role] = ClusterDetector(**cluster, score_threshold=score_threshold)
            else:
                allowed = 'checkpoint, cluster, none' if role == 'detector' else 'checkpoint, none'
                raise OmnifuseError(f'models.{role}.kind: unknown kind {kind!r}; expected one of {allowed}')
        grid = {**default('occupancy_grid'), **(params.get('occupancy_grid', {}) or {})}
        tracker = None
        if built['detector'] is not None:
            from omnifuse.ros_nodes.tracking import TrackingStage

            tracker = TrackingStage.from_params(params)
        return cls(detector=built['detector'], segmenter=built['segmenter'], occupancy=built['occupancy'],
                   tracker=tracker,
                   grid=OccupancyGridSpec(float(grid['resolution']), float(grid['origin_x']), float(grid['origin_y'])),
                   segmentation_camera=str((models.get('segmenter', {}) or {}).get('camera',
                                                                                    default('models.segmenter.camera'))),
                   num_threads=int(params.get('num_threads', default('num_threads')) or 0))
