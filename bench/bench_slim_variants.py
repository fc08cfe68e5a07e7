"""How much graph time narrower or shallower versions of the default detector would save (issue: real time on a
CPU), before training any of them: each variant is the shipped default's config with other widths or depths,
built with untrained weights, exported to OpenVINO and timed on KITTI 000000 beside the shipped default's export.

Untrained weights give other boxes, so only the graphs are compared (their work does not depend on the weights:
the RoI graph always gets the default's 32 proposals on this scan); the numpy steps (levelling, voxels, tables,
NMS, RoI inputs, box fitting) are the default's and are reported once, from the shipped model.

    python bench/bench_slim_variants.py --rounds 8 --precision bf16 --json work_dirs/slim/bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
GRAPHS = ('first stage graph', 'RoI graph', 'camera graph')

# name -> overrides of the default config's `model` (widths: the sparse levels' channels, the BEV neck's filters and
# outputs, the heads; depth: the sparse blocks per level). The RoI head's inputs follow the encoder and neck.
VARIANTS: dict[str, dict[str, Any]] = {
    'default widths (untrained)': {},
    'sparse blocks at level 3 only': dict(lidar_encoder=dict(blocks=[0, 0, 0, 1])),
    '3/4 width': dict(lidar_encoder=dict(channels=[16, 24, 48, 48], out_channels=96),
                      bev_neck=dict(num_filters=[48, 96], out_channels=[48, 48]), dense_head=dict(head_channels=48),
                      roi_head=dict(level_channels={'x_conv3': 48, 'x_conv4': 48}, bev_channels=96)),
    '1/2 width': dict(lidar_encoder=dict(channels=[16, 16, 32, 32], out_channels=64),
                      bev_neck=dict(num_filters=[32, 64], out_channels=[32, 32]), dense_head=dict(head_channels=32),
                      roi_head=dict(level_channels={'x_conv3': 32, 'x_conv4': 32}, bev_channels=64)),
    '3/4 width, level-3 blocks only': dict(
        lidar_encoder=dict(channels=[16, 24, 48, 48], out_channels=96, blocks=[0, 0, 0, 1]),
        bev_neck=dict(num_filters=[48, 96], out_channels=[48, 48]), dense_head=dict(head_channels=48),
        roi_head=dict(level_channels={'x_conv3': 48, 'x_conv4': 48}, bev_channels=96)),
}


def _export_variant(base: Any, overrides: dict[str, Any], out: Path) -> None:
    """Export the config `base` (not changed) with `overrides` of its model, untrained weights, to `out`."""
    import copy

    import torch

    from omnifuse.checkpoint import build_with_weights
    from omnifuse.deploy.export_detector import example_scan, export_detector

    cfg = copy.deepcopy(base)
    cfg.merge_from_dict({'model': overrides})
    torch.manual_seed(0)
    model, _ = build_with_weights(cfg.model, checkpoint=None, device='cpu', source='variant')
    points, cameras = example_scan(0)
    export_detector(model, cfg, out, fmt='openvino', opset=17, config_name='variant', checkpoint_name='untrained',
                    points=points, cameras=cameras)


def main() -> int:
    """Export every variant, time them side by side and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rounds', type=int, default=8, help='rounds over all variants (the first is warm-up)')
    parser.add_argument('--block', type=int, default=3, help='frames of one variant in a row per round')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--precision', choices=['f32', 'bf16'], default='bf16')
    parser.add_argument('--kitti-root', default=str(REPO.parent / 'shared' / 'data' / 'kitti'))
    parser.add_argument('--json', help='write the medians [ms] here')
    args = parser.parse_args()

    from omnifuse.apis.detection import load_detector
    from omnifuse.datasets.kitti import KittiReader
    from omnifuse.deploy.detector_runtime import ExportedFrameDetector

    frame = KittiReader(args.kitti_root).read('000000')
    _, base, _ = load_detector(None, None)  # the shipped default's config
    detectors = {}
    with tempfile.TemporaryDirectory(prefix='omnifuse-slim-') as tmp:
        for i, (name, overrides) in enumerate(VARIANTS.items()):
            path = Path(tmp) / f'v{i}' / 'det.xml'
            _export_variant(base, overrides, path)
            detectors[name] = ExportedFrameDetector(path, num_threads=args.threads, precision=args.precision)
        from omnifuse.deploy.export_detector import export_detector_files

        shipped = Path(tmp) / 'shipped' / 'det.xml'
        export_detector_files(None, None, shipped, fmt='openvino')
        detectors = {'shipped default': ExportedFrameDetector(shipped, num_threads=args.threads,
                                                              precision=args.precision), **detectors}
        times: dict[str, list[dict[str, float]]] = {n: [] for n in detectors}
        load_before = os.getloadavg()[0]
        for r in range(args.rounds):
            for name, det in detectors.items():
                for k in range(args.block):
                    start = time.perf_counter()
                    det(frame)
                    total = (time.perf_counter() - start) * 1e3
                    if r and k:
                        times[name].append({**det.exported.times.ms, 'frame': total})
    print(f'KITTI 000000, {args.threads} threads, {args.precision}, load {load_before:.1f} -> '
          f'{os.getloadavg()[0]:.1f} ({os.cpu_count()} cores), {len(times["shipped default"])} frames each')
    medians = {n: {k: float(np.median([t.get(k, 0.0) for t in ts])) for k in ts[0]} for n, ts in times.items()}
    base = medians['shipped default']
    numpy_ms = base['frame'] - sum(base.get(g, 0.0) for g in GRAPHS)
    print(f'numpy steps of the shipped default (frame minus its graphs): {numpy_ms:.1f} ms')
    print('| model | first stage | RoI graph | camera | graphs | frame with the default\'s numpy steps |')
    print('|---|---|---|---|---|---|')
    for name, m in medians.items():
        graphs = sum(m.get(g, 0.0) for g in GRAPHS)
        print(f'| {name} | {m["first stage graph"]:.1f} | {m["RoI graph"]:.1f} | {m.get("camera graph", 0.0):.1f} '
              f'| {graphs:.1f} | {graphs + numpy_ms:.1f} |')
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(medians, indent=1))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
