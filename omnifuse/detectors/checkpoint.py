"""Weights-only checkpoints: saved as plain tensors and types, loaded with `torch.load(weights_only=True)`.

Loading checks the keys and shapes against the model and fails with a `FormatError` that names the
missing, unexpected and mismatching keys (a checkpoint of another model or version never loads silently).
mmengine's training checkpoints (`epoch_N.pth`, with optimizer state) are accepted too, as long as
they unpickle in weights-only mode; only their `state_dict` is used.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from omnifuse.errors import FormatError

__all__ = ['save_weights', 'load_weights', 'read_state_dict', 'FORMAT_VERSION']

FORMAT_VERSION = 1


def save_weights(model: nn.Module, path: str | Path, *, meta: Mapping[str, object] | None = None) -> Path:
    """Write `{'state_dict', 'meta'}` with CPU tensors and plain meta values (str, int, float, lists)."""
    module = model.module if hasattr(model, 'module') else model
    state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    info = {'format_version': FORMAT_VERSION, 'model': type(module).__name__}
    info.update(dict(meta or {}))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({'state_dict': state, 'meta': info}, path)
    return path


def read_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint in weights-only mode -> (state_dict, meta)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, 'No such checkpoint', str(path))
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FormatError(f'{path}: not a weights-only checkpoint ({first}); export one with '
                          f'omnifuse.detectors.save_weights') from None
    if not isinstance(ckpt, Mapping):
        raise FormatError(f'{path}: expected a dict checkpoint, got {type(ckpt).__name__}')
    state = ckpt.get('state_dict', ckpt)
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FormatError(f'{path}: field "state_dict" must map names to tensors')
    meta = ckpt.get('meta', {})
    return dict(state), dict(meta) if isinstance(meta, Mapping) else {}


def _names(keys: list[str], limit: int = 8) -> str:
    shown = ', '.join(keys[:limit])
    return shown + (f', ... ({len(keys)} in all)' if len(keys) > limit else '')


def load_weights(model: nn.Module, path: str | Path) -> dict:
    """Load a checkpoint into `model` strictly; returns its meta.

    Raises:
        FormatError: naming the missing, unexpected and shape-mismatching keys.
    """
    state, meta = read_state_dict(path)
    module = model.module if hasattr(model, 'module') else model
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
        raise FormatError(f'{path}: checkpoint does not match the model ({meta.get("model", "?")} checkpoint); '
                          + '; '.join(parts))
    module.load_state_dict(state, strict=True)
    return meta
