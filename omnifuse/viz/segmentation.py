"""Semantic label images drawn over their camera image, in the class palette (omnifuse.viz.colors)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from omnifuse.viz.colors import class_palette

__all__ = ['draw_label_overlay']


def draw_label_overlay(rgb: np.ndarray, labels: np.ndarray, class_names: Sequence[str], *,
                       alpha: float = 0.5) -> np.ndarray:
    """Blend the class colours of `labels` into `rgb` and add a legend of the classes present.

    Args:
        rgb: (H, W, 3) uint8 RGB image.
        labels: (H, W) class ids, indices into `class_names`.
        class_names: the name of each class id.
        alpha: opacity of the class colours.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    import cv2

    palette = class_palette(class_names).astype(np.float32)
    colour = palette[labels]
    out = (rgb.astype(np.float32) * (1 - alpha) + colour * alpha).clip(0, 255).astype(np.uint8)
    y = 18
    for cid in np.unique(labels):
        cv2.rectangle(out, (6, y - 12), (20, y + 2), tuple(int(v) for v in palette[cid]), -1)
        cv2.putText(out, str(class_names[cid]), (26, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                    cv2.LINE_AA)
        y += 18
    return out
