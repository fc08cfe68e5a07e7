"""`omnifuse test CONFIG CHECKPOINT`: evaluate a trained detector on the config's test set (KittiMetric).

The checkpoint is loaded weights-only and strictly (a mismatch names the keys). `--out DIR` also writes
one KITTI label file (16 columns, with score) per frame, ready for `omnifuse eval kitti`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

PATH = ('test',)
HELP = 'evaluate a detector checkpoint on the config\'s test set; --out writes KITTI label files'

__all__ = ['PATH', 'HELP', 'add_arguments', 'run', 'make_writer_hook', 'robustness_steps']


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `omnifuse test`."""
    from omnifuse.commands.train import add_config_options
    from omnifuse.commands.vocabulary import add_drop

    parser.add_argument('config', help='mmengine config file the checkpoint was trained with')
    parser.add_argument('checkpoint', help='weights (.pth; weights-only export or mmengine checkpoint)')
    parser.add_argument('--out', help='folder for one KITTI label file per frame (16 columns with score)')
    add_drop(parser, ('camera', 'thermal'), old=('--drop-camera',))
    parser.add_argument('--extrinsic-error', nargs=2, type=float, metavar=('DEG', 'M'),
                        help='robustness: perturb every camera\'s extrinsics by DEG degrees and M metres')
    parser.add_argument('--conditions', nargs='+', metavar='COND',
                        help='evaluate only simulator frames of these conditions (day, night, fog, ...)')
    add_config_options(parser)


def robustness_steps(drop: list[str], extrinsic_error: tuple[float, float] | list[float] | None
                     ) -> list[dict[str, Any]]:
    """Pipeline steps to prepend for a robustness test: drop these modalities ('camera', 'thermal') in every
    frame, and/or perturb every camera's extrinsics by (degrees, metres) with a fixed seed."""
    unknown = set(drop) - {'camera', 'thermal'}
    if unknown:
        raise ValueError(f'cannot drop {sorted(unknown)}: the modalities are camera and thermal')
    steps: list[dict[str, Any]] = []
    if drop:
        steps.append(dict(type='RandomDropModality', camera_prob=float('camera' in drop),
                          thermal_prob=float('thermal' in drop)))
    if extrinsic_error:
        steps.append(dict(type='ExtrinsicNoise', rot_deg=float(extrinsic_error[0]),
                          trans_m=float(extrinsic_error[1]), seed=0))
    return steps


def make_writer_hook(out_dir: str | Path, class_names: list[str]) -> Any:
    """An mmengine hook writing each test sample's predictions as a KITTI label file in `out_dir`."""
    from mmengine.hooks import Hook

    from omnifuse.evaluation.kitti_convert import write_kitti_predictions

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    class KittiWriterHook(Hook):
        priority = 'LOW'

        def after_test_iter(self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
            for sample in outputs or []:
                pred = sample.pred_instances_3d
                write_kitti_predictions(out / f'{sample.frame_id}.txt', pred, class_names, sample.T_cam_lidar,
                                        sample.P, tuple(int(v) for v in sample.image_size))

    return KittiWriterHook()


def run(args: argparse.Namespace) -> int:
    """Evaluate; prints the metrics, returns 0."""
    from omnifuse.commands.train import build_runner, load_config
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
