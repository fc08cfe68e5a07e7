"""Training and testing from an mmengine config: the config with its command-line overrides, the mmengine
Runner with omnifuse's registries, and the hooks and pipeline steps of `omnifuse train` / `omnifuse test`.

    cfg = load_config('configs/logonet/fast_lidar_1xb2-4e_sim.py', options=['train_cfg.max_epochs=1'])
    runner = build_runner(cfg)
    runner.train()
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ['load_config', 'check_overrides', 'check_model_section', 'build_runner', 'make_progress_hook',
           'init_distributed', 'check_ranks_agree', 'finish_distributed', 'robustness_steps', 'make_writer_hook']


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


def init_distributed(cfg: Any) -> None:
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


def check_ranks_agree(model: Any) -> None:
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


def finish_distributed() -> None:
    """End the process group of `--launcher pytorch` (a barrier, then destroy); nothing without one."""
    # Without an orderly shutdown gloo's worker threads are torn down at interpreter exit, which aborts
    # the process ("terminate called without an active exception") and fails the torchrun job.
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


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

    from omnifuse.errors import FormatError
    from omnifuse.evaluation.kitti_convert import write_kitti_predictions

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    class KittiWriterHook(Hook):
        priority = 'LOW'

        def after_test_iter(self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
            for sample in outputs or []:  # DetSample (omnifuse.structures.det_sample)
                cam = sample.main_camera
                if sample.pred is None or cam is None:
                    raise FormatError(f'frame {sample.frame_id}: KITTI label files need the predictions and the '
                                      'main camera (T_cam_lidar, P, image size)')
                write_kitti_predictions(out / f'{sample.frame_id}.txt', sample.pred, class_names, cam.T_cam_lidar,
                                        cam.P, (cam.width, cam.height))

    return KittiWriterHook()
