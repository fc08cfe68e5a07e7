"""Shared fixtures: the real samples at ../shared/data (never copied into the repo) and small detector configs."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get('OMNIFUSE_SHARED_DATA', REPO.parent / 'shared' / 'data'))

torch.set_num_threads(2)


@pytest.fixture(scope='session')
def shared_data() -> Path:
    """Root of the shared real samples (KITTI, Waymo, RGB-thermal). Required (CI has them): a test that needs them
    fails with one line naming the place, rather than skipping and proving nothing."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f'needs the shared real sample data at {SHARED_DATA} (set OMNIFUSE_SHARED_DATA to another place)',
                    pytrace=False)
    return SHARED_DATA


@pytest.fixture(scope='session')
def kitti_root(shared_data: Path) -> Path:
    """The KITTI object layout with real frames 000000 and 000002."""
    return shared_data / 'kitti'


@pytest.fixture(scope='session')
def repo_root() -> Path:
    """The repository root."""
    return REPO


def _tiny_detector_cfg(*, point_range: Sequence[float], class_names: Sequence[str] = ('Car', 'Pedestrian', 'Cyclist'),
                       thermal: bool = False, roi: bool = True, **extra) -> dict:
    """A LoGoNetDetector config small enough to train a step in a fraction of a second (0.4 m voxels,
    camera encoder, optional thermal encoder and second stage); `extra` adds or overrides model keys."""
    cfg = dict(
        type='LoGoNetDetector', class_names=list(class_names),
        lidar_encoder=dict(type='SecondLidarEncoder', voxel_size=[0.4, 0.4, 0.25], point_range=list(point_range),
                           channels=[8, 8, 16, 16], out_channels=16, max_voxels=[8000, 8000]),
        bev_neck=dict(type='BevNeck', layer_nums=[1, 1], layer_strides=[1, 2], num_filters=[16, 16],
                      upsample_strides=[1, 2], out_channels=[16, 16]),
        dense_head=dict(type='CentreHead', head_channels=16, post_max=[16, 8]),
        image_encoder=dict(type='ImageEncoder', stem_channels=8, channels=[8, 16, 16], out_channels=8))
    if thermal:
        cfg['thermal_encoder'] = dict(type='ImageEncoder', in_channels=1, stem_channels=8, channels=[8, 16, 16],
                                      out_channels=8)
    if roi:
        cfg['roi_head'] = dict(type='LoGoRoIHead', level_channels={'x_conv3': 16, 'x_conv4': 16}, bev_channels=32,
                               grid_channels=8, fc_channels=[32, 32], num_rois=8, gof_levels=['x_conv3'],
                               fda_heads=2)
    cfg.update(extra)
    return cfg


@pytest.fixture(scope='session')
def tiny_detector_cfg() -> Callable[..., dict]:
    """Factory of small detector configs (see `_tiny_detector_cfg`)."""
    return _tiny_detector_cfg
