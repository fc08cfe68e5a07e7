"""`omnifuse test CONFIG CHECKPOINT`: evaluate a trained detector on the config's test set (KittiMetric).

The checkpoint is loaded weights-only and strictly (a mismatch names the keys). `--out DIR` also writes
one KITTI label file (16 columns, with score) per frame, ready for `omnifuse eval kitti`.
"""

from __future__ import annotations

import argparse

PATH = ('test',)
HELP = 'evaluate a detector checkpoint on the config\'s test set; --out writes KITTI label files'

__all__ = ['PATH', 'HELP', 'add_arguments', 'run']


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `omnifuse test`."""
    from omnifuse.commands.vocabulary import add_config_options, add_drop

    parser.add_argument('config', help='mmengine config file the checkpoint was trained with')
    parser.add_argument('checkpoint', help='weights (.pth; weights-only export or mmengine checkpoint)')
    parser.add_argument('--out', help='folder for one KITTI label file per frame (16 columns with score)')
    add_drop(parser, ('camera', 'thermal'), old=('--drop-camera',))
    parser.add_argument('--extrinsic-error', nargs=2, type=float, metavar=('DEG', 'M'),
                        help='robustness: perturb every camera\'s extrinsics by DEG degrees and M metres')
    parser.add_argument('--conditions', nargs='+', metavar='COND',
                        help='evaluate only simulator frames of these conditions (day, night, fog, ...)')
    add_config_options(parser)


def run(args: argparse.Namespace) -> int:
    """Evaluate; prints the metrics, returns 0."""
    from omnifuse.apis.training import build_runner, load_config, make_writer_hook, robustness_steps
    from omnifuse.detectors.checkpoint import load_weights

    cfg = load_config(args.config, options=args.cfg_options, data_root=args.data_root, work_dir=args.work_dir,
                      launcher=args.launcher)
    if cfg.get('test_dataloader') is None or cfg.get('test_cfg') is None:
        from omnifuse.errors import OmnifuseError
        raise OmnifuseError(f'{args.config}: the config has no test set (test_dataloader/test_cfg); '
                            'use `omnifuse detect` for this dataset')
    cfg.load_from = None
    cfg.resume = False
    dataset = cfg.test_dataloader.dataset
    extra = robustness_steps(list(args.drop), args.extrinsic_error)
    if extra:
        dataset.pipeline = extra + list(dataset.pipeline)
    if args.conditions:
        dataset.conditions = list(args.conditions)
    runner = build_runner(cfg)
    load_weights(runner.model, args.checkpoint)
    if args.out:
        runner.register_hook(make_writer_hook(args.out, list(cfg.model.class_names)))
    metrics = runner.test()
    for key, value in sorted((metrics or {}).items()):
        print(f'{key}: {value:.2f}' if isinstance(value, float) else f'{key}: {value}')
    if args.out:
        print(f'predictions: {args.out}')
    return 0
