"""INT8 static quantisation of an exported detector's convolutions (ONNX Runtime), calibrated on scans.

The first-stage graph (BEV neck and centre head) and the camera graph are quantised: their convolutions run
in INT8 (QDQ format, weights per channel, activations with ranges from calibration scans). The sparse matrix
products, the gathers and the second stage stay float32 (quantising the matrix products measured no faster:
their inputs are gathered per scan, so each would be quantised at run time). Calibrate on training scans,
never on the validation ones.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from omnifuse.deploy.detector_runtime import ExportedFrameDetector, stage_files
from omnifuse.errors import FormatError

__all__ = ['QUANTISED_STAGES', 'quantize_detector']

QUANTISED_STAGES = ('first', 'camera', 'thermal')
_OPS = ['Conv', 'ConvTranspose']


class _Recorder:
    """Wraps a stage runner (an `ExportedModel`) and keeps the feeds of every call that its graph takes
    (calibration data)."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.feeds: list[dict[str, np.ndarray]] = []

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.feeds.append({k: np.ascontiguousarray(feeds[k]) for k in self.runner.input_names})
        return self.runner.run(feeds)


def quantize_detector(src: str | Path, dst: str | Path, frames: Iterable[Any]) -> list[Path]:
    """Write an INT8 copy of the exported detector `src` (.onnx) at `dst`, calibrated on `frames`
    (`SensorFrame`s with their cameras). Returns the files written."""
    try:
        import onnx
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError:
        raise FormatError('INT8 needs onnx and onnxruntime: pip install "omnifuse[deploy]"') from None
    src, dst = Path(src), Path(dst)
    if src.suffix.lower() != '.onnx' or dst.suffix.lower() != '.onnx':
        raise FormatError(f'INT8 quantisation reads and writes .onnx files (got {src} -> {dst})')
    detector = ExportedFrameDetector(src, num_threads=1)
    recorders = {name: _Recorder(runner) for name, runner in detector.exported.runners.items()
                 if name in QUANTISED_STAGES}
    detector.exported.runners = {**detector.exported.runners, **recorders}
    count = 0
    for frame in frames:
        detector(frame)
        count += 1
    if count == 0:
        raise FormatError('INT8 quantisation needs at least one calibration scan')

    class _Reader(CalibrationDataReader):
        def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
            self._it = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    src_files = stage_files(src, list(detector.exported.runners))
    dst_files = stage_files(dst, list(detector.exported.runners))
    dst.parent.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix='omnifuse-int8-') as tmp:
        for stage, file in src_files.items():
            rec = recorders.get(stage)
            if rec is None or not rec.feeds:  # not quantised (or never run: a missing camera)
                shutil.copyfile(file, dst_files[stage])
                written.append(dst_files[stage])
                continue
            pre = Path(tmp) / f'{stage}.onnx'
            quant_pre_process(str(file), str(pre), skip_symbolic_shape=True)
            quantize_static(str(pre), str(dst_files[stage]), _Reader(rec.feeds), quant_format=QuantFormat.QDQ,
                            op_types_to_quantize=_OPS, per_channel=True, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8)
            model = onnx.load(str(dst_files[stage]))
            props = {p.key: p.value for p in onnx.load(str(file), load_external_data=False).metadata_props}
            props['precision'] = '"int8"'
            props['calibration_scans'] = str(count)
            onnx.helper.set_model_props(model, props)
            onnx.save(model, str(dst_files[stage]))
            written.append(dst_files[stage])
    return written
