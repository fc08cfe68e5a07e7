"""`omnifuse train CONFIG`: train a detector from an mmengine config (checkpoints, resume, logs, validation).

Single process by default; `--launcher pytorch` under `torchrun --nproc_per_node N` trains with DDP
(gloo on CPU, nccl on GPU). After training, the final weights are also exported weights-only
(`<work_dir>/weights.pth`, loadable with torch.load(weights_only=True), with the config embedded).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from omnifuse.commands.vocabulary import add_config_options

PATH = ('train',)
HELP = 'train a model (detector, segmentor, occupancy) from an mmengine config (checkpoints, --resume, DDP)'

__all__ = ['PATH', 'HELP', 'add_arguments', 'run']


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `omnifuse train`."""
    parser.add_argument('config', help='mmengine config file, e.g. configs/logonet/logonet_1xb2-40e_sim.py')
    add_config_options(parser)
    parser.add_argument('--resume', action='store_true',
                        help='continue from the last checkpoint in the work dir (chunk long trainings)')
    parser.add_argument('--load-from', help='initialise the weights from this weights-only checkpoint '
                        '(strict; no optimizer state)')
    parser.add_argument('--no-progress', action='store_true', help='no tqdm progress bar (logs only)')


def run(args: argparse.Namespace) -> int:
    """Train; returns 0 on success."""
    import torch

    from omnifuse.apis.training import (
        build_runner,
        check_ranks_agree,
        finish_distributed,
        init_distributed,
        load_config,
        make_progress_hook,
    )
    from omnifuse.checkpoint import mmengine_safe_globals
    from omnifuse.detectors.checkpoint import load_weights, save_weights

    cfg = load_config(args.config, options=args.cfg_options, data_root=args.data_root, work_dir=args.work_dir,
                      launcher=args.launcher)
    cfg.resume = bool(args.resume)
    cfg.load_from = None
    if args.launcher == 'pytorch':
        init_distributed(cfg)
    torch.set_num_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
    runner = build_runner(cfg)
    if args.load_from and not args.resume:
        load_weights(runner.model, args.load_from)  # weights-only, strict: a mismatch names the keys
    if not args.no_progress:
        runner.register_hook(make_progress_hook(), priority='VERY_LOW')
    # --resume reads the full training state (optimizer, message hub) of a checkpoint this command wrote into
    # the work dir, still with torch's weights-only loader: only the few mmengine/numpy classes it holds
    # are allowed (omnifuse.checkpoint.mmengine_safe_globals), no other code.
    with torch.serialization.safe_globals(mmengine_safe_globals()):
        runner.train()
    check_ranks_agree(runner.model)
    if runner.rank == 0:
        out = save_weights(runner.model, Path(cfg.work_dir) / 'weights.pth',
                           meta={'config': cfg.pretty_text, 'class_names': list(cfg.model.get('class_names', [])),
                                 'epoch': int(runner.epoch), 'iter': int(runner.iter)})
        print(f'weights-only checkpoint: {out}')
    finish_distributed()
    return 0
