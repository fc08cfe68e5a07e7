"""Speed of the exported models per backend, side by side with PyTorch (docs/deploy.md).

Usage: python bench/bench_deploy.py [--runs 30] [--threads 1] [--out DIR]
One CMX RGB-thermal pair (the real MFNet 01234N pair when ../shared/data is there, else a simulated frame) at
the config's image scale, and one simulated near-field occupancy frame. Each model is exported to .onnx and
OpenVINO .xml in DIR (a temporary folder by default); each backend predicts the same inputs (numpy in, class
ids out: the model call of `FrameSegmenter.predict_labels` / `NearFieldOccupancyPredictor.predict_inputs`,
the shared preprocessing excluded) `--runs` times after 3 warm-up runs, interleaved round by round so that a
change of machine load hits every backend alike. Prints the median and the 10-90 % range in ms, the threads,
and the 1-minute load average before and after (the CPU may be shared).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from omnifuse.apis.occupancy import NearFieldOccupancyPredictor
from omnifuse.apis.segmentation import FrameSegmenter
from omnifuse.datasets.rgbx_seg import scale_rgbx
from omnifuse.datasets.sim import generate_frame
from omnifuse.deploy.export import export_model

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get('OMNIFUSE_SHARED_DATA', REPO.parent / 'shared' / 'data'))


def _pair(segmenter: FrameSegmenter) -> tuple[str, np.ndarray, np.ndarray]:
    from omnifuse.datasets.rgbt import normalize_thermal, read_mfnet

    path = SHARED / 'rgbt' / 'MFNet' / '01234N.png'
    if path.is_file():
        sample = read_mfnet(path)
        x = normalize_thermal(sample.thermal, valid=sample.thermal > 0)
        rgb, x = scale_rgbx(sample.rgb, x, segmenter.scale)
        return f'MFNet 01234N at scale {segmenter.scale}', rgb, x
    inputs = segmenter.inputs(generate_frame(5, condition='night'))
    return 'simulated night frame', inputs.rgb, inputs.x


def _time(fns: dict[str, object], runs: int) -> dict[str, list[float]]:
    for fn in fns.values():
        for _ in range(3):
            fn()  # type: ignore[operator]
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()  # type: ignore[operator]
            times[name].append(1000 * (time.perf_counter() - t0))
    return times


def _report(title: str, times: dict[str, list[float]]) -> None:
    print(title)
    base = statistics.median(times['torch'])
    for name, t in times.items():
        q = np.percentile(t, [10, 90])
        med = statistics.median(t)
        print(f'  {name:12s} median {med:7.1f} ms  (10-90 %: {q[0]:.1f}-{q[1]:.1f})  x{base / med:.2f} vs torch')


def main() -> None:
    """Parse the arguments, time each backend and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', type=int, default=30, help='timed runs per backend (default: 30)')
    parser.add_argument('--threads', type=int, default=1, help='CPU threads of every backend (default: 1)')
    parser.add_argument('--out', help='folder for the exported files (default: a temporary folder)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    backends = ['onnxruntime'] + (['openvino'] if importlib.util.find_spec('openvino') else [])
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        out.mkdir(parents=True, exist_ok=True)
        files = {}
        for name, config in (('cmx_rgbt', 'cmx/rgbt_cmx.py'), ('nearfield', 'occupancy/nearfield_fused_sim.py')):
            export_model(REPO / 'configs' / config, None, out / f'{name}.onnx')
            files[name, 'onnxruntime'] = out / f'{name}.onnx'
            if 'openvino' in backends:
                export_model(REPO / 'configs' / config, None, out / f'{name}.xml', fmt='openvino')
                files[name, 'openvino'] = out / f'{name}.xml'

        seg = {'torch': FrameSegmenter(num_threads=args.threads)}
        seg.update({b: FrameSegmenter(checkpoint=files['cmx_rgbt', b], num_threads=args.threads) for b in backends})
        what, rgb, x = _pair(seg['torch'])
        seg_times = _time({b: (lambda s=s: s.predict_labels(rgb, x)) for b, s in seg.items()}, args.runs)

        from omnifuse.datasets.occupancy_dataset import occupancy_inputs

        occ = {'torch': NearFieldOccupancyPredictor()}
        occ.update({b: NearFieldOccupancyPredictor(checkpoint=files['nearfield', b], num_threads=args.threads)
                    for b in backends})
        frame = generate_frame(424242, scenario='parking', condition='night')
        calib = frame.calib
        inputs = occupancy_inputs(frame.images['image_2'], calib.cameras['image_2'], frame.ultrasonic,
                                  calib.ultrasonic, occ['torch'].grid, image_scale=occ['torch'].image_scale)
        occ_times = _time({b: (lambda p=p: p.predict_inputs(inputs)) for b, p in occ.items()}, args.runs)
    load1 = os.getloadavg()[0]
    print(f'torch {torch.__version__}, {args.threads} thread(s) per backend, {args.runs} runs, '
          f'{os.cpu_count()} CPUs; 1-min load average {load0:.2f} before, {load1:.2f} after')
    _report(f'CMX RGB-thermal, {what}: {rgb.shape[1]}x{rgb.shape[0]} in, class ids out', seg_times)
    _report(f'near-field occupancy, simulated parking frame: image {inputs["image"].shape[2]}x'
            f'{inputs["image"].shape[1]} + ultrasonic, 200x200 grid out', occ_times)


if __name__ == '__main__':
    main()
