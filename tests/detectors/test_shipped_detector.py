"""The shipped detector is a trained model: on simulated streets it finds the cars (3D IoU >= 0.7, the KITTI
Car threshold) and its confident boxes are real. Worlds made here from seeds outside the training set."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from omnifuse.apis.detection import FrameDetector
from omnifuse.datasets.sim import LidarModel, generate_frame
from omnifuse.structures import ObjectLabels
from omnifuse.structures.geometry import box_iou_3d


def _cars_ahead(labels: ObjectLabels) -> np.ndarray:
    """(K, 7) Car boxes ahead of the vehicle (camera side) within 40 m."""
    boxes = labels.boxes.data[np.array([n == 'Car' for n in labels.names], dtype=bool)]
    return boxes[(np.hypot(boxes[:, 0], boxes[:, 1]) < 40) & (boxes[:, 0] > 0)]


def _recall_precision(detector: FrameDetector, seeds: range, condition: str) -> tuple[int, float, float]:
    """-> (number of true cars, recall at 3D IoU 0.7, precision at 3D IoU 0.5) over the worlds of `seeds`."""
    found = total = true_pos = n_det = 0
    for seed in seeds:
        # the training data's LiDAR: 0.18 degree azimuth step
        frame = generate_frame(seed, condition=condition, lidar=LidarModel(n_azimuth=2000))
        gt, pred = _cars_ahead(frame.labels), _cars_ahead(detector(frame))
        iou = box_iou_3d(gt, pred) if len(gt) and len(pred) else np.zeros((len(gt), len(pred)))
        total += len(gt)
        found += int((iou.max(1) >= 0.7).sum()) if len(pred) else 0
        n_det += len(pred)
        true_pos += int((iou.max(0) >= 0.5).sum()) if len(gt) else 0
    return total, found / max(total, 1), true_pos / max(n_det, 1)


def test_shipped_detector_finds_cars_in_unseen_day_streets() -> None:
    total, recall, precision = _recall_precision(FrameDetector(score_threshold=0.5), range(910_000, 910_006), 'day')
    assert total >= 15, 'the simulated streets should hold cars ahead'
    assert recall >= 0.6, f'recall at 3D IoU 0.7: {recall:.2f} of {total}'
    assert precision >= 0.8, f'precision of score >= 0.5 cars at 3D IoU 0.5: {precision:.2f}'


def test_shipped_16_beam_thermal_detector_finds_cars_at_night() -> None:
    import omnifuse

    checkpoint = Path(omnifuse.__file__).parent / 'checkpoints' / 'fast_lidar16-cam-thermal_sim.pth'
    detector = FrameDetector(checkpoint=str(checkpoint), score_threshold=0.5)
    pipeline = detector.cfg.test_dataloader.dataset.pipeline
    assert pipeline[0]['type'] == 'BeamSubsample' and pipeline[0]['keep_every'] == 4, 'the model sees 16 beams'
    assert detector.model.thermal_encoder is not None
    total, recall, precision = _recall_precision(detector, range(920_000, 920_006), 'night')
    assert total >= 15, 'the simulated streets should hold cars ahead'
    assert recall >= 0.6, f'recall at 3D IoU 0.7: {recall:.2f} of {total}'
    assert precision >= 0.8, f'precision of score >= 0.5 cars at 3D IoU 0.5: {precision:.2f}'
