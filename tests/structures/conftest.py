"""Fixtures of the structures tests: the KITTI calibration of object frame 000002."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnifuse.structures.calibration import Calibration


@pytest.fixture(scope='module')
def calib_path(kitti_root: Path) -> Path:
    return kitti_root / 'training' / 'calib' / '000002.txt'


@pytest.fixture(scope='module')
def calib(calib_path: Path) -> Calibration:
    return Calibration.from_kitti_file(calib_path)
