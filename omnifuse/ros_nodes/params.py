"""Node / replay parameters: the ROS 2 `/**: ros__parameters:` YAML as a nested dict.

`DEFAULT_PARAMS` is configs/ros/perception.yaml as shipped with the package, read once at import:
the one source of the defaults for the node, the replay and the launch file. `load_params(path)`
reads another file (any node-name key is accepted; `/**` first), merges it over the defaults and
returns plain nested dicts. `flatten` and `unflatten` convert to and from ROS's dotted parameter
names ('sync.camera.window_ms').
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from omnifuse.errors import FormatError
from omnifuse.install_paths import ROS_PARAMS_FILE

__all__ = ['DEFAULT_PARAMS', 'default', 'load_params', 'read_params_file', 'check_types', 'merge', 'flatten',
           'unflatten', 'names']


def read_params_file(path: str | Path) -> dict[str, Any]:
    """The `ros__parameters` of a ROS 2 params YAML as nested dicts (dotted keys unflattened).

    Raises:
        FileNotFoundError: `path` does not exist.
        FormatError: the file is not a `<node>: ros__parameters:` mapping.
    """
    import yaml

    path = Path(path)
    text = path.read_text()
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise FormatError(f'{path}: not valid YAML ({exc})'.replace('\n', ' ')) from None
    if not isinstance(doc, Mapping):
        raise FormatError(f'{path}: expected a mapping "/**: ros__parameters: ...", got {type(doc).__name__}')
    keys = sorted(doc, key=lambda k: k != '/**')
    section = next((doc[k] for k in keys if isinstance(doc[k], Mapping) and 'ros__parameters' in doc[k]), None)
    if section is None:
        raise FormatError(f'{path}: no "<node name>: ros__parameters:" section (e.g. "/**: ros__parameters:")')
    body = section['ros__parameters'] or {}
    if not isinstance(body, Mapping):
        raise FormatError(f'{path}: ros__parameters must be a mapping')
    flat_keys = {k: v for k, v in body.items() if '.' in str(k)}
    nested = {k: v for k, v in body.items() if '.' not in str(k)}
    return merge(nested, unflatten(flat_keys))


def _shipped_defaults() -> dict[str, Any]:
    """The defaults: the params file shipped with the package (one source for the node, replay and docs)."""
    params = read_params_file(ROS_PARAMS_FILE)
    params.setdefault('sync', {}).setdefault('overrides', {})
    return params


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive merge: dicts merge key by key, anything else in `over` replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """{'a.b': 1} -> {'a': {'b': 1}}."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        parts = key.split('.')
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def flatten(params: Mapping[str, Any], prefix: str = '') -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1} (ROS 2 parameter names)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f'{prefix}{key}'
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + '.'))
        elif not isinstance(value, Mapping):
            out[name] = value
    return out


def names(values: object) -> list[str]:
    """A parameter list of sensor names without the '' placeholders ROS needs for empty lists."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, Iterable):
        raise TypeError(f'a list of sensor names expected, got {values!r}')
    return [str(v) for v in values if str(v).strip()]


def check_types(params: Mapping[str, Any], source: str) -> None:
    """Every parameter the defaults know keeps their kind (number, text, flag, list); the `tracking.tracker`
    section is checked by the tracker's configuration (known names, kinds and ranges).

    Raises:
        FormatError: naming `source` and the dotted parameter ('sync.max_buffer: expected a number, got 'abc'').
    """
    defaults = flatten(DEFAULT_PARAMS)
    for key, value in flatten(params).items():
        want = defaults.get(key)
        if want is None:
            continue
        if isinstance(want, bool):
            ok, kind = isinstance(value, bool), 'true or false'
        elif isinstance(want, (int, float)):
            ok, kind = isinstance(value, (int, float)) and not isinstance(value, bool), 'a number'
        elif isinstance(want, str):
            ok, kind = isinstance(value, str), 'text'
        elif isinstance(want, (list, tuple)):
            ok, kind = isinstance(value, (list, tuple)), 'a list'
        else:
            continue
        if not ok:
            raise FormatError(f'{source}: parameter {key}: expected {kind}, got {value!r}')
    tracker = (params.get('tracking', {}) or {}).get('tracker') if isinstance(params.get('tracking'), Mapping) else None
    if isinstance(tracker, Mapping) and tracker:  # the tracker's own checker names the parameter and the rule
        from omnifuse.ros_nodes.tracking import tracker_config

        try:
            tracker_config({'tracking': {'tracker': tracker}})
        except FormatError as exc:
            raise FormatError(f'{source}: {exc}') from None


def load_params(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, merged with the file at `path` (ROS 2 params YAML), merged with `overrides`.

    Raises:
        FileNotFoundError: `path` does not exist.
        FormatError: the file is not a `<node>: ros__parameters:` mapping.
    """
    params = copy.deepcopy(DEFAULT_PARAMS)
    if path is not None:
        from_file = read_params_file(path)
        check_types(from_file, str(path))
        params = merge(params, from_file)
    if overrides:
        params = merge(params, overrides)
    return params


DEFAULT_PARAMS: dict[str, Any] = _shipped_defaults()


def default(path: str) -> Any:
    """The shipped value of the dotted parameter `path` ('sync.max_buffer', 'models.detector.camera'): what the
    node, the replay and the core take for a setting their params leave out, so that no default is spelled in the
    code beside the file.

    Raises:
        KeyError: the shipped file has no such parameter.
    """
    node: Any = DEFAULT_PARAMS
    for part in path.split('.'):
        node = node[part]
    return copy.deepcopy(node)
