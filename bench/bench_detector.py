"""Per-stage latency of the 3D detectors on a real KITTI scan (~120k points) and its camera image.

    python bench/bench_detector.py [--checkpoint-fast K] [--frames N]

Runs `omnifuse bench` for the fast default model (coarse voxels, LiDAR + camera) and for the full
KITTI-resolution LoGoNet config, and prints both tables. Untrained weights keep every proposal, so
they measure the worst case of the second stage.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from omnifuse.cli import main  # noqa: E402

CONFIGS = {
    'fast (default)': REPO / 'configs/logonet/fast_lidar-cam_1xb2-40e_kitti.py',
    'logonet full (KITTI grid)': REPO / 'configs/logonet/logonet_1xb2-40e_kitti.py',
}


def _run(config: Path, checkpoint: str, frames: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / 'bench.json'
        code = main(['bench', '--config', str(config), '--checkpoint', checkpoint, '--frames', str(frames),
                     '--json', str(out)])
        if code:
            raise SystemExit(code)
        return json.loads(out.read_text())


def cli() -> int:
    """Parse the arguments, time each model and print the table; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--checkpoint-fast', default='none', help='weights of the fast model (default: none)')
    parser.add_argument('--frames', type=int, default=10, help='timed runs per model (default: 10)')
    args = parser.parse_args()
    results = {}
    for name, config in CONFIGS.items():
        ckpt = args.checkpoint_fast if name.startswith('fast') else 'none'
        results[name] = _run(config, ckpt, args.frames)
    print('\nmodel                        total [ms]')
    for name, res in results.items():
        print(f'{name:<28s} {res["total_ms"]:9.1f}')
    return 0


if __name__ == '__main__':
    raise SystemExit(cli())
