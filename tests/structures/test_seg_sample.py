"""The typed segmentation samples: the point-segmentation sample's camera is a SampleCamera keyed as in DetSample."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omnifuse.errors import ShapeError
from omnifuse.structures import PointSegSample, SampleCamera


def _camera() -> SampleCamera:
    return SampleCamera(torch.zeros(3, 6, 8, dtype=torch.uint8), 2 * np.eye(4))


def test_point_seg_sample_holds_its_camera_by_modality_and_name() -> None:
    s = PointSegSample(frame_id='3', gt_pts_seg=torch.zeros(5, dtype=torch.long),
                       cameras={'camera': {'image_2': _camera()}, 'thermal': {}})
    assert s.camera_names('camera') == ['image_2'] and s.camera_names('thermal') == []
    assert s.cameras['camera']['image_2'].lidar2img.dtype == np.float64
    moved = s.to('cpu')
    assert moved.cameras['camera']['image_2'] is s.cameras['camera']['image_2']  # images move when batched


def test_point_seg_sample_without_a_camera_has_empty_modalities() -> None:
    a, b = PointSegSample(), PointSegSample()
    assert a.cameras == {'camera': {}, 'thermal': {}} and a.cameras is not b.cameras


def test_point_seg_sample_checks_its_cameras() -> None:
    with pytest.raises(ShapeError, match=r"PointSegSample\.cameras: modalities are \['camera', 'thermal'\], "
                                         r"got \['rgb'\]"):
        PointSegSample(cameras={'rgb': {'image_2': _camera()}})
    with pytest.raises(ShapeError, match=r"PointSegSample\.cameras\['camera'\]\['image_2'\]: expected a "
                                         r'SampleCamera, got Tensor'):
        PointSegSample(cameras={'camera': {'image_2': torch.zeros(3, 6, 8)}})
