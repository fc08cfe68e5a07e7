"""Latency of a detector on one frame: medians after warm-up, per stage, optionally with busy cores.

`benchmark` times a PyTorch `Detector` (imports torch); `benchmark_exported` an exported detector
(`omnifuse.deploy`, no torch); `busy_processes` occupies cores during a measurement, as on a robot where
drivers and planning share them. Used by `omnifuse bench` and bench/bench_deploy_detector.py.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ['benchmark', 'benchmark_exported', 'busy_processes']


@contextmanager
def busy_processes(n: int) -> Iterator[list[subprocess.Popen]]:
    """`n` single-threaded busy-loop processes, running while the block runs (stopped after it, also on errors)."""
    procs = [subprocess.Popen([sys.executable, '-c', 'while True: pass']) for _ in range(n)]
    try:
        time.sleep(0.2 if n else 0.0)  # let them get scheduled before the first timed run
        yield procs
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()


def benchmark(detector: object, frame: object, *, frames: int, warmup: int) -> dict:
    """Run `detector.model` on one prepared frame `frames + warmup` times -> medians in ms."""
    import torch
    from mmengine.dataset import pseudo_collate

    from omnifuse.datasets.det_dataset import frame_to_results
    from omnifuse.ops.timing import recording, stage

    model = detector.model  # type: ignore[attr-defined]
    res = frame_to_results(frame, use_camera=model.image_encoder is not None,  # type: ignore[arg-type]
                           use_thermal=model.thermal_encoder is not None, main_camera=detector.main_camera)  # type: ignore[attr-defined]
    batch = pseudo_collate([detector.pipeline(res)])  # type: ignore[attr-defined]
    totals: list[float] = []
    per_stage: dict[str, list[float]] = {}
    from tqdm import tqdm
    for i in tqdm(range(warmup + frames), desc='bench', unit='run'):
        with torch.no_grad(), recording() as rec:
            start = time.perf_counter()
            with stage('preprocess'):
                data = model.data_preprocessor(batch, False)
            model(**data, mode='predict')
            if torch.cuda.is_available() and torch.cuda.is_initialized():
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - start
        if i >= warmup:
            totals.append(elapsed * 1000)
            for name, sec in rec.seconds.items():
                per_stage.setdefault(name, []).append(sec * 1000)
    return {'total_ms': statistics.median(totals),
            'stages_ms': {k: statistics.median(v + [0.0] * (len(totals) - len(v))) for k, v in per_stage.items()},
            'frames': len(totals)}


def benchmark_exported(detector: object, frame: object, *, frames: int, warmup: int) -> dict:
    """Run an exported detector (omnifuse.deploy) on one frame `frames + warmup` times -> medians in ms, every
    step from the raw points and images to the boxes (its numpy steps and graphs)."""
    from tqdm import tqdm

    totals: list[float] = []
    per_stage: dict[str, list[float]] = {}
    for i in tqdm(range(warmup + frames), desc='bench', unit='run'):
        start = time.perf_counter()
        detector(frame)  # type: ignore[operator]
        elapsed = time.perf_counter() - start
        if i >= warmup:
            totals.append(elapsed * 1000)
            for name, ms in detector.exported.times.ms.items():  # type: ignore[attr-defined]
                per_stage.setdefault(name, []).append(ms)
    return {'total_ms': statistics.median(totals),
            'stages_ms': {k: statistics.median(v + [0.0] * (len(totals) - len(v))) for k, v in per_stage.items()},
            'frames': len(totals)}
