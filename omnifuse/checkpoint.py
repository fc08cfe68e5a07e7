"""Build a model from its mmengine config and load its weights safely.

Checkpoints are read with `torch.load(..., weights_only=True)`: only tensors and plain containers
are unpickled. A checkpoint of another model fails with a message that names the mismatching keys.
Shipped checkpoints live in `omnifuse/checkpoints/` next to the config they were trained with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from omnifuse.errors import FormatError
from omnifuse.registry import MODELS

__all__ = ['CHECKPOINT_DIR', 'CONFIG_DIR', 'build_model', 'load_weights', 'load_config', 'export_weights']

CHECKPOINT_DIR = Path(__file__).resolve().parent / 'checkpoints'


def _config_dir() -> Path:
    # Editable install / source checkout: <repo>/configs; colcon or wheel install: <prefix>/share/omnifuse/configs.
    import sys

    for candidate in (Path(__file__).resolve().parents[1] / 'configs', Path(sys.prefix) / 'share' / 'omnifuse' / 'configs'):
        if candidate.is_dir():
            return candidate
    return Path(__file__).resolve().parents[1] / 'configs'


CONFIG_DIR = _config_dir()


def load_config(config: str | Path) -> Any:
    """Read an mmengine config file (FileNotFoundError / FormatError naming it)."""
    from mmengine.config import Config

    config = Path(config)
    if not config.is_file():
        raise FileNotFoundError(2, 'No such config file', str(config))
    try:
        return Config.fromfile(str(config))
    except Exception as exc:  # mmengine raises many kinds on a bad config
        raise FormatError(f'{config}: cannot read the config: {type(exc).__name__}: {exc}') from None


def build_model(config: str | Path, *, checkpoint: str | Path | None = None, device: str | torch.device = 'cpu',
                expected_type: type | None = None) -> tuple[torch.nn.Module, Any]:
    """The config's `model` with the checkpoint's weights, in eval mode on `device`.

    Returns:
        (model, cfg).

    Raises:
        FileNotFoundError: config or checkpoint missing.
        FormatError: no model in the config, a model of another type, or weights that do not fit.
    """
    cfg = load_config(config)
    if 'model' not in cfg or not isinstance(cfg.model, dict):
        raise FormatError(f'{config}: no model dict in the config')
    model_cfg = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model)
    model = MODELS.build(model_cfg)
    if expected_type is not None and not isinstance(model, expected_type):
        raise FormatError(f'{config}: model type {model_cfg.get("type")!r} is not a {expected_type.__name__}')
    if checkpoint is not None:
        load_weights(model, checkpoint)
    return model.to(device).eval(), cfg


def load_weights(model: torch.nn.Module, checkpoint: str | Path) -> None:
    """Load a state dict (plain, or an mmengine checkpoint's 'state_dict') strictly into `model`."""
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(2, 'No such checkpoint', str(path))
    try:
        ckpt = torch.load(str(path), map_location='cpu', weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FormatError(f'{path}: not a loadable weights checkpoint ({first[:200]})') from None
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FormatError(f'{path}: expected a state dict of tensors (or a checkpoint with "state_dict")')
    state = {k[len('module.'):] if k.startswith('module.') else k: v.float() if v.is_floating_point() else v
             for k, v in state.items()}
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong_shape = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong_shape:
        parts = []
        if missing:
            parts.append(f'missing keys {missing[:4]}{" ..." if len(missing) > 4 else ""} ({len(missing)})')
        if unexpected:
            parts.append(f'unexpected keys {unexpected[:4]}{" ..." if len(unexpected) > 4 else ""} ({len(unexpected)})')
        if wrong_shape:
            k = wrong_shape[0]
            parts.append(f'shape mismatch at {k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}'
                         f' ({len(wrong_shape)} keys)')
        raise FormatError(f'{path}: weights do not fit the {type(model).__name__} of this config (wrong --config or '
                          f'another version?): ' + '; '.join(parts))
    model.load_state_dict(state, strict=True)


def export_weights(src: str | Path, dst: str | Path, *, half: bool = False) -> Path:
    """Strip an mmengine training checkpoint to its weights (a few MB, loadable with weights_only)."""
    ckpt = torch.load(str(src), map_location='cpu', weights_only=False)  # our own training output
    state = ckpt.get('state_dict', ckpt)
    state = {k: (v.half() if half and v.is_floating_point() else v).contiguous() for k, v in state.items()}
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save({'state_dict': state}, str(dst))
    return dst
