"""The typed detection sample and predictions: checked fields, camera identity, device moves."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omnifuse.errors import ShapeError
from omnifuse.structures import Boxes3D, DetPredictions, DetSample, SampleCamera
from omnifuse.structures.det_sample import empty_cameras


def _preds(k: int = 2) -> DetPredictions:
    return DetPredictions(torch.rand(k, 7), torch.rand(k), torch.arange(k))


def test_predictions_check_each_field_and_name_it() -> None:
    with pytest.raises(ShapeError, match=r'DetPredictions\.boxes: expected \(K, 7\), got \(2, 6\)'):
        DetPredictions(torch.zeros(2, 6), torch.zeros(2), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ShapeError, match=r'DetPredictions\.scores: expected \(2,\) as boxes, got \(3,\)'):
        DetPredictions(torch.zeros(2, 7), torch.zeros(3), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ShapeError, match=r'DetPredictions\.labels'):
        DetPredictions(torch.zeros(2, 7), torch.zeros(2), torch.zeros(2, 1, dtype=torch.long))
    assert len(DetPredictions(torch.zeros(0, 7), torch.zeros(0), torch.zeros(0, dtype=torch.long))) == 0


def test_predictions_to_numpy_and_boxes3d() -> None:
    pred = _preds(3)
    boxes, scores, labels = pred.numpy()
    assert boxes.dtype == np.float64 and boxes.shape == (3, 7)
    assert scores.dtype == np.float32 and labels.dtype == np.int64
    np.testing.assert_array_equal(boxes, pred.boxes.numpy().astype(np.float64))
    b3 = pred.boxes3d()
    assert isinstance(b3, Boxes3D) and b3.frame == 'lidar' and len(b3) == 3


def test_predictions_of_the_torch_free_runtime_are_numpy_arrays() -> None:
    pred = DetPredictions(np.ones((2, 7), np.float32), np.array([0.5, 0.25], np.float32), np.array([1, 0]))
    boxes, scores, labels = pred.numpy()
    assert boxes.dtype == np.float64 and scores.dtype == np.float32 and labels.dtype == np.int64
    np.testing.assert_array_equal(labels, [1, 0])
    exact = DetPredictions(boxes, scores, labels)  # already float64 / int64: handed out without a copy
    assert all(a is b for a, b in zip(exact.numpy(), (boxes, scores, labels), strict=True))


def test_sample_checks_ground_truth_and_modalities() -> None:
    with pytest.raises(ShapeError, match=r'DetSample\.gt_boxes: expected \(M, 7\)'):
        DetSample(gt_boxes=torch.zeros(2, 8), gt_labels=torch.zeros(2, dtype=torch.long))
    with pytest.raises(ShapeError, match=r'DetSample\.gt_labels: expected \(2,\) as gt_boxes'):
        DetSample(gt_boxes=torch.zeros(2, 7), gt_labels=torch.zeros(1, dtype=torch.long))
    with pytest.raises(ShapeError, match='both or neither'):
        DetSample(gt_boxes=torch.zeros(2, 7))
    with pytest.raises(ShapeError, match=r"DetSample\.cameras: modalities are \['camera', 'thermal'\]"):
        DetSample(cameras={'lidar': {}})
    with pytest.raises(ShapeError, match=r"DetSample\.cameras\['camera'\]\['image_2'\]: expected a SampleCamera, "
                                         r'got dict'):
        DetSample(cameras={'camera': {'image_2': {'image': torch.zeros(3, 8, 8), 'lidar2img': np.eye(4)}}})
    with pytest.raises(ShapeError, match=r'DetSample\.aug_matrix: expected \(4, 4\)'):
        DetSample(aug_matrix=np.eye(3))


def test_empty_cameras_are_a_new_dict_per_sample() -> None:
    a, b = DetSample(), DetSample()
    assert a.cameras == empty_cameras() == {'camera': {}, 'thermal': {}}
    assert a.cameras is not b.cameras and a.cameras['camera'] is not b.cameras['camera']


def test_camera_input_checks_image_projection_and_semantics() -> None:
    with pytest.raises(ShapeError, match=r'SampleCamera\.image: expected \(C, H, W\)'):
        SampleCamera(torch.zeros(8, 8, 3), np.eye(4))
    with pytest.raises(ShapeError, match=r'SampleCamera\.lidar2img: expected \(4, 4\), got \(3, 4\)'):
        SampleCamera(torch.zeros(3, 8, 8), np.eye(4)[:3])
    with pytest.raises(ShapeError, match=r'SampleCamera\.semantics: expected \(H, W\) = \(8, 8\)'):
        SampleCamera(torch.zeros(3, 8, 8), np.eye(4), torch.zeros(4, 4, dtype=torch.long))


def test_a_colour_and_a_thermal_camera_of_one_name_are_two_cameras() -> None:
    colour = SampleCamera(torch.zeros(3, 8, 8, dtype=torch.uint8), np.eye(4))
    thermal = SampleCamera(torch.zeros(1, 4, 4), 2 * np.eye(4))
    s = DetSample(cameras={'camera': {'front': colour}, 'thermal': {'front': thermal}})
    assert s.camera_names('camera') == ['front'] and s.camera_names('thermal') == ['front']
    assert s.cameras['thermal']['front'].lidar2img[0, 0] == 2.0


def test_with_predictions_and_to_keep_the_rest() -> None:
    s = DetSample(frame_id='7', gt_boxes=torch.zeros(1, 7), gt_labels=torch.zeros(1, dtype=torch.long))
    out = s.to('cpu').with_predictions(_preds())
    assert out.frame_id == '7' and len(out.pred) == 2 and s.pred is None
    assert DetSample().to('cpu').gt_boxes is None
