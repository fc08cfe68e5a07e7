"""Export a two-stage LoGoNet detector as its stage graphs (see `omnifuse.deploy.detector_runtime`).

The graphs are traced on an example scan run through the same `DetectorPipeline` the runtime uses, with
the PyTorch graphs as the stage runners: every stage is traced with the inputs the numpy steps really
produce. The result is then checked against that PyTorch pipeline on the same scan.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from omnifuse import __version__
from omnifuse.datasets.box_fit import BoxFit
from omnifuse.datasets.input_adapt import InputAdapter
from omnifuse.deploy.detector_graphs import FirstStageGraph, ImageGraph, RoIGraph, check_exportable, detector_spec
from omnifuse.deploy.detector_runtime import CameraInput, DetectorPipeline, ExportedDetector, frame_cameras, stage_files
from omnifuse.deploy.runtime import FORMAT_KEY, FORMAT_VERSION

__all__ = ['TorchStage', 'DetectorExport', 'compare_detections', 'detector_stages', 'example_scan', 'export_detector',
           'export_detector_files']


class TorchStage:
    """A stage graph as a `StageRunner` (numpy in and out); remembers the feeds of its last run."""

    def __init__(self, graph: nn.Module, inputs: list[str], outputs: list[str]) -> None:
        self.graph, self.inputs, self.outputs = graph, inputs, outputs
        self.last_feeds: dict[str, np.ndarray] = {}

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs by name (numpy)."""
        self.last_feeds = {n: np.asarray(feeds[n]) for n in self.inputs}
        with torch.no_grad():
            out = self.graph(*(torch.from_numpy(np.ascontiguousarray(self.last_feeds[n])) for n in self.inputs))
        if isinstance(out, torch.Tensor):
            out = (out,)
        return {n: t.numpy() for n, t in zip(self.outputs, out, strict=True)}


# inference steps the numpy side reproduces; the label filters do nothing at inference
_EXPORTED_STEPS = ('BeamSubsample', 'ImageResize', 'PointRangeFilter', 'ObjectRangeFilter', 'ObjectNameFilter',
                   'PackDetInputs')


def _image_preprocess(model: Any, cfg: Any) -> dict[str, Any]:
    """The image steps of the model's inference pipeline and preprocessor (OmnifuseError for a step the
    exported detector does not reproduce, named)."""
    from omnifuse.apis.detection import inference_pipeline
    from omnifuse.errors import OmnifuseError

    scale = 1.0
    for step in inference_pipeline(cfg):
        kind = step.get('type')
        if kind not in _EXPORTED_STEPS:
            raise OmnifuseError(f'export: the inference pipeline step {kind!r} has no numpy twin in the exported '
                                f'detector yet (supported: {", ".join(_EXPORTED_STEPS)})')
        if kind == 'ImageResize':
            scale = float(step.get('scale', 0.5))
    pre = model.data_preprocessor
    return {'scale': scale, 'mean': [float(v) for v in pre.mean.flatten()],
            'std': [float(v) for v in pre.std.flatten()], 'pad_divisor': int(pre.pad_divisor)}


def _beam_selection(cfg: Any) -> dict[str, Any] | None:
    """The beams the model's inference pipeline keeps (its `BeamSubsample` step), as `BeamSelection.as_dict`.

    None when it keeps every point. The step and the range filter are per-point masks: their order is free.
    """
    from omnifuse.apis.detection import inference_pipeline
    from omnifuse.datasets.beams import selection_from_degrees

    steps = [s for s in inference_pipeline(cfg) if s.get('type') == 'BeamSubsample']
    if not steps:
        return None
    if len(steps) > 1:
        from omnifuse.errors import OmnifuseError

        raise OmnifuseError('export: the inference pipeline has more than one BeamSubsample step')
    step = steps[0]
    selection = selection_from_degrees(step.get('elevations_deg'), int(step.get('keep_every', 4)),
                                       int(step.get('offset', 0)))
    return selection.as_dict() if selection.keep_every > 1 else None


def detector_stages(model: Any, cfg: Any) -> tuple[dict[str, Any], dict[str, TorchStage]]:
    """The model's description for the numpy steps and its stage graphs as PyTorch runners."""
    check_exportable(model)
    spec = detector_spec(model)
    spec['image_preprocess'] = _image_preprocess(model, cfg)
    spec['beams'] = _beam_selection(cfg)  # a thinner LiDAR made of the scan first (the 16-beam models)
    # the runtime applies it before the graphs, as apis.detection.Detector does before the model
    spec['input_adapter'] = InputAdapter.from_config(cfg.get('input_adapter')).as_dict()
    spec['box_fit'] = BoxFit.from_config(cfg.get('box_fit')).as_dict()  # after the graphs, likewise
    first = FirstStageGraph(model)
    voxels = 'columns' if first.backbone.first_columns else 'features'
    stages = {'first': TorchStage(first, [voxels, *first.backbone.table_names, 'bev_rows'],
                                  ['boxes', 'scores', 'labels', 'bev', *(f'{n}_features' for n in first.level_names)])}
    for modality, encoder in (('camera', model.image_encoder), ('thermal', model.thermal_encoder)):
        if encoder is not None:
            stages[modality] = TorchStage(ImageGraph(encoder), ['image'], ['features'])
    if model.roi_head is not None:
        roi = RoIGraph(model)
        stages['roi'] = TorchStage(roi, roi.input_names(), ['score_logits', 'residual'])
    return spec, stages


def example_scan(seed: int = 0) -> tuple[np.ndarray, dict[str, CameraInput]]:
    """A simulated scan (`generate_frame(seed)`) with its colour and thermal images, for tracing and checks."""
    from omnifuse.datasets.sim.generate import generate_frame

    frame = generate_frame(seed)
    return np.asarray(frame.points, np.float32), frame_cameras(frame)


def _axes(stage: str, inputs: list[str], outputs: list[str]) -> dict[str, dict[int, str]]:
    axes: dict[str, dict[int, str]] = {}
    for name in inputs + outputs:
        if name in ('bev_rows', 'bev', 'boxes', 'scores', 'labels') or name.endswith(('_lidar2img', '_img_hw',
                                                                                      '_valid')):
            continue
        if name.endswith('_features') and stage == 'roi' and name.split('_')[0] in ('camera', 'thermal'):
            axes[name] = {2: f'{name}_h', 3: f'{name}_w'}
        elif name in ('image', 'features') and stage != 'first':
            axes[name] = {2: 'height', 3: 'width'}
        elif name.endswith(('_rows', '_weights')) and stage == 'roi':
            axes[name] = {0: 'grid_points'}
        elif stage == 'roi' and name in ('rois', 'grid_xyz', 'count', 'centroid', 'score_logits', 'residual'):
            axes[name] = {0: 'rois'}
        else:
            axes[name] = {0: f'{name}_rows'}
    return axes


@dataclass(frozen=True)
class DetectorExport:
    """What `export_detector` wrote and how the export compares with PyTorch on the example scan.

    Attributes:
        paths: every file written.
        metadata: the model description stored in the first stage (`detector_spec`).
        boxes: detections of PyTorch / of the export on the example scan.
        max_centre_diff: largest centre distance [m] between matched detections.
        max_score_diff: largest score difference.
    """

    paths: tuple[Path, ...]
    metadata: dict[str, Any]
    boxes: tuple[int, int]
    max_centre_diff: float
    max_score_diff: float


def compare_detections(a: tuple[np.ndarray, np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray, np.ndarray]
                       ) -> tuple[float, float]:
    """(max centre distance, max score difference) between two detection sets matched in order; inf when
    their counts or labels differ."""
    if len(a[0]) != len(b[0]) or not np.array_equal(a[2], b[2]):
        return float('inf'), float('inf')
    if len(a[0]) == 0:
        return 0.0, 0.0
    return (float(np.linalg.norm(a[0][:, :3] - b[0][:, :3], axis=1).max()),
            float(np.abs(a[1].astype(np.float64) - b[1].astype(np.float64)).max()))


def export_detector(model: Any, cfg: Any, out: Path, *, fmt: str, opset: int, config_name: str,
                    checkpoint_name: str, points: np.ndarray, cameras: Mapping[str, CameraInput]) -> DetectorExport:
    """Write the stage graphs of `model` beside `out` (.onnx, or .xml for OpenVINO) traced on the example
    scan (`points`, `cameras`), and compare the export with PyTorch there."""
    spec, stages = detector_stages(model, cfg)
    reference = DetectorPipeline(spec, stages)
    want = reference(points, cameras)
    if 'roi' in stages and not stages['roi'].last_feeds:
        raise RuntimeError('export: the example scan gave no proposal to trace the second stage with')
    files = stage_files(out, list(stages))
    out.parent.mkdir(parents=True, exist_ok=True)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    # the fused attention kernels PyTorch picks at inference have no ONNX form; the plain ops compute the same
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        paths = _write_stages(stages, spec, files, fmt=fmt, opset=opset, config_name=config_name,
                              checkpoint_name=checkpoint_name)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    got = ExportedDetector(files['first'], num_threads=1)(points, cameras)
    centre, score = compare_detections(want, got)
    return DetectorExport(tuple(paths), dict(spec), (len(want[0]), len(got[0])), centre, score)


def _write_stages(stages: Mapping[str, TorchStage], spec: Mapping[str, Any], files: Mapping[str, Path], *,
                  fmt: str, opset: int, config_name: str, checkpoint_name: str) -> list[Path]:
    from omnifuse.deploy.export import to_openvino, torch_export

    paths: list[Path] = []
    with tempfile.TemporaryDirectory(prefix='omnifuse-export-') as tmp:
        for name, stage in stages.items():
            meta: dict[str, Any] = {FORMAT_KEY: FORMAT_VERSION, 'omnifuse_version': __version__,
                                    'torch_version': torch.__version__, 'config': config_name,
                                    'checkpoint': checkpoint_name, 'inputs': stage.inputs, 'outputs': stage.outputs,
                                    'task': 'detection' if name == 'first' else f'detection-{name}'}
            if name == 'first':
                meta.update(detector=spec, stages=list(stages))
            onnx_path = files[name] if fmt == 'onnx' else Path(tmp) / f'{name}.onnx'
            torch_export(stage.graph, stage.last_feeds, stage.inputs, stage.outputs,
                         _axes(name, stage.inputs, stage.outputs), onnx_path, opset=opset, metadata=meta)
            paths.extend(to_openvino(onnx_path, files[name], meta) if fmt == 'openvino' else (onnx_path,))
    return paths


def export_detector_files(config: str | None, checkpoint: str | None, out: str | Path, *, fmt: str = 'onnx',
                          opset: int = 17) -> DetectorExport:
    """`omnifuse export` for a detector: load it as `omnifuse detect` does (None, None: the shipped default),
    trace it on a simulated scan and write its stage graphs at `out` (.onnx; .xml for fmt 'openvino')."""
    from omnifuse.apis.detection import DEFAULT_CHECKPOINT, DEFAULT_CONFIG, load_detector
    from omnifuse.errors import FormatError

    out = Path(out)
    wanted = '.xml' if fmt == 'openvino' else '.onnx'
    if out.suffix.lower() != wanted:
        raise FormatError(f'--out {out}: a {fmt} export is written to a {wanted} file')
    model, cfg, _ = load_detector(config, checkpoint)
    points, cameras = example_scan(0)
    return export_detector(model, cfg, out, fmt=fmt, opset=opset, config_name=Path(config or DEFAULT_CONFIG).name,
                           checkpoint_name=Path(checkpoint or DEFAULT_CHECKPOINT).name, points=points,
                           cameras=cameras)
