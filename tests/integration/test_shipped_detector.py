"""The shipped detector is a trained model: on simulated day streets it finds the cars (3D IoU >= 0.7, the
KITTI Car threshold) and its confident boxes are real. Worlds made here from seeds outside the training set."""

from __future__ import annotations

import numpy as np

from omnifuse.apis.detection import FrameDetector
from omnifuse.datasets.sim import LidarModel, generate_frame
from omnifuse.structures.geometry import box_iou_3d


def test_shipped_detector_finds_cars_in_unseen_day_streets() -> None:
    detector = FrameDetector(score_threshold=0.5)
    found = total = true_pos = n_det = 0
    for seed in range(910_000, 910_006):
        # the training data's LiDAR: 0.18 degree azimuth step
        frame = generate_frame(seed, condition='day', lidar=LidarModel(n_azimuth=2000))
        labels = frame.labels
        cars = np.array([n == 'Car' for n in labels.names])
        gt = labels.boxes.data[cars]
        gt = gt[(np.hypot(gt[:, 0], gt[:, 1]) < 40) & (gt[:, 0] > 0)]  # ahead, within 40 m (camera side)
        det = detector(frame)
        pred = det.boxes.data[np.array([n == 'Car' for n in det.names], dtype=bool)]
        pred = pred[(np.hypot(pred[:, 0], pred[:, 1]) < 40) & (pred[:, 0] > 0)]
        iou = box_iou_3d(gt, pred) if len(gt) and len(pred) else np.zeros((len(gt), len(pred)))
        total += len(gt)
        found += int((iou.max(1) >= 0.7).sum()) if len(pred) else 0
        n_det += len(pred)
        true_pos += int((iou.max(0) >= 0.5).sum()) if len(gt) else 0
    assert total >= 15, 'the simulated streets should hold cars ahead'
    assert found / total >= 0.6, f'recall at 3D IoU 0.7: {found}/{total}'
    assert true_pos / max(n_det, 1) >= 0.8, f'precision of score >= 0.5 cars at 3D IoU 0.5: {true_pos}/{n_det}'
