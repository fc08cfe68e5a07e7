"""KITTI object label text: parse every field, convert to `ObjectLabels`, write it back.

One line per object, space separated (KITTI devkit, `readme.txt` of the object benchmark):

    type truncated occluded alpha  x1 y1 x2 y2  h w l  x y z  ry  [score]

`type` is 'Car', 'Pedestrian', ..., or 'DontCare' (an image region without 3D box; its 3D fields
hold the placeholders -1 -1 -1 -1000 -1000 -1000 -10). The 3D box is in the rectified camera frame
(x right, y down, z forward) with (x, y, z) the bottom centre; the 16th column, a score, appears in
result files only. The conversion to the LiDAR frame is `Boxes3D.from_kitti_camera` (needs the calib).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from omnifuse.errors import FormatError
from omnifuse.structures import Boxes3D, Calibration, ObjectLabels

__all__ = ['KittiLabelRow', 'parse_kitti_label_text', 'read_kitti_label_rows', 'rows_to_labels',
           'read_kitti_label', 'format_kitti_label', 'write_kitti_label', 'DONTCARE']

DONTCARE = 'DontCare'
# KITTI's placeholders for the 3D fields of DontCare rows: h w l, x y z, ry.
_DONTCARE_3D = (-1.0, -1.0, -1.0, -1000.0, -1000.0, -1000.0, -10.0)


@dataclass(frozen=True)
class KittiLabelRow:
    """The raw fields of one KITTI label line, exactly as written.

    Attributes:
        type: class name ('Car', ..., 'DontCare').
        truncated: float in [0, 1] (-1 for DontCare in some files).
        occluded: int 0..3 (-1 for DontCare in some files).
        alpha: observation angle [rad] (-10 when unknown).
        bbox: (x1, y1, x2, y2) 2D box in image_2 [px].
        dimensions: (h, w, l) [m].
        location: (x, y, z) bottom centre, rectified camera frame [m].
        rotation_y: ry [rad] about the camera's y axis.
        score: the 16th column (results only), else None.
        source: 'file:line' where the row came from.
    """

    type: str
    truncated: float
    occluded: int
    alpha: float
    bbox: tuple[float, float, float, float]
    dimensions: tuple[float, float, float]
    location: tuple[float, float, float]
    rotation_y: float
    score: float | None = None
    source: str = ''

    @property
    def camera_box(self) -> tuple[float, ...]:
        """(h, w, l, x, y, z, ry): the order `Boxes3D.from_kitti_camera` takes."""
        return (*self.dimensions, *self.location, self.rotation_y)


def _parse_line(line: str, where: str) -> KittiLabelRow:
    parts = line.split()
    if len(parts) not in (15, 16):
        raise FormatError(f'{where}: a KITTI label line has 15 fields (16 with a score), found {len(parts)}: '
                          f'{line.strip()[:80]!r}')
    try:
        values = [float(v) for v in parts[1:]]
    except ValueError:
        bad = next(v for v in parts[1:] if not _is_float(v))
        raise FormatError(f'{where}: non-numeric field {bad!r} in KITTI label line') from None
    occluded = values[1]
    if occluded != int(occluded):
        raise FormatError(f'{where}: occluded must be an integer (0..3 or -1), found {parts[2]!r}')
    return KittiLabelRow(
        type=parts[0], truncated=values[0], occluded=int(occluded), alpha=values[2],
        bbox=(values[3], values[4], values[5], values[6]),
        dimensions=(values[7], values[8], values[9]),
        location=(values[10], values[11], values[12]),
        rotation_y=values[13],
        score=values[14] if len(values) == 15 else None,
        source=where)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_kitti_label_text(text: str, source: str = '<label>') -> list[KittiLabelRow]:
    """Parse the text of a KITTI label file (blank lines are skipped).

    Raises:
        FormatError: naming `source:line` for a line with the wrong number of fields or a
            non-numeric value; also when some rows have a score and others not.
    """
    rows = [_parse_line(line, f'{source}:{lineno}')
            for lineno, line in enumerate(text.splitlines(), 1) if line.strip()]
    with_score = {row.score is not None for row in rows}
    if len(with_score) > 1:
        raise FormatError(f'{source}: some lines have a 16th score column and others do not')
    return rows


def read_kitti_label_rows(path: str | Path) -> list[KittiLabelRow]:
    """Read a KITTI label file into raw rows (see `KittiLabelRow`)."""
    path = Path(path)
    return parse_kitti_label_text(path.read_text(), source=str(path))


def rows_to_labels(rows: Sequence[KittiLabelRow], calib: Calibration) -> ObjectLabels:
    """Convert raw rows to `ObjectLabels` (boxes in the LiDAR frame).

    DontCare rows are kept, named 'DontCare'; their boxes are the converted placeholders and mean
    nothing (filter them with `ObjectLabels.without_dontcare`).
    """
    if not rows:
        return ObjectLabels.empty()
    camera = np.array([row.camera_box for row in rows], dtype=np.float64)  # (N, 7) h w l x y z ry
    boxes = Boxes3D.from_kitti_camera(camera, calib.T_rect_lidar)
    scores = None
    if rows[0].score is not None:
        scores = np.array([row.score for row in rows], dtype=np.float64)
    return ObjectLabels(
        boxes=boxes,
        names=[row.type for row in rows],
        truncation=np.array([row.truncated for row in rows], dtype=np.float64),
        occlusion=np.array([row.occluded for row in rows], dtype=np.int64),
        alpha=np.array([row.alpha for row in rows], dtype=np.float64),
        bbox_2d=np.array([row.bbox for row in rows], dtype=np.float64).reshape(-1, 4),
        scores=scores)


def read_kitti_label(path: str | Path, calib: Calibration) -> ObjectLabels:
    """Read a KITTI label file as `ObjectLabels` in the LiDAR frame (calib gives R0_rect·Tr_velo_to_cam)."""
    return rows_to_labels(read_kitti_label_rows(path), calib)


def format_kitti_label(labels: ObjectLabels, calib: Calibration, *, decimals: int = 2) -> str:
    """KITTI label text for `labels` (16 columns when `labels.scores` is set).

    Args:
        labels: objects with LiDAR-frame boxes; DontCare rows are written with KITTI's placeholders.
        calib: gives the LiDAR -> rectified camera transform.
        decimals: digits after the point (KITTI's own files use 2).
    """
    if len(labels) == 0:
        return ''
    camera = labels.boxes.to_kitti_camera(calib.T_rect_lidar)  # (N, 7) h w l x y z ry
    lines = []
    for i, name in enumerate(labels.names):
        if ' ' in name or not name:
            raise FormatError(f'KITTI label: class name {name!r} must be one word')
        fields3d = _DONTCARE_3D if name == DONTCARE else tuple(camera[i])
        values = [float(labels.truncation[i]), int(labels.occlusion[i]), float(labels.alpha[i]),
                  *(float(v) for v in labels.bbox_2d[i]), *fields3d]
        if labels.scores is not None:
            values.append(float(labels.scores[i]))
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                raise FormatError(f'KITTI label: object {i} ({name}) has a non-finite field: {values}')
        text = [name] + [str(v) if isinstance(v, int) else f'{v:.{decimals}f}' for v in values]
        lines.append(' '.join(text))
    return '\n'.join(lines) + '\n'


def write_kitti_label(path: str | Path, labels: ObjectLabels, calib: Calibration, *,
                      decimals: int = 2) -> None:
    """Write `labels` as a KITTI label (or result, with scores) file; see `format_kitti_label`."""
    Path(path).write_text(format_kitti_label(labels, calib, decimals=decimals))
