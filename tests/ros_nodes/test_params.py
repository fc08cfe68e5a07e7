"""Node parameters: the ROS 2 params YAML, defaults, and dotted names."""

from __future__ import annotations

import pytest

from omnifuse.errors import FormatError
from omnifuse.ros_nodes.params import DEFAULT_PARAMS, flatten, load_params, names, unflatten


def test_shipped_params_file_matches_the_defaults(repo_root) -> None:
    params = load_params(repo_root / 'configs' / 'ros' / 'perception.yaml')
    assert params == DEFAULT_PARAMS  # one source: the defaults are the shipped file
    assert params['inputs']['lidar'] == '/sensors/lidar/points'
    assert params['outputs']['objects'] == '/perception/objects'
    assert params['sync']['thermal']['window_ms'] == 60.0
    assert names(params['inputs']['ultrasonic']) == []
    # the file and the built-in defaults describe the same models: the shipped checkpoints on 'front'
    for role in ('detector', 'segmenter', 'occupancy'):
        assert params['models'][role] == DEFAULT_PARAMS['models'][role], role
        assert params['models'][role]['kind'] == 'checkpoint' and params['models'][role]['checkpoint'] == ''
        assert params['models'][role]['camera'] == 'front'
    assert params['models']['segmenter']['thermal'] == 'front'
    assert params['occupancy_grid'] == DEFAULT_PARAMS['occupancy_grid'] and params['num_threads'] == 1
    # every key of the file is known to the defaults (catches typos in either place)
    assert set(flatten(params)) - set(flatten(DEFAULT_PARAMS)) <= {
        f'models.cluster.{k}' for k in ('cell', 'ground_cell', 'ground_margin', 'max_height', 'range_m',
                                        'min_points')}


def test_dotted_keys_and_any_node_name(tmp_path) -> None:
    path = tmp_path / 'p.yaml'
    path.write_text('perception_node:\n  ros__parameters:\n    sync.camera.window_ms: 12.5\n    device: cuda\n')
    params = load_params(path)
    assert params['sync']['camera']['window_ms'] == 12.5 and params['device'] == 'cuda'
    assert params['sync']['camera']['timeout_ms'] == 100.0  # rest of the section kept


def test_flatten_unflatten_round_trip() -> None:
    assert unflatten(flatten(DEFAULT_PARAMS))['sync']['camera'] == DEFAULT_PARAMS['sync']['camera']
    flat = flatten({'a': {'b': 1, 'c': {'d': 'x'}}, 'e': [1, 2]})
    assert flat == {'a.b': 1, 'a.c.d': 'x', 'e': [1, 2]}
    assert unflatten(flat) == {'a': {'b': 1, 'c': {'d': 'x'}}, 'e': [1, 2]}


def test_bad_params_files(tmp_path) -> None:
    p = tmp_path / 'bad.yaml'
    p.write_text('just: a mapping\n')
    with pytest.raises(FormatError, match='ros__parameters'):
        load_params(p)
    p.write_text('- a list\n')
    with pytest.raises(FormatError, match='expected a mapping'):
        load_params(p)
    p.write_text('/**: {ros__parameters: [1, 2]}\n')
    with pytest.raises(FormatError, match='must be a mapping'):
        load_params(p)
    with pytest.raises(FileNotFoundError):
        load_params(tmp_path / 'missing.yaml')


def test_settings_left_out_take_the_shipped_values() -> None:
    """The code spells no default of its own: what a caller's params leave out is the shipped file's value."""
    from omnifuse.ros_nodes.core import PerceptionCore
    from omnifuse.ros_nodes.params import default
    from omnifuse.ros_nodes.sync import SensorSyncSpec, specs_from_params

    ms = 1_000_000
    shipped = DEFAULT_PARAMS['sync']
    specs = specs_from_params(['thermal/front', 'camera/front'], {})
    for key, modality in (('thermal/front', 'thermal'), ('camera/front', 'camera')):
        want = {**shipped['default'], **shipped[modality]}
        assert specs[key] == SensorSyncSpec(round(want['offset_ms'] * ms), round(want['window_ms'] * ms),
                                            round(want['timeout_ms'] * ms)), key
    assert specs['thermal/front'] != specs['camera/front']  # the thermal camera's own window, as shipped
    core = PerceptionCore.from_params({'models': {'detector': {'kind': 'cluster'}}})
    assert core.detector.score_threshold == DEFAULT_PARAMS['models']['detector']['score_threshold']
    assert (core.grid.resolution, core.grid.origin_x, core.grid.origin_y) == tuple(
        DEFAULT_PARAMS['occupancy_grid'][k] for k in ('resolution', 'origin_x', 'origin_y'))
    assert core.detector.min_points == DEFAULT_PARAMS['models']['cluster']['min_points']
    assert core.segmenter is None and core.occupancy is None  # a role left out of `models` is not built
    assert default('sync.thermal.window_ms') == shipped['thermal']['window_ms']
    with pytest.raises(KeyError):
        default('sync.no_such_setting')
