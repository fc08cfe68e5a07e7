"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest


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
