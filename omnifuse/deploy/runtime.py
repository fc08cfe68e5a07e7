"""Run an exported omnifuse model (ONNX file or OpenVINO IR) without PyTorch.

The file alone suffices: `omnifuse export` stores what the runtime needs (task, class names, modality, image
scale, grid geometry, normalisation) as metadata inside it (ONNX `metadata_props`; OpenVINO `rt_info`
under 'omnifuse'). The pre- and post-processing around the graph is the numpy code the PyTorch path uses
too (omnifuse.datasets.rgbx_seg, omnifuse.datasets.occupancy_dataset); nothing here imports torch.

    seg = ExportedSegmentor('cmx_rgbt.onnx')                # ONNX Runtime (OpenVINO for a .xml)
    labels = seg.predict_labels(rgb, x)                      # (h, w) int64, as omnifuse.segmentation.rgbx
    occ = ExportedOccupancy('nearfield.xml')
    labels, prob = occ.predict_inputs(occupancy_inputs(...))  # (G, G) int64 and float32

Backends: 'onnxruntime' (CPUExecutionProvider) or 'openvino' (CPU plugin; it reads .onnx files too).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from omnifuse.errors import FormatError

__all__ = ['BACKENDS', 'EXPORTED_SUFFIXES', 'FORMAT_KEY', 'FORMAT_VERSION', 'ExportedModel', 'ExportedOccupancy',
           'ExportedSegmentor', 'choose_backend', 'is_exported']

BACKENDS = ('torch', 'onnxruntime', 'openvino')
EXPORTED_SUFFIXES = ('.onnx', '.xml')
FORMAT_KEY = 'omnifuse_format'  # metadata key that marks an omnifuse export; its value is FORMAT_VERSION
FORMAT_VERSION = '1'
PRECISIONS = ('f32', 'bf16')
_INSTALL = 'pip install "omnifuse[deploy]" (or pip install onnxruntime openvino)'


def is_exported(path: str | Path | None) -> bool:
    """Whether `path` names an exported model (.onnx, or OpenVINO's .xml IR) rather than torch weights."""
    return path is not None and Path(path).suffix.lower() in EXPORTED_SUFFIXES


def choose_backend(checkpoint: str | Path | None, backend: str | None = None) -> str:
    """The backend that runs `checkpoint`: the file decides (.onnx: onnxruntime, .xml: openvino, else torch)
    unless `backend` forces one.

    Raises:
        FormatError: an unknown backend, or one that cannot run this file (torch weights with an exported
            backend, an exported file with torch, an OpenVINO IR with onnxruntime).
    """
    exported = is_exported(checkpoint)
    suffix = Path(checkpoint).suffix.lower() if checkpoint is not None else ''
    if backend is None:
        return ('openvino' if suffix == '.xml' else 'onnxruntime') if exported else 'torch'
    if backend not in BACKENDS:
        raise FormatError(f'unknown backend {backend!r}; expected one of {", ".join(BACKENDS)}')
    if backend == 'torch' and exported:
        raise FormatError(f'{checkpoint}: an exported model runs with onnxruntime or openvino; --backend torch '
                          'needs the .pth weights')
    if backend != 'torch' and not exported:
        raise FormatError(f'--backend {backend} runs an exported model (.onnx or OpenVINO .xml), got '
                          f'{checkpoint or "the default .pth weights"}; make one with `omnifuse export`')
    if backend == 'onnxruntime' and suffix == '.xml':
        raise FormatError(f'{checkpoint}: an OpenVINO IR runs with --backend openvino (or export to .onnx)')
    return backend


def _decode(raw: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            out[key] = json.loads(value)
        except (TypeError, ValueError):
            out[key] = value
    return out


def _openvino_metadata(model: Any) -> dict[str, str]:
    """rt_info['omnifuse'] of an IR written by omnifuse export, else the ONNX metadata_props OpenVINO keeps in
    rt_info['framework'] when it reads an .onnx file."""
    info = model.get_rt_info()
    for section in ('omnifuse', 'framework'):
        if section in info:
            entries = info[section]
            try:
                found = {str(k): v.astype(str) for k, v in entries.items()}
            except AttributeError:
                continue
            if FORMAT_KEY in found:
                return found
    return {}


class ExportedModel:
    """One exported graph, its metadata and a backend session.

    Args:
        path: the .onnx or .xml file.
        backend: 'onnxruntime' or 'openvino' (None: follows the file's suffix).
        num_threads: intra-op CPU threads (1 by default, as the PyTorch APIs: a busy CPU does not stall the
            worker threads); None or 0 = the backend's default.
        precision: 'f32' (default: the PyTorch model's arithmetic) or 'bf16' (OpenVINO only, on CPUs with
            bfloat16 units: about 1.8x faster convolutions and matrix products, results no longer equal to
            PyTorch's; docs/deploy.md has what it costs in AP).

    Attributes:
        metadata: the decoded omnifuse metadata (JSON values decoded).
        input_names, output_names: the graph's inputs and outputs.

    Raises:
        FileNotFoundError: no such file.
        FormatError: the backend is not installed, cannot load the file, or the file is not an omnifuse export.
    """

    def __init__(self, path: str | Path, *, backend: str | None = None, num_threads: int | None = 1,
                 precision: str = 'f32') -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(2, 'No such exported model', str(self.path))
        self.backend = choose_backend(self.path, backend)
        self.num_threads = num_threads
        if precision not in PRECISIONS:
            raise FormatError(f'precision {precision!r}: expected one of {", ".join(PRECISIONS)}')
        if precision != 'f32' and self.backend != 'openvino':
            raise FormatError(f'{self.path}: precision {precision} runs on the openvino backend only '
                              f'(this is {self.backend})')
        self.precision = precision
        if self.backend == 'onnxruntime':
            raw = self._load_onnxruntime()
        else:
            raw = self._load_openvino()
        if raw.get(FORMAT_KEY) is None:
            raise FormatError(f'{self.path}: not an omnifuse export (no {FORMAT_KEY!r} in its metadata); '
                              'make one with `omnifuse export`')
        self.metadata = _decode(raw)
        if str(self.metadata[FORMAT_KEY]) != FORMAT_VERSION:
            raise FormatError(f'{self.path}: export format {self.metadata[FORMAT_KEY]!r}, this omnifuse reads '
                              f'{FORMAT_VERSION!r}; export the model again')

    def _load_onnxruntime(self) -> dict[str, str]:
        try:
            import onnxruntime as ort
        except ImportError:
            raise FormatError(f'{self.path}: the onnxruntime backend is not installed: {_INSTALL}') from None
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if self.num_threads:
            options.intra_op_num_threads = int(self.num_threads)
            options.inter_op_num_threads = 1
        # workers sleep between parallel regions instead of spinning: on a CPU shared with other busy processes
        # spinning workers steal the cores the others need (the PyTorch path sets OMP_WAIT_POLICY=PASSIVE alike)
        options.add_session_config_entry('session.intra_op.allow_spinning', '0')
        try:
            self._session = ort.InferenceSession(str(self.path), options, providers=['CPUExecutionProvider'])
        except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types
            raise FormatError(f'{self.path}: ONNX Runtime cannot load it: {str(exc).splitlines()[0][:200]}') from None
        self.input_names = tuple(i.name for i in self._session.get_inputs())
        self._int64_inputs = tuple(i.name for i in self._session.get_inputs() if i.type == 'tensor(int64)')
        self.output_names = tuple(o.name for o in self._session.get_outputs())
        return dict(self._session.get_modelmeta().custom_metadata_map)

    def _load_openvino(self) -> dict[str, str]:
        try:
            import openvino as ov
        except ImportError:
            raise FormatError(f'{self.path}: the openvino backend is not installed: {_INSTALL}') from None
        core = ov.Core()
        try:
            model = core.read_model(str(self.path))
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises RuntimeError with a long message
            raise FormatError(f'{self.path}: OpenVINO cannot read it: {str(exc).splitlines()[0][:200]}') from None
        # f32: on CPUs with bf16 units OpenVINO would otherwise compute in bf16 (logits off by ~1)
        config: dict[str, Any] = {'INFERENCE_PRECISION_HINT': self.precision}
        if self.num_threads:
            config['INFERENCE_NUM_THREADS'] = int(self.num_threads)
        self._compiled = core.compile_model(model, 'CPU', config)
        self._request = self._compiled.create_infer_request()
        self.input_names = tuple(i.get_any_name() for i in self._compiled.inputs)
        self._int64_inputs = tuple(i.get_any_name() for i in self._compiled.inputs
                                   if i.get_element_type() == ov.Type.i64)
        self.output_names = tuple(o.get_any_name() for o in self._compiled.outputs)
        return _openvino_metadata(model)

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs by name for `feeds` (extra feeds, e.g. an X the model does not use, are ignored)."""
        missing = [n for n in self.input_names if n not in feeds]
        if missing:
            raise ValueError(f'{self.path}: inputs {missing} not given (the graph takes {list(self.input_names)})')
        data = {n: np.ascontiguousarray(feeds[n]) for n in self.input_names}
        for n in self._int64_inputs:  # index tables: int32 now, int64 in older detector exports
            if data[n].dtype == np.int32:
                data[n] = data[n].astype(np.int64)
        if self.backend == 'onnxruntime':
            return dict(zip(self.output_names, self._session.run(None, data), strict=True))
        # the feeds are read in place and each output copied once (OpenVINO's defaults copy both, ~1 ms a frame)
        result = self._request.infer(data, share_inputs=True, share_outputs=True)
        return {o.get_any_name(): np.array(result[o]) for o in self._compiled.outputs}

    def require_task(self, task: str) -> None:
        """FormatError unless the export is of `task` ('segmentation' or 'occupancy')."""
        found = self.metadata.get('task')
        if found != task:
            raise FormatError(f'{self.path}: an exported {found or "unknown"} model, not a {task} model')


class ExportedSegmentor:
    """A CMX RGB-X segmentor exported by `omnifuse export`, with the attributes FrameSegmenter reads.

    Attributes:
        class_names, modality ('thermal', 'depth' or 'rgb'), x_channels, scale (the config's img_scale),
        max_depth, plane_depth, thermal_registration: as in the config the model was exported from.
    """

    def __init__(self, path: str | Path, *, backend: str | None = None, num_threads: int | None = 1) -> None:
        self.model = ExportedModel(path, backend=backend, num_threads=num_threads)
        self.model.require_task('segmentation')
        meta = self.model.metadata
        self.class_names = tuple(str(n) for n in meta['class_names'])
        self.modality = str(meta['modality'])
        self.x_channels = int(meta.get('x_channels', 1))
        self.scale = float(meta.get('img_scale', 1.0))
        self.max_depth = float(meta.get('max_depth', 80.0))
        self.plane_depth = float(meta.get('plane_depth', 15.0))
        self.thermal_registration = str(meta.get('thermal_registration', 'lidar'))

    def outputs(self, rgb: np.ndarray, x: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """'labels' (1, h, w) int64 and 'logits' (1, K, h, w) float32 of one image (see predict_labels)."""
        from omnifuse.datasets.rgbx_seg import rgbx_batch

        return self.model.run(rgbx_batch(rgb, x, x_channels=self.x_channels))

    def predict_labels(self, rgb: np.ndarray, x: np.ndarray | None = None) -> np.ndarray:
        """(h, w) int64 class ids of (h, w, 3) uint8 RGB and its registered X (None = missing)."""
        return self.outputs(rgb, x)['labels'][0].astype(np.int64)


class ExportedOccupancy:
    """A NearFieldOccupancyNet exported by `omnifuse export`.

    Attributes:
        image_scale: resize factor of the camera image; grid: the output BEVGrid; occupied_classes: names of
            labels 1..K (0 = free).
    """

    def __init__(self, path: str | Path, *, backend: str | None = None, num_threads: int | None = 1) -> None:
        from omnifuse.structures.bev_grid import BEVGrid

        self.model = ExportedModel(path, backend=backend, num_threads=num_threads)
        self.model.require_task('occupancy')
        meta = self.model.metadata
        self.image_scale = float(meta['image_scale'])
        self.grid = BEVGrid(float(meta['resolution']), float(meta['extent']))
        self.occupied_classes = tuple(str(n) for n in meta['occupied_classes'])

    def outputs(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """All graph outputs for one frame's `occupancy_inputs` (no batch dimension; one is added)."""
        return self.model.run({k: np.asarray(v)[None] for k, v in inputs.items()})

    def predict_inputs(self, inputs: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(G, G) int64 labels (0 free, 1.. occupied classes) and (G, G) float32 occupied probability."""
        out = self.outputs(inputs)
        return out['labels'][0].astype(np.int64), out['occupied_prob'][0].astype(np.float32)
