"""Where the shipped checkpoints and the model / ROS configs are, in every kind of install (no torch).

Where the configs are looked for:
    source checkout, `pip install -e .`   <repo>/configs
    colcon (ament_python)                 <install>/<pkg>/share/omnifuse/configs (ament_index share dir)
    pip / wheel                           <sys.prefix>/share/omnifuse/configs
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ['CHECKPOINT_DIR', 'CONFIG_DIR', 'ROS_PARAMS_FILE']

CHECKPOINT_DIR = Path(__file__).resolve().parent / 'checkpoints'


def _config_dir_candidates() -> list[Path]:
    """Where the model configs may be installed, most specific first."""
    package = Path(__file__).resolve().parent
    # Source checkout / editable install: <repo>/configs.
    candidates = [package.parent / 'configs']
    # colcon (ament_python): the package's share directory, as ament_index knows it ...
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory('omnifuse')) / 'configs')
    except Exception:  # no ROS, or omnifuse not in the ament index: the other candidates decide
        pass
    # ... and, without ament_index, the same place found from the install prefix around this file
    # (<prefix>/lib/python3.X/site-packages/omnifuse -> <prefix>/share/omnifuse/configs).
    if len(package.parents) > 3:
        candidates.append(package.parents[3] / 'share' / 'omnifuse' / 'configs')
    # pip / wheel install: data_files land under the Python prefix.
    candidates.append(Path(sys.prefix) / 'share' / 'omnifuse' / 'configs')
    return candidates


def _config_dir() -> Path:
    """The first candidate folder that holds the configs (checked by a file every install has)."""
    candidates = _config_dir_candidates()
    for candidate in candidates:
        if (candidate / 'cmx' / 'rgbt_cmx.py').is_file():
            return candidate
    return candidates[0]


CONFIG_DIR = _config_dir()
ROS_PARAMS_FILE = CONFIG_DIR / 'ros' / 'perception.yaml'
