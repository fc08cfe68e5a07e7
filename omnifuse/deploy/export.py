"""Export the dense models to ONNX (and OpenVINO IR): from the numpy inputs to class ids in one graph.

What the graph takes is what the shared numpy preprocessing produces (docs/deploy.md):

    CMX segmentor      rgb (B, 3, H, W) uint8, x (B, C_x, H, W) float32, x_valid (B,) bool
                       -> labels (B, H, W) int64 (argmax in the graph), logits (B, K, H, W) float32
                       (omnifuse.datasets.rgbx_seg.rgbx_batch; mean/std normalisation is in the graph)
    near-field occupancy  image (B, 3, h, w) float32 [0, 1], lidar2img (B, 4, 4), camera_valid (B,) bool,
                       ultrasonic (B, 3, G, G) -> labels (B, G, G) int64, occupied_prob (B, G, G),
                       occupied_logits (B, G, G), class_logits (B, K, G, G)
                       (omnifuse.datasets.occupancy_dataset.occupancy_inputs)

Image sizes (and the batch) are dynamic. A missing X or camera is the same graph with x_valid / camera_valid
False: the models' own missing-input paths (a learned X fill value; camera BEV features zeroed).
The metadata the runtime needs goes into the file (`metadata_props`; OpenVINO `rt_info`), see `metadata`.

The 3D detectors are exported as several graphs with numpy steps between them (their sparse convolutions
become gathers and matrix products): `omnifuse.deploy.export_detector`.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from omnifuse import __version__
from omnifuse.checkpoint import build_model, load_config
from omnifuse.deploy.runtime import FORMAT_KEY, FORMAT_VERSION
from omnifuse.errors import FormatError, OmnifuseError

__all__ = ['DETECTOR_NOTE', 'ExportResult', 'OccupancyGraph', 'SegmentorGraph', 'export_model', 'to_openvino',
           'torch_export']

OPSET = 17
DETECTOR_NOTE = ('a 3D detector is exported as its stage graphs by omnifuse.deploy.export_detector.'
                 'export_detector_files (what `omnifuse export` does with a detector config)')
FORMATS = ('onnx', 'openvino')


class SegmentorGraph(nn.Module):
    """A CMXSegmentor from uint8 RGB to class ids: its data preprocessor's normalisation, the model, argmax.

    Shapes:
        rgb: (B, 3, H, W) uint8; x: (B, C_x, H, W) float32; x_valid: (B,) bool.
        return: labels (B, H, W) int64, logits (B, K, H, W) float32.
    """

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model: Any = model
        self.eval()  # the exporter restores the wrapper's mode afterwards: it must be eval, not nn.Module's train

    def forward(self, rgb: Tensor, x: Tensor, x_valid: Tensor) -> tuple[Tensor, Tensor]:
        """(labels, logits) of a batch; see the class docstring."""
        pre = self.model.data_preprocessor
        normed = (rgb.float() - pre.mean) / pre.std  # as RGBXDataPreprocessor
        logits = self.model._logits({'rgb': normed, 'x': x, 'x_valid': x_valid})
        return logits.argmax(dim=1), logits


class OccupancyGraph(nn.Module):
    """A NearFieldOccupancyNet from its inputs to labels (stage 1 free/occupied, stage 2 class).

    Shapes:
        image: (B, 3, h, w) float [0, 1]; lidar2img: (B, 4, 4); camera_valid: (B,) bool; ultrasonic: (B, 3, G, G).
        return: labels (B, G, G) int64, occupied_prob, occupied_logits (B, G, G), class_logits (B, K, G, G).
    """

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model: Any = model
        self.eval()  # the exporter restores the wrapper's mode afterwards: it must be eval, not nn.Module's train

    def forward(self, image: Tensor, lidar2img: Tensor, camera_valid: Tensor,
                ultrasonic: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(labels, occupied_prob, occupied_logits, class_logits) of a batch; see the class docstring."""
        occ, cls = self.model._logits({'image': image, 'lidar2img': lidar2img, 'camera_valid': camera_valid,
                                       'ultrasonic': ultrasonic})
        return type(self.model).predict_labels(occ, cls), torch.sigmoid(occ), occ, cls


@dataclass(frozen=True)
class ExportResult:
    """What `export_model` wrote and how the file's outputs compare with PyTorch on the example input.

    Attributes:
        paths: the files written (.onnx; or .xml and .bin).
        metadata: the metadata stored in the file (decoded).
        labels_equal: share of the example's output cells with the same class id as PyTorch.
        max_abs_diff: largest difference of the logits to PyTorch on the example.
    """

    paths: tuple[Path, ...]
    metadata: dict[str, Any]
    labels_equal: float
    max_abs_diff: float


def _model_type(cfg: Any) -> str:
    model = cfg.get('model') if hasattr(cfg, 'get') else None
    return str(model.get('type', '')) if isinstance(model, Mapping) else ''


def _default_checkpoint(config: Path, model_type: str) -> Path | None:
    if model_type == 'CMXSegmentor':
        from omnifuse.apis.segmentation import default_checkpoint

        return default_checkpoint(config)
    from omnifuse.apis.occupancy import DEFAULT_CHECKPOINT, DEFAULT_CONFIG

    return DEFAULT_CHECKPOINT if config.resolve() == DEFAULT_CONFIG.resolve() else None


def _example_segmentation(model: Any, cfg: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    data = cfg.get('test_dataloader', {}).get('dataset', {}) or {}
    meta = {
        'task': 'segmentation',
        'class_names': list(model.class_names),
        'modality': model.modality,
        'x_channels': int(model.x_channels),
        'img_scale': float(cfg.get('img_scale', data.get('scale', 1.0))),
        'max_depth': float(cfg.get('max_depth', data.get('max_depth', 80.0))),
        'plane_depth': float(cfg.get('plane_depth', data.get('plane_depth', 15.0))),
        'thermal_registration': str(data.get('thermal_registration', 'lidar')),
        'normalization': {'mean': [float(v) for v in model.data_preprocessor.mean.flatten()],
                          'std': [float(v) for v in model.data_preprocessor.std.flatten()],
                          'where': 'in the graph: rgb is uint8 0..255'},
    }
    rng = np.random.default_rng(0)
    h, w = 96, 150  # any size: H and W are dynamic (not multiples of 32, to trace the ceil paths)
    from omnifuse.datasets.rgbx_seg import rgbx_batch

    example = rgbx_batch(rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
                         rng.random((h, w), dtype=np.float32), x_channels=model.x_channels)
    return example, meta


def _example_occupancy(model: Any, cfg: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from omnifuse.datasets.occupancy_dataset import OCCUPANCY_GROUPS, occupancy_inputs
    from omnifuse.datasets.sim.rig import default_calibration
    from omnifuse.structures.bev_grid import BEVGrid

    data = cfg.test_dataloader.dataset
    grid = BEVGrid(float(data.get('resolution', 0.1)), float(data.get('extent', 10.0)))
    scale = float(data.get('image_scale', 0.5))
    calib = default_calibration()
    camera = calib.cameras['image_2']
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (camera.height, camera.width, 3), dtype=np.uint8)
    readings = {name: float(rng.uniform(0.5, 4.0)) for name in calib.ultrasonic}
    example = occupancy_inputs(image, camera, readings, calib.ultrasonic, grid, image_scale=scale)
    meta = {
        'task': 'occupancy',
        'occupied_classes': list(model.occupied_classes),
        'group_names': list(OCCUPANCY_GROUPS),
        'image_scale': scale,
        'resolution': grid.resolution,
        'extent': grid.extent,
        'grid_size': int(model.grid_size),
        'use_camera': bool(model.use_camera),
        'use_ultrasonic': bool(model.use_ultrasonic),
        'grid_layout': 'BEVGrid: row 0 = +x edge, column 0 = +y edge (omnifuse.structures.bev_grid)',
    }
    return {k: np.asarray(v)[None] for k, v in example.items()}, meta


def export_model(config: str | Path, checkpoint: str | Path | None, out: str | Path, *, fmt: str = 'onnx',
                 opset: int = OPSET) -> ExportResult:
    """Export the config's model with `checkpoint`'s weights (None: the shipped weights of the config).

    Args:
        config: a configs/cmx or configs/occupancy config.
        checkpoint: .pth weights, or None for the shipped ones.
        out: the .onnx file, or for fmt 'openvino' the .xml file (its .bin beside it).
        fmt: 'onnx' or 'openvino'.
        opset: ONNX opset (GridSample of the occupancy model needs >= 16).

    Raises:
        OmnifuseError: a detector (see DETECTOR_NOTE) or another model type that cannot be exported.
        FileNotFoundError: config or checkpoint missing; FormatError: weights that do not fit the config.
    """
    from omnifuse.segmentation.nearfield_occupancy import NearFieldOccupancyNet
    from omnifuse.segmentation.rgbx import CMXSegmentor

    if fmt not in FORMATS:
        raise FormatError(f'unknown export format {fmt!r}; expected one of {", ".join(FORMATS)}')
    config = Path(config)
    out = Path(out)
    wanted = '.xml' if fmt == 'openvino' else '.onnx'
    if out.suffix.lower() != wanted:
        raise FormatError(f'--out {out}: a {fmt} export is written to a {wanted} file')
    model_type = _model_type(load_config(config))
    if model_type not in ('CMXSegmentor', 'NearFieldOccupancyNet'):
        if 'Detector' in model_type:
            raise OmnifuseError(f'{config}: {model_type}: {DETECTOR_NOTE}')
        raise OmnifuseError(f'{config}: exporting a {model_type or "model without a type"} is not supported; '
                            '`omnifuse export` takes the CMX segmenters and the near-field occupancy model')
    if checkpoint is None:
        checkpoint = _default_checkpoint(config, model_type)
        if checkpoint is None:
            raise FileNotFoundError(2, 'no shipped weights for this config; give CHECKPOINT', str(config))
    expected = CMXSegmentor if model_type == 'CMXSegmentor' else NearFieldOccupancyNet
    model, cfg = build_model(config, checkpoint=checkpoint, device='cpu', expected_type=expected)
    if model_type == 'CMXSegmentor':
        graph: nn.Module = SegmentorGraph(model)
        example, meta = _example_segmentation(model, cfg)
        inputs, outputs = ['rgb', 'x', 'x_valid'], ['labels', 'logits']
        image_axes = {0: 'batch', 2: 'height', 3: 'width'}
        axes = {'rgb': image_axes, 'x': image_axes, 'x_valid': {0: 'batch'},
                'labels': {0: 'batch', 1: 'height', 2: 'width'}, 'logits': image_axes}
    else:
        graph = OccupancyGraph(model)
        example, meta = _example_occupancy(model, cfg)
        inputs = ['image', 'lidar2img', 'camera_valid', 'ultrasonic']
        outputs = ['labels', 'occupied_prob', 'occupied_logits', 'class_logits']
        axes = {'image': {0: 'batch', 2: 'image_height', 3: 'image_width'}, 'lidar2img': {0: 'batch'},
                'camera_valid': {0: 'batch'}, 'ultrasonic': {0: 'batch'}, 'labels': {0: 'batch'},
                'occupied_prob': {0: 'batch'}, 'occupied_logits': {0: 'batch'}, 'class_logits': {0: 'batch'}}
    meta.update({FORMAT_KEY: FORMAT_VERSION, 'omnifuse_version': __version__, 'torch_version': torch.__version__,
                 'config': config.name, 'checkpoint': Path(checkpoint).name, 'inputs': inputs, 'outputs': outputs})
    meta = {k: meta[k] for k in sorted(meta)}
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='omnifuse-export-') as tmp:
        onnx_path = out if fmt == 'onnx' else Path(tmp) / 'model.onnx'
        torch_export(graph, example, inputs, outputs, axes, onnx_path, opset=opset, metadata=meta)
        paths: tuple[Path, ...] = to_openvino(onnx_path, out, meta) if fmt == 'openvino' else (out,)
        equal, diff = _compare(graph, example, paths[0], inputs, outputs)
    return ExportResult(paths, meta, equal, diff)


def torch_export(graph: nn.Module, example: Mapping[str, np.ndarray], inputs: list[str], outputs: list[str],
                  axes: dict[str, dict[int, str]], path: Path, *, opset: int, metadata: Mapping[str, Any]) -> None:
    """torch.onnx.export with the TorchScript exporter (dynamo=False: the dynamo exporter needs onnxscript,
    and the traced graph with dynamic_axes handles every size here), then the metadata into metadata_props."""
    import warnings

    try:
        import onnx
    except ImportError:
        raise FormatError('the onnx package is not installed: pip install "omnifuse[deploy]" (or onnx)') from None
    args = tuple(torch.from_numpy(np.asarray(example[name])) for name in inputs)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore')  # tracer warnings about shape arithmetic (sizes stay dynamic)
        torch.onnx.export(graph, args, str(path), dynamo=False, opset_version=opset, input_names=inputs,
                          output_names=outputs, dynamic_axes=axes, do_constant_folding=True)
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, {k: json.dumps(v) for k, v in metadata.items()})
    proto.doc_string = (f'omnifuse {metadata.get("task")} model exported from {metadata.get("config")} '
                        f'+ {metadata.get("checkpoint")}; metadata_props hold what the runtime needs')
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def to_openvino(onnx_path: str | Path, xml_path: str | Path, metadata: Mapping[str, Any]) -> tuple[Path, Path]:
    """Convert an exported ONNX file to OpenVINO IR (.xml + .bin, float32 weights), metadata in rt_info."""
    try:
        import openvino as ov
    except ImportError:
        raise FormatError('the openvino package is not installed: pip install "omnifuse[deploy]" '
                          '(or openvino)') from None
    xml_path = Path(xml_path)
    model = ov.convert_model(str(onnx_path))
    for key, value in metadata.items():
        model.set_rt_info(json.dumps(value), ['omnifuse', key])
    ov.save_model(model, str(xml_path), compress_to_fp16=False)  # fp16 weights would change the logits
    return xml_path, xml_path.with_suffix('.bin')


def _compare(graph: nn.Module, example: Mapping[str, np.ndarray], path: Path, inputs: list[str],
             outputs: list[str]) -> tuple[float, float]:
    """Agreement of the exported file with PyTorch on the example: share of equal labels, max |logit diff|."""
    from omnifuse.deploy.runtime import ExportedModel

    exported = ExportedModel(path, num_threads=1)
    got = exported.run(example)
    with torch.no_grad():
        want = graph(*(torch.from_numpy(np.asarray(example[n])) for n in inputs))
    want_np = dict(zip(outputs, (t.numpy() for t in want), strict=True))
    equal = float(np.mean(got['labels'] == want_np['labels']))
    diff = max(float(np.max(np.abs(got[n] - want_np[n]))) for n in outputs[1:])
    return equal, diff
