"""NearFieldOccupancyDataset (datasets/occupancy_dataset.py) on a simulated parking frame: typed samples."""

from __future__ import annotations

import numpy as np
import torch

from omnifuse.segmentation.nearfield_occupancy import OccupancyDataPreprocessor
from omnifuse.structures.seg_sample import OccupancySample


def test_dataset_items_are_typed_samples(tmp_path) -> None:
    from mmengine.dataset import pseudo_collate

    from omnifuse.datasets.occupancy_dataset import NearFieldOccupancyDataset
    from omnifuse.datasets.sim.generate import generate_frame
    from omnifuse.datasets.sim.writer_kitti import write_kitti

    write_kitti([generate_frame(7, scenario='parking', condition='night')], tmp_path)
    dataset = NearFieldOccupancyDataset(str(tmp_path), image_scale=0.25)
    item = dataset.sample(0)  # numpy, as the torch-free CLI takes it
    sample = item['data_samples']
    assert isinstance(sample, OccupancySample) and sample.frame_id == '000000' and sample.condition == 'night'
    assert isinstance(sample.gt_labels, np.ndarray) and sample.gt_labels.shape == (200, 200)
    assert all(isinstance(v, np.ndarray) for v in item['inputs'].values())
    batch = OccupancyDataPreprocessor()(pseudo_collate([dataset[0], dataset[0]]))
    assert batch['inputs']['ultrasonic'].shape == (2, 3, 200, 200)
    assert batch['inputs']['camera_valid'].shape == (2,)
    assert torch.equal(batch['data_samples'][0].gt_labels, torch.from_numpy(sample.gt_labels))
    assert dataset.metainfo == {'classes': ('free', 'vehicle', 'pedestrian', 'cyclist', 'static')}
