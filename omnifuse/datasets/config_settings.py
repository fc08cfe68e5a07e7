"""A frozen settings dataclass from a config's dict, refusing keys it does not have (the inference adapters'
`input_adapter = dict(...)` and `box_fit = dict(...)`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from omnifuse.errors import FormatError

__all__ = ['settings_from_config']

T = TypeVar('T')


def settings_from_config(cls: type[T], settings: Mapping[str, Any] | None, *, key: str, source: str) -> T:
    """`cls(**settings)`; `cls()` for None or an empty dict.

    Raises:
        FormatError naming `source`, `key` and the unknown key(s), with the known ones.
    """
    if not settings:
        return cls()
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(settings) - known)
    if unknown:
        raise FormatError(f'{source}: {key} has unknown key(s) {unknown}; known: {sorted(known)}')
    return cls(**dict(settings))
