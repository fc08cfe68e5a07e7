"""Speed of one CMX forward pass on a 640x480 RGB + X pair (and of the RGB-only baseline).

Usage: python bench/bench_cmx.py [--runs 10] [--threads 2] [--device cpu] [--height 480 --width 640]
Prints, per config, the parameter count and the median / min wall time of `model(inputs)` in eval mode
under torch.no_grad (logits at full resolution), after two warm-up passes.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from omnifuse.segmentation.inference import build_segmentor

REPO = Path(__file__).resolve().parents[1]
CONFIGS = ('rgb_only', 'rgbt_cmx', 'rgbd_cmx')


def main() -> None:
    """Parse the arguments, time each config and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', type=int, default=10, help='timed passes per config (default: 10)')
    parser.add_argument('--threads', type=int, default=2, help='torch CPU threads (default: 2)')
    parser.add_argument('--device', default='cpu', help='torch device (default: cpu)')
    parser.add_argument('--height', type=int, default=480, help='image height (default: 480)')
    parser.add_argument('--width', type=int, default=640, help='image width (default: 640)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    h, w = args.height, args.width
    print(f'torch {torch.__version__}, device {args.device}, {args.threads} threads, input {w}x{h}, '
          f'{args.runs} runs')
    for name in CONFIGS:
        model, _ = build_segmentor(REPO / 'configs' / 'cmx' / f'{name}.py', device=args.device)
        inputs = {'rgb': torch.randn(1, 3, h, w, device=args.device),
                  'x': torch.rand(1, 1, h, w, device=args.device),
                  'x_valid': torch.ones(1, dtype=torch.bool, device=args.device)}
        times = []
        with torch.no_grad():
            for i in range(args.runs + 2):
                if args.device.startswith('cuda'):
                    torch.cuda.synchronize()
                start = time.perf_counter()
                model(inputs)
                if args.device.startswith('cuda'):
                    torch.cuda.synchronize()
                if i >= 2:
                    times.append(time.perf_counter() - start)
        params = sum(p.numel() for p in model.parameters())
        print(f'{name:9s}  {params / 1e6:5.2f} M params  median {1000 * statistics.median(times):7.1f} ms  '
              f'min {1000 * min(times):7.1f} ms')


if __name__ == '__main__':
    main()
