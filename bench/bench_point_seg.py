"""Time one training iteration and one inference pass of the point segmentor, per fusion variant.

    .venv/bin/python bench/bench_point_seg.py --data-root data/sim_pointseg [--threads 1] [--repeats 5]

Uses the frames of the sim point-segmentation set (configs/pointseg/_base_pointseg_sim.py: 20k points in
range, 621 x 188 image, batch 2 for training, 1 for inference) and prints the median times in seconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    """Parse the arguments, time the point segmenter and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='data/sim_pointseg',
                        help='sim KITTI-layout root with velodyne_labels/ and ImageSets/val.txt')
    parser.add_argument('--threads', type=int, default=1, help='torch CPU threads (default 1)')
    parser.add_argument('--repeats', type=int, default=5,
                        help='timed repetitions after one warm-up (default 5)')
    args = parser.parse_args()

    import torch
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate

    import omnifuse.datasets.point_seg_dataset  # noqa: F401
    import omnifuse.segmentation.point_seg  # noqa: F401
    from omnifuse.registry import DATASETS, MODELS

    torch.set_num_threads(args.threads)
    print(f'threads={args.threads} repeats={args.repeats}')
    for name in ('lidar_only', 'point_to_pixel', 'bev_area'):
        cfg = Config.fromfile(str(REPO / 'configs' / 'pointseg' / f'{name}.py'))
        dcfg = dict(cfg.val_dataloader.dataset, data_root=args.data_root)
        ds = DATASETS.build(dcfg)
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        train_t, infer_t = [], []
        for r in range(args.repeats + 1):
            batch = pseudo_collate([ds[(2 * r) % len(ds)], ds[(2 * r + 1) % len(ds)]])
            model.train()
            t0 = time.perf_counter()
            data = model.data_preprocessor(batch, True)
            losses = model(**data, mode='loss')
            opt.zero_grad()
            sum(losses.values()).backward()
            opt.step()
            t1 = time.perf_counter()
            model.eval()
            one = pseudo_collate([ds[r % len(ds)]])
            with torch.no_grad():
                model(**model.data_preprocessor(one, False), mode='predict')
            t2 = time.perf_counter()
            if r:
                train_t.append(t1 - t0)
                infer_t.append(t2 - t1)
        params = sum(p.numel() for p in model.parameters())
        print(f'{name:15s} params {params / 1e6:.2f} M  '
              f'train iter (batch 2) {statistics.median(train_t):.2f} s  '
              f'inference (1 frame) {statistics.median(infer_t):.2f} s')


if __name__ == '__main__':
    main()
