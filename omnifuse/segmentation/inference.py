"""Build a CMX segmentor from its config and load its weights (for `omnifuse segment` and tools)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from omnifuse.errors import FormatError
from omnifuse.registry import MODELS
from omnifuse.segmentation.rgbx import CMXSegmentor

__all__ = ['build_segmentor', 'load_weights']


def build_segmentor(config: str | Path, *, checkpoint: str | Path | None = None,
                    device: str | torch.device = 'cpu') -> tuple[CMXSegmentor, Any]:
    """The config's `model`, with `checkpoint`'s weights when given, in eval mode on `device`.

    Returns:
        (model, cfg): the segmentor and the mmengine Config (for its dataset settings).

    Raises:
        FileNotFoundError: config or checkpoint missing.
        FormatError: the config has no CMXSegmentor model, or the checkpoint does not fit it.
    """
    from mmengine.config import Config

    config = Path(config)
    if not config.is_file():
        raise FileNotFoundError(2, 'No such config file', str(config))
    try:
        cfg = Config.fromfile(str(config))
    except Exception as exc:  # mmengine raises many kinds on a bad config
        raise FormatError(f'{config}: cannot read the config: {type(exc).__name__}: {exc}') from None
    if 'model' not in cfg or not isinstance(cfg.model, dict):
        raise FormatError(f'{config}: no model dict in the config')
    model_cfg = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model)
    model = MODELS.build(model_cfg)
    if not isinstance(model, CMXSegmentor):
        raise FormatError(f'{config}: model type {model_cfg.get("type")!r} is not a CMXSegmentor')
    if checkpoint is not None:
        load_weights(model, checkpoint)
    return model.to(device).eval(), cfg


def _checkpoint_globals() -> list[Any]:
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


def load_weights(model: torch.nn.Module, checkpoint: str | Path) -> None:
    """Load a state dict (plain, or an mmengine checkpoint's 'state_dict') strictly into `model`.

    Only tensors, plain containers and the few plain-data types of an mmengine training checkpoint
    (numpy arrays and dtypes, mmengine's HistoryBuffer of logged scalars) are unpickled: torch's
    weights_only loader with that allowlist, never arbitrary code.
    """
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(2, 'No such checkpoint', str(path))
    try:
        with torch.serialization.safe_globals(_checkpoint_globals()):
            ckpt = torch.load(str(path), map_location='cpu', weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FormatError(f'{path}: not a loadable weights checkpoint ({first[:200]})') from None
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FormatError(f'{path}: expected a state dict of tensors (or a checkpoint with "state_dict")')
    state = {k[len('module.'):] if k.startswith('module.') else k: v.float() if v.is_floating_point() else v
             for k, v in state.items()}
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatch
        raise FormatError(f'{path}: weights do not fit the model (wrong --config?): '
                          f'{str(exc).splitlines()[-1].strip()[:200]}') from None
    if result.missing_keys or result.unexpected_keys:
        raise FormatError(f'{path}: weights do not fit the model: missing {list(result.missing_keys)[:3]}, '
                          f'unexpected {list(result.unexpected_keys)[:3]} (wrong --config?)')
