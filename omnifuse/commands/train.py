"""`omnifuse train CONFIG`: train a detector from an mmengine config (checkpoints, resume, logs, validation).

Single process by default; `--launcher pytorch` under `torchrun --nproc_per_node N` trains with DDP
(gloo on CPU, nccl on GPU). After training, the final weights are also exported weights-only
(`<work_dir>/weights.pth`, loadable with torch.load(weights_only=True), with the config embedded).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

PATH = ('train',)
HELP = 'train a model (detector, segmentor, occupancy) from an mmengine config (checkpoints, --resume, DDP)'

__all__ = ['PATH', 'HELP', 'add_arguments', 'run', 'load_config', 'add_config_options', 'build_runner',
           'make_progress_hook']


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by train/test: --cfg-options, --data-root, --work-dir, --launcher."""
    parser.add_argument('--work-dir', help='folder for logs and checkpoints (default: work_dirs/<config name>)')
    parser.add_argument('--data-root', help='dataset root for every dataloader of the config (a KITTI-layout '
                        'folder for the kitti/sim configs, the KITTI-format Waymo root for waymo)')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='override config entries, e.g. train_cfg.max_epochs=2 '
                        'train_dataloader.batch_size=1 (data_root=DIR sets every dataloader\'s root)')
    parser.add_argument('--launcher', choices=['none', 'pytorch'], default='none',
                        help='none: one process; pytorch: distributed, started by torchrun (default: none)')


def _parse_options(items: list[str]) -> dict[str, Any]:
    from mmengine.config import DictAction

    action = DictAction(option_strings=['--cfg-options'], dest='cfg_options')
    ns = argparse.Namespace()
    try:
        action(argparse.ArgumentParser(), ns, items)
    except (ValueError, SyntaxError) as exc:
        from omnifuse.errors import OmnifuseError
        raise OmnifuseError(f'--cfg-options: cannot parse {items}: {exc}') from None
    return dict(ns.cfg_options or {})


def _set_data_root(cfg: Any, root: str) -> None:
    cfg.data_root = root
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader and loader.get('dataset') is not None:
            loader['dataset']['data_root'] = root


def _lookup(cfg: Any, dotted: str) -> tuple[bool, Any]:
    """(found, value) of a dotted key such as 'train_cfg.max_epochs' in the config."""
    node: Any = cfg
    for part in dotted.split('.'):
        if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif hasattr(node, 'get') and part in node:
            node = node[part]
        else:
            return False, None
    return True, node


def check_overrides(cfg: Any, opts: dict[str, Any]) -> None:
    """Refuse `--cfg-options` values of another kind than the config's own value (a word for a number)."""
    from omnifuse.errors import OmnifuseError

    for key, value in opts.items():
        found, old = _lookup(cfg, key)
        if not found or old is None or isinstance(old, str):
            continue
        if isinstance(old, bool) and not isinstance(value, bool):
            raise OmnifuseError(f'--cfg-options {key}={value!r}: expected True or False (the config has {old})')
        if isinstance(old, (int, float)) and not isinstance(old, bool) and (
                isinstance(value, (str, bool)) or value is None):
            raise OmnifuseError(f'--cfg-options {key}={value!r}: expected a number (the config has {old})')


def check_model_section(cfg: Any, path: str) -> None:
    """The config must build a registered model: a `model` dict whose `type` omnifuse (or mmengine) knows."""
    from omnifuse.errors import OmnifuseError
    from omnifuse.registry import MODELS

    model = cfg.get('model')
    if not hasattr(model, 'get') or not model.get('type'):
        raise OmnifuseError(f'{path}: the config defines no model (a `model = dict(type=...)` section); '
                            'see configs/ for complete configs')
    kind = model['type']
    if isinstance(kind, str) and MODELS.get(kind) is None:
        import omnifuse.detectors  # noqa: F401  (importing registers every model part)
        import omnifuse.segmentation  # noqa: F401

        known = sorted(k for k, v in MODELS.module_dict.items() if hasattr(v, 'forward')
                       and any(b.__name__ == 'BaseModel' for b in getattr(v, '__mro__', ())))
        if MODELS.get(kind) is None:
            raise OmnifuseError(f'{path}: model type {kind!r} is not registered (models: {", ".join(known)})')


def load_config(path: str, *, options: list[str] | None = None, data_root: str | None = None,
                work_dir: str | None = None, launcher: str = 'none') -> Any:
    """Read an mmengine config, check it builds a known model, and apply the command-line overrides.

    Raises:
        FileNotFoundError: the config file is missing.
        FormatError / OmnifuseError: the config cannot be parsed, defines no registered model, or an override
            has the wrong kind of value (the message names the file or the option).
    """
    from omnifuse.checkpoint import load_config as read_config

    cfg = read_config(path)
    check_model_section(cfg, path)
    opts = _parse_options(list(options or []))
    root_opt = opts.pop('data_root', None)
    if opts:
        check_overrides(cfg, opts)
        cfg.merge_from_dict(opts)
    root = data_root or root_opt
    if root:
        _set_data_root(cfg, str(root))
    cfg.work_dir = work_dir or cfg.get('work_dir') or str(Path('work_dirs') / Path(path).stem)
    cfg.launcher = launcher
    return cfg


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `omnifuse train`."""
    parser.add_argument('config', help='mmengine config file, e.g. configs/logonet/logonet_1xb2-40e_sim.py')
    add_config_options(parser)
    parser.add_argument('--resume', action='store_true',
                        help='continue from the last checkpoint in the work dir (chunk long trainings)')
    parser.add_argument('--load-from', help='initialise the weights from this weights-only checkpoint '
                        '(strict; no optimizer state)')
    parser.add_argument('--no-progress', action='store_true', help='no tqdm progress bar (logs only)')


def _visualizer() -> dict:
    backends: list[dict] = [dict(type='LocalVisBackend')]
    try:
        import tensorboard  # noqa: F401
        backends.append(dict(type='TensorboardVisBackend'))
    except ImportError:
        pass
    return dict(type='Visualizer', vis_backends=backends, name='omnifuse_visualizer')


def build_runner(cfg: Any) -> Any:
    """An mmengine Runner for `cfg` (registries of omnifuse imported, visualiser with TensorBoard if present)."""
    from mmengine.runner import Runner

    import omnifuse.datasets.det_dataset  # noqa: F401
    import omnifuse.datasets.transforms  # noqa: F401
    import omnifuse.detectors  # noqa: F401  (registers the model parts)

    if cfg.get('visualizer') is None:
        cfg.visualizer = _visualizer()
    return Runner.from_cfg(cfg)


def make_progress_hook() -> Any:
    """An mmengine hook showing a tqdm bar over the training iterations (rank 0 only)."""
    from mmengine.dist import get_rank
    from mmengine.hooks import Hook
    from tqdm import tqdm

    class TqdmHook(Hook):
        priority = 'VERY_LOW'

        def before_train(self, runner: Any) -> None:
            self.bar = tqdm(total=runner.max_iters, initial=runner.iter, desc='train', unit='it',
                            disable=get_rank() != 0, dynamic_ncols=True)

        def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
            if outputs:
                loss = outputs.get('loss', 0.0)
                loss = float(loss.detach()) if hasattr(loss, 'detach') else float(loss)
                self.bar.set_postfix(loss=f'{loss:.3f}', epoch=runner.epoch + 1)
            self.bar.update(1)

        def after_train(self, runner: Any) -> None:
            self.bar.close()

    return TqdmHook()


def _init_distributed(cfg: Any) -> None:
    """Start the process group for `--launcher pytorch`: nccl on GPUs, gloo on CPUs.

    mmengine 0.10 always calls torch.cuda.set_device, which fails on a CPU-only torch; on CPU the group is
    started here (mmengine then finds it initialised) and DDP gets no device ids.
    """
    import torch
    import torch.distributed as dist

    cuda = torch.cuda.is_available()
    env = cfg.setdefault('env_cfg', {})
    env.setdefault('dist_cfg', {})['backend'] = 'nccl' if cuda else 'gloo'
    if cuda:
        return
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def _check_ranks_agree(model: Any) -> None:
    """Under DDP, check that every rank ends with the same parameters (prints one line on rank 0)."""
    import torch
    from mmengine.dist import all_gather, get_rank, get_world_size

    world = get_world_size()
    if world <= 1:
        return
    module = model.module if hasattr(model, 'module') else model
    flat = torch.cat([p.detach().reshape(-1).double().cpu() for p in module.parameters()])
    probe = torch.stack([flat.sum(), flat.square().sum(), (flat * torch.arange(len(flat), dtype=flat.dtype)).sum()])
    probes = all_gather(probe)
    spread = max(float((p - probes[0]).abs().max()) for p in probes)
    if get_rank() == 0:
        print(f'DDP check: {world} ranks, parameter checksums {probes[0].tolist()}, max difference {spread:.3g}')
    if spread > 1e-6 * max(1.0, float(probes[0].abs().max())):
        from omnifuse.errors import OmnifuseError
        raise OmnifuseError(f'DDP check failed: the {world} ranks ended with different parameters '
                            f'(max checksum difference {spread:.3g})')


def run(args: argparse.Namespace) -> int:
    """Train; returns 0 on success."""
    import torch

    from omnifuse.checkpoint import mmengine_safe_globals
    from omnifuse.detectors.checkpoint import load_weights, save_weights

    cfg = load_config(args.config, options=args.cfg_options, data_root=args.data_root, work_dir=args.work_dir,
                      launcher=args.launcher)
    cfg.resume = bool(args.resume)
    cfg.load_from = None
    if args.launcher == 'pytorch':
        _init_distributed(cfg)
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
    _check_ranks_agree(runner.model)
    if runner.rank == 0:
        out = save_weights(runner.model, Path(cfg.work_dir) / 'weights.pth',
                           meta={'config': cfg.pretty_text, 'class_names': list(cfg.model.get('class_names', [])),
                                 'epoch': int(runner.epoch), 'iter': int(runner.iter)})
        print(f'weights-only checkpoint: {out}')
    _finish_distributed()
    return 0


def _finish_distributed() -> None:
    # Without an orderly shutdown gloo's worker threads are torn down at interpreter exit, which aborts
    # the process ("terminate called without an active exception") and fails the torchrun job.
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
