"""`omnifuse bench`: per-stage latency of a detector on a KITTI-sized frame (medians after warm-up).

Stages (exclusive wall-clock times, summing to the model's forward): preprocess (batching, image
normalisation), voxelise, lidar_backbone, image_backbone, bev_neck, dense_head, nms (proposal and final
rotated NMS), fusion (GoF, LoF, FDA), roi_head (RoI-grid pooling and the rest of the second stage).
The data pipeline (file reading, transforms) is not part of the figure.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from omnifuse.commands.vocabulary import add_backend, add_json, add_precision, text_stream, write_json

PATH = ('bench',)
HELP = 'measure per-stage detector latency on a KITTI-sized frame (medians over --frames after warm-up)'

__all__ = ['PATH', 'HELP', 'add_arguments', 'run']


SHARED_KITTI = Path(__file__).resolve().parents[2].parent / 'shared' / 'data' / 'kitti'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `omnifuse bench`."""
    parser.add_argument('--config', help='model config (default: the shipped fast LiDAR + camera model)')
    parser.add_argument('--checkpoint', help='weights (default: the shipped checkpoint; "none": untrained '
                        'weights, which keep every proposal and so measure the worst case)')
    parser.add_argument('--frames', type=int, default=10, help='timed runs (default: 10)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed runs first (default: 2)')
    parser.add_argument('--kitti-root', default=str(SHARED_KITTI),
                        help=f'KITTI-layout folder holding the frame (default: {SHARED_KITTI})')
    parser.add_argument('--frame', default='000000', help='frame id (default: 000000, a full 120k-point scan)')
    parser.add_argument('--threads', type=int, default=0, help='torch CPU threads (default: 0 = torch default)')
    parser.add_argument('--device', default='cpu', help='torch device (default: cpu)')
    parser.add_argument('--busy', type=int, default=0, metavar='N',
                        help='start N busy-loop processes (one core each) for the measurement, as on a robot where '
                        'drivers and planning share the cores (default: 0)')
    add_backend(parser, note='; an exported detector (omnifuse export) is timed from raw points to boxes')
    add_precision(parser)
    add_json(parser, 'also write {"total_ms", "stages_ms", "frames", "busy", "load", "backend"} as JSON to FILE')


def _run_exported(args: argparse.Namespace, backend: str) -> int:
    from omnifuse.apis.benchmark import benchmark_exported, busy_processes
    from omnifuse.datasets.kitti import KittiReader
    from omnifuse.deploy.detector_runtime import ExportedFrameDetector
    from omnifuse.errors import OmnifuseError

    detector = ExportedFrameDetector(args.checkpoint, backend=backend, num_threads=args.threads or None,
                                     precision=args.precision)
    reader = KittiReader(args.kitti_root, require_labels=False)
    if args.frame not in reader:
        raise OmnifuseError(f'frame {args.frame!r} not in {args.kitti_root}')
    frame = reader.read(args.frame)
    with busy_processes(args.busy):
        result = benchmark_exported(detector, frame, frames=args.frames, warmup=args.warmup)
        result['load'] = os.getloadavg()[0]
    result['busy'] = args.busy
    result['backend'] = backend
    _report(args, result, frame, f'{backend} {args.precision} threads {args.threads or "default"}')
    return 0


def _report(args: argparse.Namespace, result: dict, frame: object, threads: str) -> None:
    n_img = len(frame.images)  # type: ignore[attr-defined]
    text = text_stream(args.json)
    print(f'frame {args.frame}: {len(frame.points)} points, {n_img} image(s); {result["frames"]} runs after '  # type: ignore[attr-defined]
          f'{args.warmup} warm-up; {threads}; device {args.device}; '
          f'{args.busy} busy process(es); load {result["load"]:.1f} ({os.cpu_count()} cores)', file=text)
    for name, ms in result['stages_ms'].items():
        print(f'  {name:<18s} {ms:9.1f} ms', file=text)
    print(f'  {"total":<18s} {result["total_ms"]:9.1f} ms', file=text)
    if args.json:
        write_json(args.json, result)


def run(args: argparse.Namespace) -> int:
    """Benchmark and print the table; returns 0."""
    from omnifuse.deploy.runtime import choose_backend
    from omnifuse.errors import OmnifuseError

    if args.frames < 1 or args.warmup < 0:
        raise OmnifuseError(f'--frames must be >= 1 and --warmup >= 0, got {args.frames} and {args.warmup}')
    if not 0 <= args.busy <= 64:
        raise OmnifuseError(f'--busy must be a number of processes from 0 to 64, got {args.busy}')
    backend = choose_backend(args.checkpoint, args.backend)
    if args.precision != 'f32' and backend != 'openvino':
        raise OmnifuseError(f'--precision {args.precision} runs an exported detector on openvino, not on {backend}')
    if backend != 'torch':  # the exported path imports no torch
        return _run_exported(args, backend)
    import torch

    from omnifuse.apis.benchmark import benchmark, busy_processes
    from omnifuse.apis.detection import Detector, load_detector
    from omnifuse.datasets.kitti import KittiReader
    if args.threads:
        torch.set_num_threads(args.threads)
    from omnifuse.ops.device import resolve_device

    model, cfg, _ = load_detector(args.config, args.checkpoint, device=resolve_device(args.device))
    reader = KittiReader(args.kitti_root)
    if args.frame not in reader:
        raise OmnifuseError(f'frame {args.frame!r} not in {args.kitti_root}')
    frame = reader.read(args.frame)
    detector = Detector(model, cfg)
    with busy_processes(args.busy):
        result = benchmark(detector, frame, frames=args.frames, warmup=args.warmup)
        result['load'] = os.getloadavg()[0]
    result['busy'] = args.busy
    result['backend'] = 'torch'
    _report(args, result, frame, f'torch threads {torch.get_num_threads()}')
    return 0
