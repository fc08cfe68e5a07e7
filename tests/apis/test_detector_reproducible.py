"""The shipped detector gives the same boxes every time on a CPU with several threads (spconv's CPU kernels
race with more than one thread; omnifuse.ops.spconv_compat.cpu_sparse_threads runs them on one)."""

from __future__ import annotations

import numpy as np
import torch

from omnifuse.apis.detection import FrameDetector
from omnifuse.datasets.kitti import KittiReader


def test_same_frame_same_detections_with_two_threads(kitti_root) -> None:
    frame = KittiReader(kitti_root).read('000000')
    detector = FrameDetector(score_threshold=0.0)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        runs = [detector(frame) for _ in range(3)]
        assert torch.get_num_threads() == 2  # the sparse block gives the threads back
    finally:
        torch.set_num_threads(threads)
    assert len(runs[0].names) > 0
    for other in runs[1:]:
        assert other.names == runs[0].names
        np.testing.assert_array_equal(other.boxes.data, runs[0].boxes.data)
        np.testing.assert_array_equal(other.scores, runs[0].scores)
