"""Weights-only checkpoints: save, load strictly, and build a model from its config with them.

Checkpoints are read with `torch.load(..., weights_only=True)`: only tensors, plain containers and the
few plain-data types of an mmengine training checkpoint (numpy arrays and dtypes, mmengine's
HistoryBuffer of logged scalars) are unpickled, never arbitrary code. A checkpoint of another model or
version fails with a `FormatError` that names the missing, unexpected and shape-mismatching keys.
Shipped checkpoints live in `omnifuse/checkpoints/`, trained with the config of the same name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from omnifuse.errors import FormatError
from omnifuse.install_paths import CHECKPOINT_DIR, CONFIG_DIR
from omnifuse.registry import MODELS

__all__ = ['CHECKPOINT_DIR', 'CONFIG_DIR', 'FORMAT_VERSION', 'build_model', 'build_with_weights', 'load_config',
           'load_weights', 'read_state_dict', 'save_weights', 'export_weights', 'mmengine_safe_globals']

FORMAT_VERSION = 1


def mmengine_safe_globals() -> list[Any]:
    """The classes an mmengine 0.10 training checkpoint needs besides tensors (no code beyond these)."""
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer

    core = getattr(np, '_core', None) or np.core
    allowed: list[Any] = [HistoryBuffer, core.multiarray._reconstruct, core.multiarray.scalar, np.ndarray, np.dtype]
    allowed += [getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith('DType')]

    def history_method(obj: Any, name: str) -> Any:
        # mmengine pickles HistoryBuffer's statistics as getattr(HistoryBuffer, 'mean'); allow only that.
        if obj is not HistoryBuffer or name not in ('min', 'max', 'mean', 'current'):
            raise FormatError(f'checkpoint asks for attribute {name!r} of {obj!r}; refused')
        return getattr(obj, name)

    allowed.append((history_method, 'builtins.getattr'))
    return allowed


def _unwrapped(model: nn.Module) -> nn.Module:
    """The model inside a (Distributed)DataParallel-style wrapper (its `.module`), else `model`."""
    inner: nn.Module = getattr(model, 'module', model)
    return inner


def save_weights(model: nn.Module, path: str | Path, *, meta: Mapping[str, object] | None = None,
                 half: bool = False) -> Path:
    """Write `{'state_dict', 'meta'}` with CPU tensors (float16 when `half`) and plain meta values."""
    module = _unwrapped(model)
    state = {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu()).contiguous()
             for k, v in module.state_dict().items()}
    info = {'format_version': FORMAT_VERSION, 'model': type(module).__name__}
    info.update(dict(meta or {}))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({'state_dict': state, 'meta': info}, path)
    return path


def read_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint (ours or mmengine's) in weights-only mode -> (float state_dict, meta)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, 'No such checkpoint', str(path))
    try:
        with torch.serialization.safe_globals(mmengine_safe_globals()):
            ckpt = torch.load(str(path), map_location='cpu', weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ... on a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FormatError(f'{path}: not a weights-only checkpoint ({first[:200]})') from None
    if not isinstance(ckpt, Mapping):
        raise FormatError(f'{path}: expected a dict checkpoint, got {type(ckpt).__name__}')
    state = ckpt.get('state_dict', ckpt)
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FormatError(f'{path}: field "state_dict" must map names to tensors')
    state = {k[len('module.'):] if k.startswith('module.') else k: v.float() if v.is_floating_point() else v
             for k, v in state.items()}
    meta = ckpt.get('meta', {})
    return state, dict(meta) if isinstance(meta, Mapping) else {}


def _names(keys: list[str], limit: int = 8) -> str:
    shown = ', '.join(keys[:limit])
    return shown + (f', ... ({len(keys)} in all)' if len(keys) > limit else '')


def load_weights(model: nn.Module, path: str | Path) -> dict:
    """Load a checkpoint into `model` strictly; returns its meta.

    Raises:
        FormatError: naming the missing, unexpected and shape-mismatching keys.
    """
    state, meta = read_state_dict(path)
    module = _unwrapped(model)
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f'{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}'
              for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f'missing keys: {_names(missing)}')
        if unexpected:
            parts.append(f'unexpected keys: {_names(unexpected)}')
        if shapes:
            parts.append(f'shape mismatch: {_names(shapes, 4)}')
        raise FormatError(f'{path}: checkpoint does not match the model ({type(module).__name__} of this config, '
                          f'{meta.get("model", "?")} checkpoint; wrong --config or another version?): '
                          + '; '.join(parts))
    module.load_state_dict(state, strict=True)
    return meta


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
                expected_type: type | None = None) -> tuple[nn.Module, Any]:
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
    model, _ = build_with_weights(model_cfg, checkpoint=checkpoint, device=device, expected_type=expected_type,
                                  source=config)
    return model, cfg


def build_with_weights(model_cfg: Mapping[str, Any], *, checkpoint: str | Path | None, device: str | torch.device,
                       expected_type: type | None = None, source: str | Path = '<config>') -> tuple[nn.Module, dict]:
    """Build a model from its config dict and load the checkpoint's weights: the one place a model gets its
    weights (`build_model`, `omnifuse.apis.detection.load_detector`; training loads into its runner's model with
    `load_weights`).

    Args:
        model_cfg: the config's `model` (`type` and arguments).
        checkpoint: the weights, or None for the initial ones.
        device: where the model goes (eval mode).
        expected_type: refuse a model of another class.
        source: the config, named in errors.

    Returns:
        (model, the checkpoint's meta; {} without a checkpoint).

    Raises:
        FormatError: a model of another type, or weights that do not fit (names the keys) or were trained for other
            inputs (`check_inputs_match`).
    """
    model = MODELS.build(model_cfg)
    if expected_type is not None and not isinstance(model, expected_type):
        raise FormatError(f'{source}: model type {model_cfg.get("type")!r} is not a {expected_type.__name__}')
    meta: dict = {}
    if checkpoint is not None:
        meta = load_weights(model, checkpoint)
        check_inputs_match(model_cfg, meta, config=source, checkpoint=checkpoint)
    return model.to(device).eval(), meta


# Model settings that change what the weights mean although the tensors keep their shapes.
_INPUT_KEYS = ('modality', 'class_names')


def check_inputs_match(model_cfg: Mapping[str, Any], meta: Mapping[str, Any], *, config: str | Path,
                       checkpoint: str | Path) -> None:
    """Refuse weights trained for other inputs than the config's model (e.g. depth weights in a thermal
    model: same shapes, meaningless output), when the checkpoint records its training config."""
    text = meta.get('cfg')
    if not isinstance(text, str) or not text.strip():
        return
    from mmengine.config import Config

    try:
        trained = Config.fromstring(text, '.py').get('model') or {}
    except Exception:  # an unreadable recorded config says nothing either way
        return
    for key in _INPUT_KEYS:
        if key in trained and key in model_cfg and tuple(_as_tuple(trained[key])) != tuple(_as_tuple(model_cfg[key])):
            raise FormatError(f'checkpoint {checkpoint}: trained with model.{key} = {trained[key]!r}, but the config '
                              f'{config} has {model_cfg[key]!r}; pass the config it was trained with')


def _as_tuple(value: Any) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def export_weights(src: str | Path, dst: str | Path, *, half: bool = False, meta: Mapping[str, object] | None = None
                   ) -> Path:
    """Strip a training checkpoint to its weights (a few MB, loadable with weights_only)."""
    state, old_meta = read_state_dict(src)
    info = {'format_version': FORMAT_VERSION, **old_meta, **dict(meta or {})}
    state = {k: (v.half() if half and v.is_floating_point() else v).contiguous() for k, v in state.items()}
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save({'state_dict': state, 'meta': info}, str(dst))
    return dst
