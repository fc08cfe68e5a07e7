"""Build a CMX segmentor from its config and load its weights (for `omnifuse segment` and tools)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from omnifuse.checkpoint import build_model, load_weights
from omnifuse.segmentation.rgbx import CMXSegmentor

__all__ = ['build_segmentor', 'load_weights']


def build_segmentor(config: str | Path, *, checkpoint: str | Path | None = None,
                    device: str | torch.device = 'cpu') -> tuple[CMXSegmentor, Any]:
    """The config's CMXSegmentor with `checkpoint`'s weights when given, in eval mode on `device`.

    Returns:
        (model, cfg): the segmentor and the mmengine Config (for its dataset settings).

    Raises:
        FileNotFoundError: config or checkpoint missing.
        FormatError: the config has no CMXSegmentor model, or the checkpoint does not fit it.
    """
    model, cfg = build_model(config, checkpoint=checkpoint, device=device, expected_type=CMXSegmentor)
    assert isinstance(model, CMXSegmentor)  # build_model refuses another type
    return model, cfg
