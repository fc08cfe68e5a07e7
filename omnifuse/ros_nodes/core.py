"""`PerceptionCore`: SensorFrame in, detections + segmentation + occupancy out (no ROS).

Each model is an injected component with a small protocol, and may be None (its output topic is
then not produced):

    detector(frame)  -> ObjectLabels                 boxes in the LiDAR frame
    segmenter(frame) -> (H, W) uint8 class ids | None  in the image plane of `segmentation_camera`
    occupancy(frame) -> (H, W) uint8 | None          BEV grid: 0..100 occupancy [%], 255 unknown;
                                                       geometry in `grid` (rows along +y)

`PerceptionCore.from_params(params)` builds them from the `models` section of the node params:
`kind: checkpoint` loads a learned model through `build_checkpoint_model` (the one place where the
real builders are plugged in), `kind: cluster` the geometric `ClusterDetector`, `kind: none` nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from omnifuse.errors import OmnifuseError
from omnifuse.ros_nodes.cluster import ClusterDetector
from omnifuse.ros_nodes.codec import OccupancyGridSpec
from omnifuse.structures import ObjectLabels, SensorFrame

__all__ = ['Detector', 'Segmenter', 'OccupancyModel', 'PerceptionOutputs', 'PerceptionCore',
           'build_checkpoint_model']


class Detector(Protocol):
    """frame -> ObjectLabels (boxes (N, 7), LiDAR frame, with scores)."""

    def __call__(self, frame: SensorFrame) -> ObjectLabels: ...


class Segmenter(Protocol):
    """frame -> (H, W) uint8 class ids in the segmentation camera's image, or None (no input)."""

    def __call__(self, frame: SensorFrame) -> np.ndarray | None: ...


class OccupancyModel(Protocol):
    """frame -> (H, W) uint8 BEV occupancy (0..100 %, 255 unknown), or None (no input)."""

    def __call__(self, frame: SensorFrame) -> np.ndarray | None: ...


@dataclass
class PerceptionOutputs:
    """What one LiDAR frame produced; None where the model is absent or had no input.

    Attributes:
        stamp_ns: the LiDAR stamp of the frame.
        objects: detections (LiDAR frame).
        segmentation: (H, W) uint8 class ids.
        occupancy: (H, W) uint8 grid.
        timings_ms: wall time of each model that ran ('detector', 'segmenter', 'occupancy').
    """

    stamp_ns: int
    objects: ObjectLabels | None = None
    segmentation: np.ndarray | None = None
    occupancy: np.ndarray | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def model_ms(self) -> float:
        """Total model time [ms]."""
        return float(sum(self.timings_ms.values()))


# Shipped checkpoint (omnifuse/checkpoints/) of each role, used when the params give none.
_SHIPPED = {'occupancy': 'nearfield_fused_sim.pth', 'segmenter': 'cmx_rgbt_sim.pth',
            'detector': 'fast_lidar-cam_sim.pth'}


def _detection_model(*, checkpoint: str, config: str = '', device: str = 'cpu') -> Callable:
    from omnifuse.apis.detection import FrameDetector

    return FrameDetector(config=config or None, checkpoint=checkpoint, device=device, score_threshold=0.0)


def _occupancy_model(*, checkpoint: str, config: str = '', device: str = 'cpu') -> Callable:
    from omnifuse.apis.occupancy import NearFieldOccupancyPredictor

    return NearFieldOccupancyPredictor(config=config or None, checkpoint=checkpoint, device=device)


def build_checkpoint_model(role: str, *, checkpoint: str, config: str = '', device: str = 'cpu') -> Callable:
    """Build the learned model of `role` ('detector', 'segmenter', 'occupancy') from a checkpoint.

    ======================================================================================
    LEAD: this is the single place where the real model builders are plugged in. Map each
    role to a function (checkpoint, config, device) -> callable with the protocol of the
    module docstring, e.g. {'detector': omnifuse.detectors.<api>.load_for_inference}.
    ======================================================================================
    """
    builders: dict[str, Callable[..., Callable]] = {'occupancy': _occupancy_model, 'detector': _detection_model}
    if not checkpoint:  # the shipped model of the role
        from omnifuse.checkpoint import CHECKPOINT_DIR

        checkpoint = str(CHECKPOINT_DIR / _SHIPPED.get(role, f'{role}.pth'))
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(2, 'checkpoint not found', str(path))
    if role not in builders:
        raise OmnifuseError(f'models.{role}: no builder for {role} checkpoints is wired in yet '
                            f'(omnifuse/ros_nodes/core.py: build_checkpoint_model); set models.{role}.kind '
                            f'to {"cluster" if role == "detector" else "none"} meanwhile')
    return builders[role](checkpoint=str(path), config=config, device=device)


class PerceptionCore:
    """Runs the injected models on one SensorFrame.

    Args:
        detector, segmenter, occupancy: the models (any may be None).
        grid: geometry of the occupancy grid.
        segmentation_camera: camera whose image plane the segmentation is in.
        score_threshold: detections below it are dropped.
    """

    def __init__(self, *, detector: Detector | None = None, segmenter: Segmenter | None = None,
                 occupancy: OccupancyModel | None = None, grid: OccupancyGridSpec | None = None,
                 segmentation_camera: str = 'front', score_threshold: float = 0.0) -> None:
        self.detector = detector
        self.segmenter = segmenter
        self.occupancy = occupancy
        self.grid = grid if grid is not None else OccupancyGridSpec()
        self.segmentation_camera = segmentation_camera
        self.score_threshold = float(score_threshold)

    @property
    def produces(self) -> tuple[str, ...]:
        """Output kinds this core produces: 'objects', 'segmentation', 'occupancy'."""
        return tuple(name for name, model in (('objects', self.detector), ('segmentation', self.segmenter),
                                              ('occupancy', self.occupancy)) if model is not None)

    def __call__(self, frame: SensorFrame) -> PerceptionOutputs:
        """Run every model on `frame`; exceptions of a model propagate to the caller."""
        out = PerceptionOutputs(frame.stamp_ns)
        if self.detector is not None:
            t0 = time.perf_counter()
            objects = self.detector(frame)
            if objects.scores is not None and self.score_threshold > 0:
                objects = objects.select(objects.scores >= self.score_threshold)
            out.objects = objects
            out.timings_ms['detector'] = (time.perf_counter() - t0) * 1e3
        if self.segmenter is not None:
            t0 = time.perf_counter()
            seg = self.segmenter(frame)
            out.segmentation = None if seg is None else np.asarray(seg, dtype=np.uint8)
            out.timings_ms['segmenter'] = (time.perf_counter() - t0) * 1e3
        if self.occupancy is not None:
            t0 = time.perf_counter()
            occ = self.occupancy(frame)
            out.occupancy = None if occ is None else np.asarray(occ, dtype=np.uint8)
            out.timings_ms['occupancy'] = (time.perf_counter() - t0) * 1e3
        return out

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> PerceptionCore:
        """Build from the node params (`models`, `device`, `occupancy_grid`); see the module docstring."""
        models = params.get('models', {}) or {}
        device = str(params.get('device', 'cpu') or 'cpu')
        built: dict[str, Any] = {}
        for role in ('detector', 'segmenter', 'occupancy'):
            spec = models.get(role, {}) or {}
            kind = str(spec.get('kind', 'none') or 'none').lower()
            if kind == 'none':
                built[role] = None
            elif kind == 'checkpoint':
                built[role] = build_checkpoint_model(role, checkpoint=str(spec.get('checkpoint', '')),
                                                     config=str(spec.get('config', '')), device=device)
            elif kind == 'cluster' and role == 'detector':
                built[role] = ClusterDetector(**(models.get('cluster', {}) or {}))
            else:
                allowed = 'checkpoint, cluster, none' if role == 'detector' else 'checkpoint, none'
                raise OmnifuseError(f'models.{role}.kind: unknown kind {kind!r}; expected one of {allowed}')
        grid = params.get('occupancy_grid', {}) or {}
        return cls(detector=built['detector'], segmenter=built['segmenter'], occupancy=built['occupancy'],
                   grid=OccupancyGridSpec(float(grid.get('resolution', 0.1)), float(grid.get('origin_x', -5.0)),
                                          float(grid.get('origin_y', -5.0))),
                   segmentation_camera=str((models.get('segmenter', {}) or {}).get('camera', 'front')),
                   score_threshold=float((models.get('detector', {}) or {}).get('score_threshold', 0.0)))
