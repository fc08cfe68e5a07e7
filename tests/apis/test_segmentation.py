"""FrameSegmenter (omnifuse.apis.segmentation): the shipped CMX RGB-thermal model on one SensorFrame equals
`omnifuse segment --kitti-root` on the same frame written by the simulator; missing streams; ROS names."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from omnifuse.apis.segmentation import FrameSegmenter, SegmentationInputs, default_checkpoint
from omnifuse.cli import main as cli_main
from omnifuse.datasets.sim import LidarModel, generate_frame, write_kitti
from omnifuse.ros_nodes.bag_io import rename_sensors


@pytest.fixture(scope='module')
def frame():  # type: ignore[no-untyped-def]
    """A night street frame: thermal matters most there."""
    return generate_frame(5, condition='night', lidar=LidarModel(n_azimuth=1000))


@pytest.fixture(scope='module')
def segmenter() -> FrameSegmenter:
    return FrameSegmenter()


def test_frame_segmenter_equals_segment_kitti_root(tmp_path: Path, frame, segmenter: FrameSegmenter,
                                                   capsys: pytest.CaptureFixture) -> None:
    write_kitti([frame], tmp_path / 'sim')
    assert cli_main(['segment', '--kitti-root', str(tmp_path / 'sim'), '--out', str(tmp_path / 'pred')]) == 0
    assert 'without X' not in capsys.readouterr().out  # the thermal image was used
    written = cv2.imread(str(tmp_path / 'pred' / '000000.png'), cv2.IMREAD_UNCHANGED)
    labels = segmenter(frame)
    assert labels.dtype == np.uint8 and labels.shape == frame.images['image_2'].shape[:2] == written.shape
    np.testing.assert_array_equal(labels, written)
    # a real prediction: several classes, and mostly right against the simulator's own mask
    assert len(np.unique(labels)) >= 4
    assert (labels == frame.semantic_2).mean() > 0.6


def test_thermal_is_used_and_its_absence_means_x_missing(frame, segmenter: FrameSegmenter) -> None:
    with_thermal = segmenter(frame)
    inputs = segmenter.inputs(frame)
    assert inputs.x is not None and inputs.x.shape == inputs.rgb.shape[:2] and 0 <= inputs.x.min() < inputs.x.max() <= 1
    no_thermal = dataclasses.replace(frame, thermal={})
    without = segmenter(no_thermal)
    assert segmenter.inputs(no_thermal).x is None
    np.testing.assert_array_equal(without, segmenter.predict(SegmentationInputs(inputs.rgb, None, inputs.orig_shape)))
    assert (without != with_thermal).mean() > 0.001  # the warped thermal image changes the night prediction


def test_ros_names_and_missing_camera(frame, segmenter: FrameSegmenter) -> None:
    ros = rename_sensors(frame, {'camera': {'image_2': 'front'}, 'thermal': {'thermal': 'front'}})
    assert set(ros.images) == {'front'} and set(ros.calib.thermal) == {'front'}
    front = FrameSegmenter.from_model(segmenter.model, segmenter.cfg, camera='front', thermal='front')
    np.testing.assert_array_equal(front(ros), segmenter(frame))
    assert front(frame) is None  # no 'front' image: no output, never another camera
    assert segmenter(ros) is None


def test_default_checkpoint_only_for_the_shipped_configs(repo_root: Path) -> None:
    assert default_checkpoint(repo_root / 'configs' / 'cmx' / 'rgbt_cmx.py').name == 'cmx_rgbt_sim.pth'
    assert default_checkpoint(repo_root / 'configs' / 'occupancy' / 'nearfield_fused_sim.py') is None
    with pytest.raises(FileNotFoundError, match='no shipped weights'):
        FrameSegmenter(config=repo_root / 'configs' / 'occupancy' / 'nearfield_fused_sim.py')
