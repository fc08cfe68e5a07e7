"""Detectors (checkpoints or exports) side by side on one frame, in one process (docs/deploy.md "Fewer RoIs").

Usage: python bench/bench_detectors_side_by_side.py NAME=PATH[@OPT,...] [NAME=PATH ...] [--rounds 7] [--block 4]
    [--threads 2] [--json OUT]
KITTI 000000 (the real scan and its image) through each detector: a .pth as `apis.detection.open_detector` opens
it (PyTorch), a .onnx / .xml export through `deploy.detector_runtime.ExportedFrameDetector` on its runtime.
Options of an export after `@`, comma-separated: `bf16` (OpenVINO in bfloat16), `np1` / `np2` (numpy steps on one
thread / with a helper thread; default: by --threads), `overlap` / `inline` (the image graph in a worker thread
beside the numpy steps, or in line; default: by backend), `openvino` / `onnxruntime` (the runtime; default: by
suffix, OpenVINO reads .onnx files too), e.g. `ov=det.xml@bf16,inline`; `nofit` (a .pth too: the boxes as the
model gives them, without the config's box fitting, omnifuse.datasets.box_fit). The detectors take turns in blocks of
`--block` frames over `--rounds` rounds; the first round and the first frame of every block are dropped (warm-up,
and the shape change between detectors), so that a drift of machine load hits each alike. Prints the median and
10-90 % range per detector (and the exported paths' per-step medians) and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

import omnifuse  # noqa: F401  (before torch: OpenMP's wait policy)

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    """Parse the arguments, time the detectors side by side, print (and write) the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('detectors', nargs='+', metavar='NAME=PATH[@OPT,...]')
    parser.add_argument('--rounds', type=int, default=7)
    parser.add_argument('--block', type=int, default=4)
    parser.add_argument('--threads', type=int, default=2, help='torch threads, and the exported graphs\' threads')
    parser.add_argument('--kitti-root', default=str(REPO.parent / 'shared' / 'data' / 'kitti'))
    parser.add_argument('--frame', default='000000')
    parser.add_argument('--json', help='write the medians [ms] here')
    args = parser.parse_args()

    import torch

    from omnifuse.apis.detection import open_detector
    from omnifuse.datasets.box_fit import BoxFit
    from omnifuse.datasets.kitti import KittiReader
    from omnifuse.deploy.detector_runtime import ExportedFrameDetector

    torch.set_num_threads(args.threads)
    frame = KittiReader(args.kitti_root).read(args.frame)
    detectors = {}
    for spec in args.detectors:
        name, _, path = spec.partition('=')
        path, _, opts = path.partition('@')
        options = [o for o in opts.split(',') if o]
        unknown = sorted(set(options) - {'bf16', 'np1', 'np2', 'overlap', 'inline', 'openvino', 'onnxruntime',
                                         'nofit'})
        if not name or not path or unknown:
            parser.error(f'{spec!r}: expected NAME=PATH[@OPT,...] with OPT in bf16, np1, np2, overlap, inline, '
                         f'openvino, onnxruntime, nofit')
        if Path(path).suffix not in ('.onnx', '.xml'):
            if set(options) - {'nofit'}:
                parser.error(f'{spec!r}: options other than nofit are for exported detectors (.onnx / .xml)')
            detectors[name] = open_detector(checkpoint=path)
            if 'nofit' in options:
                detectors[name].box_fit = BoxFit()
            continue
        backend = next((o for o in options if o in ('openvino', 'onnxruntime')), None)
        detectors[name] = ExportedFrameDetector(
            path, backend=backend, num_threads=args.threads, precision='bf16' if 'bf16' in options else 'f32',
            numpy_threads=1 if 'np1' in options else 2 if 'np2' in options else None,
            overlap=True if 'overlap' in options else False if 'inline' in options else None,
            box_fit=BoxFit() if 'nofit' in options else None)
    load_before = os.getloadavg()[0]
    times: dict[str, list[float]] = {name: [] for name in detectors}
    steps: dict[str, list[dict[str, float]]] = {name: [] for name in detectors}
    for r in range(args.rounds):
        for name, detector in detectors.items():
            for k in range(args.block):
                start = time.perf_counter()
                detector(frame)
                if r >= 1 and k >= 1:
                    times[name].append((time.perf_counter() - start) * 1e3)
                    if hasattr(detector, 'exported'):  # the exported path's per-step times
                        steps[name].append(dict(detector.exported.times.ms))
    print(f'KITTI {args.frame}, {args.threads} threads, load {load_before:.1f} -> {os.getloadavg()[0]:.1f} '
          f'({os.cpu_count()} cores), {len(next(iter(times.values())))} frames each')
    for name, ms in times.items():
        print(f'  {name:24s} median {np.median(ms):6.1f} ms  (10-90 %: {np.percentile(ms, 10):.1f}-'
              f'{np.percentile(ms, 90):.1f})')
        if steps[name]:
            names = list(dict.fromkeys(k for s in steps[name] for k in s))
            print('    ' + ', '.join(f'{k} {np.median([s.get(k, 0.0) for s in steps[name]]):.1f}' for k in names))
    if args.json:
        Path(args.json).write_text(json.dumps({n: float(np.median(ms)) for n, ms in times.items()}, indent=1) + '\n')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
