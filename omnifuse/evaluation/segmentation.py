"""Semantic segmentation scores from a confusion matrix: per-class IoU and mIoU with an ignore index.

Conventions:
    - Labels are integer class ids 0..K-1; `ignore_index` (default 255) marks pixels that count for
      nothing, in the ground truth. A prediction outside 0..K-1 on a scored pixel is an error: the
      caller must map its ids first (`confusion_matrix` raises rather than dropping it silently).
    - The confusion matrix `cm` is (K, K) int64, rows = ground truth, columns = prediction.
    - IoU_k = TP / (TP + FP + FN). A class that appears neither in the ground truth nor in the
      prediction has no IoU (NaN; `null` in JSON) and is left out of the mean.
    - mIoU is the mean over the classes that have an IoU, in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypedDict, cast

import numpy as np

from omnifuse.errors import FormatError, ShapeError
from omnifuse.structures.label_image import read_label_png

__all__ = ['confusion_matrix', 'iou_from_confusion', 'scores_from_confusion',
           'evaluate_label_dirs', 'format_table']


def confusion_matrix(gt: np.ndarray, pred: np.ndarray, num_classes: int, *,
                     ignore_index: int | None = 255) -> np.ndarray:
    """Count (ground truth, prediction) pairs over the scored pixels.

    Args:
        gt: (H, W) or any shape, integer class ids; `ignore_index` pixels are skipped.
        pred: same shape as `gt`, integer class ids in 0..num_classes-1 on scored pixels.
        num_classes: K.
        ignore_index: id to skip in `gt` (None: score every pixel).

    Returns:
        (K, K) int64, rows = ground truth class, columns = predicted class.

    Raises:
        ShapeError: shapes differ.
        FormatError: a scored gt or pred id is outside 0..K-1.
    """
    gt = np.asarray(gt)
    pred = np.asarray(pred)
    if gt.shape != pred.shape:
        raise ShapeError(f'confusion_matrix: gt {gt.shape} and pred {pred.shape} differ in shape')
    gt = gt.reshape(-1).astype(np.int64)
    pred = pred.reshape(-1).astype(np.int64)
    if ignore_index is not None:
        keep = gt != ignore_index
        gt, pred = gt[keep], pred[keep]
    for name, ids in (('ground truth', gt), ('prediction', pred)):
        if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
            bad = ids[(ids < 0) | (ids >= num_classes)][0]
            raise FormatError(f'confusion_matrix: {name} has class id {int(bad)} outside 0..{num_classes - 1} '
                              f'(ignore_index={ignore_index})')
    return np.bincount(gt * num_classes + pred, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes).astype(np.int64)


def iou_from_confusion(cm: np.ndarray) -> np.ndarray:
    """(K,) float64 IoU per class; NaN for a class absent from both ground truth and prediction."""
    cm = np.asarray(cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ShapeError(f'iou_from_confusion: expected a (K, K) matrix, got {cm.shape}')
    tp = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(union > 0, tp / np.maximum(union, 1e-300), np.nan)


def _clean(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


class SegScores(TypedDict):
    """What `scores_from_confusion` returns (JSON-ready)."""

    miou: float | None
    per_class_iou: dict[str, float | None]
    pixel_accuracy: float | None
    num_pixels: int
    confusion_matrix: list[list[int]]


def scores_from_confusion(cm: np.ndarray, class_names: Sequence[str]) -> SegScores:
    """JSON-ready scores of one confusion matrix.

    Returns:
        {'miou': float in [0, 1] (None if no class has an IoU), 'per_class_iou': {name: float or None},
         'pixel_accuracy': float or None, 'num_pixels': int, 'confusion_matrix': K x K list}.
    """
    cm = np.asarray(cm, dtype=np.int64)
    if len(class_names) != cm.shape[0]:
        raise ShapeError(f'scores_from_confusion: {len(class_names)} class names for a {cm.shape} matrix')
    iou = iou_from_confusion(cm)
    total = int(cm.sum())
    valid = ~np.isnan(iou)
    return {
        'miou': float(iou[valid].mean()) if valid.any() else None,
        'per_class_iou': {str(name): _clean(v) for name, v in zip(class_names, iou, strict=True)},
        'pixel_accuracy': float(np.trace(cm) / total) if total else None,
        'num_pixels': total,
        'confusion_matrix': cm.tolist(),
    }


def evaluate_label_dirs(gt_dir: str | Path, pred_dir: str | Path, *, class_names: Sequence[str] | None = None,
                        ignore_index: int | None = 255, suffixes: Sequence[str] = ('.png',),
                        stems: Sequence[str] | None = None, progress: bool = False) -> dict[str, object]:
    """Score every label PNG of `gt_dir` against the file of the same stem in `pred_dir`.

    Args:
        gt_dir: folder of the (H, W) class-id PNGs of the truth.
        pred_dir: folder of the predicted ones (same stems).
        class_names: K names; None = 'class_0'.. up to the largest id seen (ignore_index excluded).
        ignore_index: gt id that is not scored.
        suffixes: file suffixes of the label images.
        stems: only these file stems (frame ids) of `gt_dir` (None: every label image there).
        progress: show a tqdm bar.

    Returns:
        `scores_from_confusion` output plus 'num_images'.

    Raises:
        FileNotFoundError / FormatError: a folder is missing, empty, a prediction is missing or a
        file is malformed (the message names the file).
    """
    gt_dir, pred_dir = Path(gt_dir), Path(pred_dir)
    for d in (gt_dir, pred_dir):
        if not d.is_dir():
            raise FileNotFoundError(2, 'No such directory', str(d))
    gt_files = sorted(p for p in gt_dir.iterdir() if p.suffix.lower() in suffixes)
    if stems is not None:
        wanted = set(stems)
        absent = sorted(wanted - {p.stem for p in gt_files})
        if absent:
            raise FormatError(f'{gt_dir}: no ground-truth label image for {len(absent)} selected frame(s), '
                              f'first {absent[0]!r}')
        gt_files = [p for p in gt_files if p.stem in wanted]
    if not gt_files:
        raise FormatError(f'{gt_dir}: no label images ({", ".join(suffixes)})'
                          + (' among the selected frames' if stems is not None else ''))
    pred_by_stem = {p.stem: p for p in pred_dir.iterdir() if p.suffix.lower() in suffixes}
    missing = [p.stem for p in gt_files if p.stem not in pred_by_stem]
    if missing:
        raise FormatError(f'{pred_dir}: no prediction for {len(missing)} ground-truth image(s), '
                          f'first {missing[0]!r}')
    pairs = []
    iterator = gt_files
    if progress:
        from tqdm import tqdm
        iterator = tqdm(gt_files, desc='eval seg', unit='img')
    cm: np.ndarray | None = None
    num_classes = len(class_names) if class_names is not None else None
    for gt_path in iterator:
        gt = read_label_png(gt_path)
        pred_path = pred_by_stem[gt_path.stem]
        pred = read_label_png(pred_path)
        if gt.shape != pred.shape:
            raise FormatError(f'{pred_path}: size {pred.shape[::-1]} differs from the ground truth '
                              f'{gt_path} {gt.shape[::-1]} (W, H)')
        if num_classes is None:
            pairs.append((gt_path, gt, pred_path, pred))
            continue
        cm_one = _checked_confusion(gt, pred, num_classes, ignore_index, gt_path, pred_path)
        cm = cm_one if cm is None else cm + cm_one
    if num_classes is None:
        highest = 0
        for _, gt, _, pred in pairs:
            scored = gt != ignore_index if ignore_index is not None else np.ones(gt.shape, bool)
            if scored.any():
                highest = max(highest, int(gt[scored].max()), int(pred[scored].max()))
        num_classes = highest + 1
        class_names = tuple(f'class_{i}' for i in range(num_classes))
        for gt_path, gt, pred_path, pred in pairs:
            cm_one = _checked_confusion(gt, pred, num_classes, ignore_index, gt_path, pred_path)
            cm = cm_one if cm is None else cm + cm_one
    assert cm is not None and class_names is not None
    out: dict[str, object] = dict(scores_from_confusion(cm, class_names))
    out['num_images'] = len(gt_files)
    return out


def _checked_confusion(gt: np.ndarray, pred: np.ndarray, num_classes: int, ignore_index: int | None,
                       gt_path: Path, pred_path: Path) -> np.ndarray:
    try:
        return confusion_matrix(gt, pred, num_classes, ignore_index=ignore_index)
    except FormatError as exc:
        raise FormatError(f'{gt_path} / {pred_path}: {exc} (give --classes with all {num_classes}+ classes '
                          'or --ignore-index)') from None


def format_table(scores: Mapping[str, object]) -> str:
    """A plain-text table of per-class IoU and the mean (percent)."""
    per_class = scores['per_class_iou']
    assert isinstance(per_class, Mapping)
    width = max([len(str(k)) for k in per_class] + [8])
    lines = [f'{"class":<{width}}  IoU [%]']
    for name, value in per_class.items():
        shown = '    -' if value is None else f'{100 * float(value):7.2f}'
        lines.append(f'{name:<{width}}  {shown}')
    miou = cast('float | None', scores['miou'])
    lines.append(f'{"mIoU":<{width}}  ' + ('    -' if miou is None else f'{100 * float(miou):7.2f}'))
    return '\n'.join(lines)

