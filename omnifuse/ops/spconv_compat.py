"""Import `spconv.pytorch` so that it also trains on a CPU-only torch build; run it reproducibly on a CPU.

spconv 2.3.8's CPU backward path asks `torch.cuda.current_stream()` for a stream handle it never uses on
the CPU; a torch wheel without CUDA raises there. When CUDA is unavailable the handle is replaced by 0
(the null stream) in the spconv modules that ask for it; with CUDA nothing is changed.

spconv's CPU convolutions are not reproducible with more than one intra-op thread: the same input gave
features differing by up to 7.5 after the first submanifold convolution, run to run, with 2 threads (and
different detections), and identical results with 1 (measured on the shipped detector). `cpu_sparse_threads`
runs a block with one thread when its tensors are on the CPU; dense layers keep every thread.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from types import ModuleType

import torch

__all__ = ['import_spconv', 'cpu_sparse_threads']

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
                module.get_current_stream = _null_stream  # type: ignore[attr-defined]  # patching spconv
        _PATCHED = True
    return spconv


@contextlib.contextmanager
def cpu_sparse_threads(device: torch.device) -> Iterator[None]:
    """Within the block, one intra-op thread when `device` is the CPU (see the module docstring)."""
    if device.type != 'cpu':
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
