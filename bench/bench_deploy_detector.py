"""The default detector end to end per backend, side by side: PyTorch vs the exported graphs (docs/benchmarks.md).

Usage: python bench/bench_deploy_detector.py [--runs 15] [--threads 2] [--busy 0] [--out DIR] [--sequential]
KITTI 000000 (the real 115k-point scan and its image) through `detector(frame)`: every step from the raw points
and image to the final boxes (the PyTorch path: its test pipeline, data preprocessor and model; the exported
path: its numpy steps and graphs, on ONNX Runtime, OpenVINO and OpenVINO in bfloat16). The shipped default
detector is exported to .onnx and OpenVINO .xml in DIR (a temporary folder by default). Backends run
interleaved round by round after 3 warm-up rounds, so that a change of machine load hits each alike; prints
the median and 10-90 % range, the exported path's per-step medians, each backend's peak memory (max RSS of a
fresh process running the same frame 5 times) and the load average.
With --sequential each exported backend is timed a second time with the other setting of `overlap` (the image
steps in a worker thread beside the LiDAR's numpy steps, or in line; the default depends on the backend),
interleaved with the rest.
mmdet3d's PointPillars is timed beside them when mmdet3d is installed (it is not on this machine).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import omnifuse  # noqa: F401  (before torch: see main)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get('OMNIFUSE_SHARED_DATA', REPO.parent / 'shared' / 'data'))

_PEAK = '''
import sys
import omnifuse
from omnifuse.datasets.kitti import KittiReader
frame = KittiReader(sys.argv[2], require_labels=False).read('000000')
if sys.argv[1] == 'torch':
    import torch
    torch.set_num_threads(int(sys.argv[3]))
    from omnifuse.apis.detection import Detector, load_detector
    model, cfg, _ = load_detector(None, None)
    det = Detector(model, cfg)
else:
    from omnifuse.deploy.detector_runtime import ExportedFrameDetector
    det = ExportedFrameDetector(sys.argv[1], num_threads=int(sys.argv[3]), precision=sys.argv[4])
for _ in range(5):
    det(frame)
# VmHWM, not ru_maxrss: the latter keeps the forking parent's size across exec
print(next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")) / 1024)
'''


def _peak_mb(which: str, threads: int, precision: str = 'f32') -> float:
    done = subprocess.run([sys.executable, '-c', _PEAK, which, str(SHARED / 'kitti'), str(threads), precision],
                          capture_output=True, text=True, cwd=REPO, check=True)
    return float(done.stdout.split()[-1])


def main() -> None:
    """Export, time and print (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', type=int, default=15)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--busy', type=int, default=0, help='busy-loop processes during the timing')
    parser.add_argument('--out', help='folder for the exported files (default: a temporary one)')
    parser.add_argument('--json', help='write the results here')
    parser.add_argument('--sequential', action='store_true',
                        help='also time each exported backend with the other overlap setting')
    args = parser.parse_args()
    import torch  # after omnifuse (module top), which sets OMP_WAIT_POLICY=PASSIVE before OpenMP loads

    from omnifuse.apis.benchmark import busy_processes
    from omnifuse.apis.detection import Detector, load_detector
    from omnifuse.datasets.kitti import KittiReader
    from omnifuse.deploy.detector_runtime import ExportedFrameDetector
    from omnifuse.deploy.export_detector import export_detector_files

    torch.set_num_threads(args.threads)
    out = Path(args.out or tempfile.mkdtemp(prefix='omnifuse-bench-det-'))
    files = {'onnxruntime': out / 'det.onnx', 'openvino': out / 'det.xml'}
    for backend, path in files.items():
        if not path.is_file():
            export_detector_files(None, None, path, fmt='onnx' if backend == 'onnxruntime' else 'openvino')
    frame = KittiReader(SHARED / 'kitti', require_labels=False).read('000000')
    model, cfg, _ = load_detector(None, None)
    detectors = {'torch': Detector(model, cfg)}
    for backend, path in files.items():
        detectors[backend] = ExportedFrameDetector(path, num_threads=args.threads)
        if backend == 'openvino':  # bfloat16 arithmetic (this CPU has AVX512-BF16): the fastest path
            detectors['openvino bf16'] = ExportedFrameDetector(path, num_threads=args.threads, precision='bf16')
        if args.sequential:
            other = not detectors[backend].exported.overlap
            detectors[f'{backend} overlap={other}'] = ExportedFrameDetector(path, num_threads=args.threads,
                                                                            overlap=other)
    if importlib.util.find_spec('mmdet3d') is not None:
        print('mmdet3d is installed: add its PointPillars here (not measured on this machine)')
    times: dict[str, list[float]] = {k: [] for k in detectors}
    steps: dict[str, dict[str, list[float]]] = {k: {} for k in detectors if k != 'torch'}
    load_before = os.getloadavg()[0]
    with busy_processes(args.busy):
        for round_ in range(3 + args.runs):
            for name, det in detectors.items():
                start = time.perf_counter()
                det(frame)
                ms = (time.perf_counter() - start) * 1000
                if round_ >= 3:
                    times[name].append(ms)
                    if name != 'torch':
                        for step, v in det.exported.times.ms.items():
                            steps[name].setdefault(step, []).append(v)
        load_after = os.getloadavg()[0]
    peaks = {'torch': _peak_mb('torch', args.threads)}
    peaks.update({b: _peak_mb(str(p), args.threads) for b, p in files.items()})
    peaks['openvino bf16'] = _peak_mb(str(files['openvino']), args.threads, 'bf16')
    peaks.update({name: peaks[name.split()[0]] for name in detectors if name not in peaks})
    result = {'threads': args.threads, 'busy': args.busy, 'load': [load_before, load_after], 'runs': args.runs,
              'median_ms': {k: statistics.median(v) for k, v in times.items()},
              'p10_p90_ms': {k: statistics.quantiles(v, n=10)[::8] for k, v in times.items()},
              'steps_ms': {k: {s: statistics.median(v) for s, v in d.items()} for k, d in steps.items()},
              'peak_rss_mb': peaks}
    print(f'KITTI 000000, {args.threads} threads, {args.busy} busy process(es), load {load_before:.1f} -> '
          f'{load_after:.1f} ({os.cpu_count()} cores), median of {args.runs} after 3 warm-up rounds')
    base = result['median_ms']['torch']
    for name, ms in result['median_ms'].items():
        lo, hi = result['p10_p90_ms'][name]
        print(f'  {name:<14s} {ms:8.1f} ms  (10-90 %: {lo:.1f}-{hi:.1f}; {base / ms:.2f}x torch)  '
              f'peak RSS {peaks[name]:.0f} MB')
    for name, d in result['steps_ms'].items():
        print(f'  {name} steps: ' + ', '.join(f'{s} {v:.1f}' for s, v in d.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + '\n')


if __name__ == '__main__':
    main()
