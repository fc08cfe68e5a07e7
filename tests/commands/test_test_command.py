"""`omnifuse test` robustness options: --drop camera / thermal removes exactly those images, --drop-camera both."""

from __future__ import annotations

import argparse

import pytest
from mmengine.dataset import Compose

import omnifuse.datasets.transforms  # noqa: F401
from omnifuse.apis.training import robustness_steps
from omnifuse.commands.test import add_arguments
from omnifuse.datasets.det_dataset import frame_to_results
from omnifuse.datasets.sim import LidarModel, generate_frame
from omnifuse.registry import TRANSFORMS


@pytest.fixture(scope='module')
def night_results() -> dict:
    frame = generate_frame(7, condition='night', lidar=LidarModel(n_azimuth=500))
    res = frame_to_results(frame)
    assert res['images'] and res['thermal'], 'a simulated frame has a camera and a thermal image'
    return res


def _apply(steps: list[dict], res: dict) -> dict:
    return Compose([TRANSFORMS.build(s) for s in steps])(dict(res, images=dict(res['images']),
                                                               thermal=dict(res['thermal'])))


@pytest.mark.parametrize('drop, camera_kept, thermal_kept', [
    (['thermal'], True, False), (['camera'], False, True), (['camera', 'thermal'], False, False), ([], True, True)])
def test_drop_removes_exactly_the_named_modalities(night_results, drop, camera_kept, thermal_kept) -> None:
    out = _apply(robustness_steps(drop, None), night_results)
    assert bool(out['images']) == camera_kept and bool(out['thermal']) == thermal_kept
    assert len(out['points']) == len(night_results['points'])


def test_options_parse_and_drop_camera_means_every_image() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(['c.py', 'w.pth', '--drop', 'thermal', '--extrinsic-error', '1', '0.2'])
    assert args.drop == ['thermal'] and args.extrinsic_error == [1.0, 0.2]
    steps = robustness_steps(args.drop, args.extrinsic_error)
    assert [s['type'] for s in steps] == ['RandomDropModality', 'ExtrinsicNoise']
    assert steps[0]['camera_prob'] == 0.0 and steps[0]['thermal_prob'] == 1.0
    assert parser.parse_args(['c.py', 'w.pth', '--drop-camera']).drop == ['camera', 'thermal']
    assert parser.parse_args(['c.py', 'w.pth']).drop == []
    with pytest.raises(SystemExit):
        parser.parse_args(['c.py', 'w.pth', '--drop', 'lidar'])
    with pytest.raises(ValueError, match='lidar'):
        robustness_steps(['lidar'], None)
