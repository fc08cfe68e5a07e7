"""omnifuse/checkpoint.py: building a model with its weights in one place (build_with_weights)."""

from __future__ import annotations

import pytest
import torch

from omnifuse.checkpoint import build_with_weights, save_weights
from omnifuse.errors import FormatError
from omnifuse.segmentation.nearfield_occupancy import NearFieldOccupancyNet
from omnifuse.segmentation.rgbx import CMXSegmentor

CFG = dict(type='NearFieldOccupancyNet', occupied_classes=('a', 'b'), width=8)


def test_build_with_weights_loads_strictly_and_returns_the_meta(tmp_path) -> None:
    torch.manual_seed(0)
    trained = NearFieldOccupancyNet(occupied_classes=('a', 'b'), width=8)
    path = save_weights(trained, tmp_path / 'w.pth', meta={'iter': 3})
    model, meta = build_with_weights(CFG, checkpoint=path, device='cpu')
    assert isinstance(model, NearFieldOccupancyNet) and not model.training and meta['iter'] == 3
    for key, value in trained.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    fresh, none = build_with_weights(CFG, checkpoint=None, device='cpu')
    assert none == {} and not fresh.training
    with pytest.raises(FormatError, match="'NearFieldOccupancyNet' is not a CMXSegmentor"):
        build_with_weights(CFG, checkpoint=None, device='cpu', expected_type=CMXSegmentor, source='cfg.py')
    wider = NearFieldOccupancyNet(occupied_classes=('a', 'b'), width=16)
    save_weights(wider, tmp_path / 'wide.pth')
    with pytest.raises(FormatError, match='shape mismatch'):
        build_with_weights(CFG, checkpoint=tmp_path / 'wide.pth', device='cpu')
