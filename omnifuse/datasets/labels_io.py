"""KITTI label files <-> `ObjectLabels`: the calibration-dependent half of KITTI label I/O.

The text itself is parsed and formatted in one place, `omnifuse.structures.kitti_labels`, into the
column form `KittiLabels` (3D boxes in the rectified camera frame, (x, y, z) the bottom centre). This
module only moves the 3D boxes between that frame and the LiDAR frame with the calibration
(`Boxes3D.from_kitti_camera` / `to_kitti_camera`, i.e. R0_rect · Tr_velo_to_cam) and keeps every other
field as it is. `DontCare` rows (image regions without a 3D box) are kept on reading, with meaningless
converted boxes, and written with KITTI's placeholders -1 -1 -1 -1000 -1000 -1000 -10.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from omnifuse.errors import FormatError
from omnifuse.structures import Boxes3D, Calibration, ObjectLabels
from omnifuse.structures import kitti_labels as kitti_text
from omnifuse.structures.kitti_labels import KittiLabels

__all__ = ['kitti_to_object_labels', 'object_labels_to_kitti', 'read_object_labels', 'write_object_labels',
           'DONTCARE']

DONTCARE = 'DontCare'
# KITTI's placeholders for the 3D fields of DontCare rows: h w l, x y z, ry.
_DONTCARE_3D = (-1.0, -1.0, -1.0, -1000.0, -1000.0, -1000.0, -10.0)


def kitti_to_object_labels(kitti: KittiLabels, calib: Calibration, *,
                           source: str = '<labels>') -> ObjectLabels:
    """Convert KITTI camera labels to `ObjectLabels` with boxes in the LiDAR frame.

    Args:
        kitti: N objects as parsed (score NaN where a line has no 16th column).
        calib: gives the rectified camera <- LiDAR transform (`T_rect_lidar`).
        source: name used in error messages (the label file).

    Returns:
        N objects in file order: (N, 7) boxes, LiDAR frame; `scores` set when every line has a score,
        None when none has. DontCare rows keep their name; their boxes mean nothing (filter them with
        `ObjectLabels.without_dontcare`).

    Raises:
        FormatError: some lines have a score column and others do not.
    """
    if len(kitti) == 0:
        return ObjectLabels.empty()
    has_score = ~np.isnan(kitti.score)
    if has_score.any() and not has_score.all():
        raise FormatError(f'{source}: some lines have a 16th score column and others do not')
    # (N, 7) h w l x y z ry, rectified camera frame
    camera = np.concatenate([kitti.dimensions, kitti.location, kitti.rotation_y[:, None]], 1)
    return ObjectLabels(
        boxes=Boxes3D.from_kitti_camera(camera, calib.T_rect_lidar),
        names=[str(n) for n in kitti.name],
        truncated=kitti.truncated.copy(),
        occluded=kitti.occluded.copy(),
        alpha=kitti.alpha.copy(),
        bbox_2d=kitti.bbox.copy(),
        scores=kitti.score.copy() if has_score.all() else None)


def object_labels_to_kitti(labels: ObjectLabels, calib: Calibration | np.ndarray) -> KittiLabels:
    """Convert `ObjectLabels` (LiDAR-frame boxes) to KITTI camera labels.

    Args:
        labels: N objects, (N, 7) boxes in the LiDAR frame.
        calib: the calibration (its `T_rect_lidar`), or directly the (4, 4) LiDAR -> rectified camera
            transform of the camera the labels are for.

    Returns:
        N objects in the same order; the 3D fields of DontCare rows are KITTI's placeholders; score
        NaN for every row when `labels.scores` is None.
    """
    n = len(labels)
    if n == 0:
        return KittiLabels.empty()
    T_rect_lidar = calib.T_rect_lidar if isinstance(calib, Calibration) else np.asarray(calib, np.float64)
    camera = labels.boxes.to_kitti_camera(T_rect_lidar)  # (N, 7) h w l x y z ry
    camera[np.array([name == DONTCARE for name in labels.names], dtype=bool)] = _DONTCARE_3D
    return KittiLabels(
        name=np.asarray(labels.names, dtype=str), truncated=labels.truncated, occluded=labels.occluded,
        alpha=labels.alpha, bbox=labels.bbox_2d, dimensions=camera[:, 0:3], location=camera[:, 3:6],
        rotation_y=camera[:, 6], score=np.full(n, np.nan) if labels.scores is None else labels.scores)


def read_object_labels(path: str | Path, calib: Calibration) -> ObjectLabels:
    """Read a KITTI label (or result) file as `ObjectLabels` in the LiDAR frame.

    Raises:
        FormatError: naming 'file:line' and the field for a malformed line (see
            `omnifuse.structures.kitti_labels.parse_kitti_label`), or the file when only some lines
            have a score.
    """
    return kitti_to_object_labels(kitti_text.read_kitti_label(path), calib, source=str(path))


def write_object_labels(path: str | Path, labels: ObjectLabels, calib: Calibration, *,
                      decimals: int = 2) -> None:
    """Write `labels` as a KITTI label file (16 columns, a result file, when `labels.scores` is set).

    Args:
        path: the file to write.
        labels: objects with LiDAR-frame boxes; DontCare rows are written with KITTI's placeholders.
        calib: gives the LiDAR -> rectified camera transform.
        decimals: digits after the point (KITTI's own files use 2).

    Raises:
        FormatError: a class name that is not one word or a field that is not finite, naming the file,
            the object and the field.
    """
    kitti_text.write_kitti_label(path, object_labels_to_kitti(labels, calib),
                                 with_score=labels.scores is not None, decimals=decimals)
