"""Import `spconv.pytorch` so that it also trains on a CPU-only torch build.

spconv 2.3.8's CPU backward path asks `torch.cuda.current_stream()` for a stream handle it never uses on
the CPU; a torch wheel without CUDA raises there. When CUDA is unavailable the handle is replaced by 0
(the null stream) in the spconv modules that ask for it; with CUDA nothing is changed.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import torch

__all__ = ['import_spconv']

_PATCHED = False
_MODULES = ('spconv.pytorch.ops', 'spconv.pytorch.hash', 'spconv.pytorch.utils', 'spconv.pytorch.cppcore')


def _null_stream() -> int:
    return 0


def import_spconv() -> ModuleType:
    """`spconv.pytorch`, patched for CPU-only torch builds (see the module docstring)."""
    global _PATCHED
    spconv = importlib.import_module('spconv.pytorch')
    if not _PATCHED and not torch.cuda.is_available():
        for name in _MODULES:
            module = importlib.import_module(name)
            if hasattr(module, 'get_current_stream'):
                module.get_current_stream = _null_stream
        _PATCHED = True
    return spconv
