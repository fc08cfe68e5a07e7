"""Shared fixtures: the real sample data lives at ../shared/data (never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get('OMNIFUSE_SHARED_DATA', REPO.parent / 'shared' / 'data'))

torch.set_num_threads(2)


@pytest.fixture(scope='session')
def shared_data() -> Path:
    """Root of the shared real samples (KITTI, Waymo, RGB-thermal)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f'needs the shared real sample data at {SHARED_DATA} (set OMNIFUSE_SHARED_DATA to another place)')
    return SHARED_DATA


@pytest.fixture(scope='session')
def kitti_root(shared_data: Path) -> Path:
    """The KITTI object layout with real frames 000000 and 000002."""
    return shared_data / 'kitti'


@pytest.fixture(scope='session')
def repo_root() -> Path:
    """The repository root."""
    return REPO
