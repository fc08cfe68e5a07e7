"""Per-stage wall-clock timing of a forward pass (used by `omnifuse bench`); free when not recording.

Model code wraps its stages in `with stage('voxelise'):`. Times are exclusive: a nested stage pauses its
parent, so the stages of one pass add up to the pass. On CUDA the device is synchronised at each boundary.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator

import torch

__all__ = ['StageRecorder', 'stage', 'recording']

_ACTIVE: contextvars.ContextVar[StageRecorder | None] = contextvars.ContextVar('omnifuse_stage_recorder',
                                                                               default=None)


class StageRecorder:
    """Accumulates exclusive seconds per stage name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._stack: list[str] = []
        self._mark = 0.0

    def _now(self) -> float:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
        return time.perf_counter()

    def _charge(self) -> None:
        now = self._now()
        if self._stack:
            name = self._stack[-1]
            self.seconds[name] = self.seconds.get(name, 0.0) + now - self._mark
        self._mark = now

    def enter(self, name: str) -> None:
        """Start charging time to `name` (nested inside the current stage)."""
        self._charge()
        self._stack.append(name)

    def exit(self) -> None:
        """Stop charging time to the innermost stage."""
        self._charge()
        self._stack.pop()


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the enclosed block as stage `name` when a recorder is active (else do nothing)."""
    rec = _ACTIVE.get()
    if rec is None:
        yield
        return
    rec.enter(name)
    try:
        yield
    finally:
        rec.exit()


@contextlib.contextmanager
def recording() -> Iterator[StageRecorder]:
    """Activate a fresh recorder for the enclosed block and yield it.

    Usage: `with recording() as rec: model(...)`; then `rec.seconds` holds the seconds per stage.
    """
    rec = StageRecorder()
    token = _ACTIVE.set(rec)
    try:
        yield rec
    finally:
        _ACTIVE.reset(token)
