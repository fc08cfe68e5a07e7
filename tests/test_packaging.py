"""The package installs as a ROS 2 ament_python package (colcon, no ROS needed) and as a pip package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.ros2_support import copy_package


def test_colcon_build_installs_node_launch_and_configs(tmp_path: Path) -> None:
    colcon = Path(sys.executable).parent / 'colcon'
    assert colcon.exists(), 'colcon-core is part of the test requirements'
    copy_package(tmp_path)
    result = subprocess.run([str(colcon), 'build', '--base-paths', 'src'], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    install = tmp_path / 'install' / 'omnifuse'
    # `ros2 run omnifuse perception_node` looks in lib/<package>.
    assert (install / 'lib' / 'omnifuse' / 'perception_node').is_file()
    assert (install / 'lib' / 'omnifuse' / 'omnifuse').is_file()
    assert (install / 'share' / 'ament_index' / 'resource_index' / 'packages' / 'omnifuse').is_file()
    assert (install / 'share' / 'omnifuse' / 'package.xml').is_file()
    for launch in (REPO / 'launch').glob('*.launch.py'):
        assert (install / 'share' / 'omnifuse' / 'launch' / launch.name).is_file()
    for config in (REPO / 'configs').rglob('*.py'):
        rel = config.relative_to(REPO)
        assert (install / 'share' / 'omnifuse' / rel).is_file(), rel
    site = next((install / 'lib').glob('python3*/site-packages'))
    assert (site / 'omnifuse' / 'cli.py').is_file()
    # The installed package finds the installed configs (not the Python prefix's share/): what a
    # node configured from a colcon install reads. Run from elsewhere, the install tree first on the path.
    probe = ('import omnifuse.checkpoint as c, omnifuse.apis.segmentation as s; '
             'print(c.CONFIG_DIR); print(c.__file__); print(s.DEFAULT_CONFIG.is_file())')
    found = subprocess.run([sys.executable, '-c', probe], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                           env={**os.environ, 'PYTHONPATH': str(site)})
    assert found.returncode == 0, found.stderr[-3000:]
    config_dir, module, default_exists = found.stdout.split()
    assert Path(module).resolve().is_relative_to(site.resolve())
    assert Path(config_dir).resolve() == (install / 'share' / 'omnifuse' / 'configs').resolve()
    assert default_exists == 'True'


def test_package_xml_declares_ament_python_and_ros_dependencies() -> None:
    import xml.etree.ElementTree as ET

    root = ET.parse(REPO / 'package.xml').getroot()
    assert root.get('format') == '3'
    assert root.findtext('name') == 'omnifuse'
    assert root.find('export').findtext('build_type') == 'ament_python'
    deps = {e.text for e in root.findall('exec_depend')}
    for dep in ('rclpy', 'launch', 'launch_ros', 'ament_index_python', 'lifecycle_msgs'):
        assert dep in deps
    # Every message package the node subscribes to or publishes (what rosdep must install).
    from omnifuse.ros_nodes.cluster import ClusterDetector
    from omnifuse.ros_nodes.core import PerceptionCore
    from omnifuse.ros_nodes.node import NodeLogic
    from omnifuse.ros_nodes.params import DEFAULT_PARAMS

    logic = NodeLogic(DEFAULT_PARAMS, core=PerceptionCore(detector=ClusterDetector(), segmenter=lambda f: None,
                                                          occupancy=lambda f: None), distro='jazzy')
    types = [s.msgtype for s in logic.subscriptions()] + [t for _, t in logic.publications()]
    assert {t.split('/')[0] for t in types} <= deps
    # The launch file's imports.
    launch = (REPO / 'launch' / 'perception.launch.py').read_text()
    for pkg in ('launch', 'launch_ros', 'lifecycle_msgs', 'ament_index_python'):
        assert f'from {pkg}' in launch and pkg in deps
    # Python libraries by their rosdep keys; torch and numpy are what every model needs.
    assert {'python3-torch', 'python3-numpy', 'python3-yaml'} <= deps


def test_ros_imports_are_confined_to_the_node_module() -> None:
    offenders = []
    for path in (REPO / 'omnifuse').rglob('*.py'):
        if path.name == 'node.py' and path.parent.name == 'ros_nodes':
            continue
        text = path.read_text()
        for mod in ('rclpy', 'launch_ros', 'rosidl', 'tf2_ros'):
            if f'import {mod}' in text or f'from {mod}' in text:
                offenders.append(f'{path.relative_to(REPO)} imports {mod}')
    assert not offenders, offenders


@pytest.mark.parametrize('argv', [['--help'], ['-m', 'omnifuse', '--help']])
def test_cli_help_works_both_ways(argv: list[str]) -> None:
    exe = [str(Path(sys.executable).parent / 'omnifuse')] if argv[0] == '--help' else [sys.executable]
    result = subprocess.run(exe + argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert 'usage: omnifuse' in result.stdout


def test_every_subcommand_has_help() -> None:
    from omnifuse.cli import build_parser

    parser = build_parser()
    sub_actions = [a for a in parser._actions if a.__class__.__name__ == '_SubParsersAction']
    assert sub_actions
    names = list(sub_actions[0].choices)
    assert names, 'no subcommands registered'
    for name in names:
        result = subprocess.run([sys.executable, '-m', 'omnifuse', name, '--help'],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (name, result.stderr)
        assert f'omnifuse {name}' in result.stdout
