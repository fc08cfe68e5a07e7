"""The torch device a user named, checked: a typo or a GPU this torch cannot use is a clear error, not a
traceback from deep inside the first model call."""

from __future__ import annotations

import torch

from omnifuse.errors import OmnifuseError

__all__ = ['resolve_device']


def resolve_device(text: str | None, *, option: str = '--device') -> torch.device:
    """`text` ('cpu', 'cuda', 'cuda:1', ...; None or '' = cuda when available, else cpu) as a usable device.

    Raises:
        OmnifuseError: not a torch device name, CUDA asked of a torch without CUDA or without a GPU, or a
            GPU index beyond the ones present; the message names `option`.
    """
    if not text:
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        device = torch.device(str(text))
    except (RuntimeError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OmnifuseError(f'{option} {text!r}: not a torch device ({first}); use cpu, cuda or cuda:N') from None
    if device.type == 'cuda':
        if not torch.cuda.is_available():
            build = 'a CPU-only build' if torch.version.cuda is None else 'no GPU visible'
            raise OmnifuseError(f'{option} {text!r}: CUDA is not available (torch {torch.__version__}, {build}); '
                                'use cpu')
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise OmnifuseError(f'{option} {text!r}: there are {torch.cuda.device_count()} GPU(s) (cuda:0..'
                                f'cuda:{torch.cuda.device_count() - 1})')
    elif device.type != 'cpu':
        raise OmnifuseError(f'{option} {text!r}: omnifuse runs on cpu or cuda, not {device.type}')
    return device
