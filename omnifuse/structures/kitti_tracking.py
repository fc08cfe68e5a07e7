"""KITTI tracking text <-> column arrays: the one parser and formatter of tracking labels, results and detections.

Two text formats, one sequence per file (`<seq>.txt`, e.g. `0001.txt`):

- KITTI tracking labels and results (the tracking devkit's readme), space separated:

      frame track_id type truncated occluded alpha  x1 y1 x2 y2  h w l  x y z  ry  [score]

  17 columns in ground truth (`label_02/<seq>.txt`), 18 in results (the last one the score). The label
  fields from `type` on are those of a KITTI object label (`omnifuse.structures.kitti_labels`): rectified
  camera frame, (x, y, z) the bottom centre. DontCare rows have track id -1. In tracking ground truth
  `truncated` is a level 0, 1, 2 rather than a fraction.
- AB3DMOT's detection input (`detections_pointrcnn/pointrcnn_<Class>_val/<seq>.txt`), comma separated:

      frame,type_id,x1,y1,x2,y2,score,h,w,l,x,y,z,rot_y,alpha

  with type ids 1 Pedestrian, 2 Car, 3 Cyclist (`AB3DMOT_CLASS_IDS`).

Both read into `KittiTrackRows`: the frame and track id of every row beside the rows' `KittiLabels`.
Pure text and numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from omnifuse.errors import FormatError, ShapeError
from omnifuse.structures.kitti_labels import KittiLabels, format_label_fields, labels_from_rows, parse_label_fields
from omnifuse.structures.text_file import read_text_file

__all__ = ['KittiTrackRows', 'AB3DMOT_CLASS_IDS', 'parse_kitti_tracking', 'read_kitti_tracking',
           'format_kitti_tracking', 'write_kitti_tracking', 'parse_ab3dmot_detections',
           'read_ab3dmot_detections', 'format_ab3dmot_detections']

# AB3DMOT's detection files number the classes this way (its own convention, not KITTI's).
AB3DMOT_CLASS_IDS = {1: 'Pedestrian', 2: 'Car', 3: 'Cyclist'}
_AB3DMOT_FIELDS = ('frame', 'type_id', 'x1', 'y1', 'x2', 'y2', 'score', 'h', 'w', 'l', 'x', 'y', 'z', 'rot_y',
                   'alpha')


@dataclass(frozen=True)
class KittiTrackRows:
    """The rows of one tracking sequence (file order): per row a frame, a track id and the object's label.

    Attributes:
        frame: (N,) int64 frame index within the sequence.
        track_id: (N,) int64 track id (-1 for DontCare rows and for detections, which have none).
        labels: the N objects in KITTI label form (rectified camera frame; `score` NaN in ground truth).
    """

    frame: np.ndarray
    track_id: np.ndarray
    labels: KittiLabels

    def __post_init__(self) -> None:
        for key in ('frame', 'track_id'):
            arr = np.asarray(getattr(self, key), dtype=np.int64).reshape(-1)
            if len(arr) != len(self.labels):
                raise ShapeError(f'KittiTrackRows.{key}: {len(arr)} rows, but {len(self.labels)} labels')
            object.__setattr__(self, key, arr)

    def __len__(self) -> int:
        return len(self.frame)

    @classmethod
    def empty(cls) -> KittiTrackRows:
        """A sequence without rows."""
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), KittiLabels.empty())

    @classmethod
    def concatenate(cls, parts: list[KittiTrackRows]) -> KittiTrackRows:
        """The rows of `parts` one after the other (e.g. one detection file per class)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        fields = parts[0].labels.as_dict().keys()
        labels = KittiLabels(**{k: np.concatenate([getattr(p.labels, k) for p in parts]) for k in fields})
        return cls(np.concatenate([p.frame for p in parts]), np.concatenate([p.track_id for p in parts]), labels)

    def select(self, mask: np.ndarray) -> KittiTrackRows:
        """The rows where `mask` (boolean or index array) selects."""
        return KittiTrackRows(self.frame[mask], self.track_id[mask], self.labels.select(mask))

    def at_frame(self, frame: int) -> KittiTrackRows:
        """The rows of one frame, in file order."""
        return self.select(self.frame == frame)

    def sorted_by_frame(self) -> KittiTrackRows:
        """The rows ordered by frame (stable: file order within a frame)."""
        return self.select(np.argsort(self.frame, kind='stable'))


def _integer(token: str, field: str, column: int, source: str, lineno: int) -> int:
    try:
        value = float(token)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value != int(value):
        raise FormatError(f'{source}:{lineno}: field "{field}" (column {column}) must be an integer, got {token!r}')
    return int(value)


def parse_kitti_tracking(text: str, *, source: str = '<text>', require_score: bool = False) -> KittiTrackRows:
    """Parse the text of one KITTI tracking label (or result) file.

    Args:
        text: the file content; blank lines are skipped.
        source: name used in error messages ('file:line').
        require_score: demand the 18th column (result files).

    Returns:
        The rows in file order.

    Raises:
        FormatError: a wrong column count, a field that is not a number, a negative frame or a negative
            size, naming 'source:line' and the field.
    """
    frames: list[int] = []
    ids: list[int] = []
    names: list[str] = []
    rows: list[list[float]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) < 3:
            raise FormatError(f'{source}:{lineno}: expected {17 + require_score} columns '
                              f'(frame track_id type ...), got {len(tokens)}')
        frame = _integer(tokens[0], 'frame', 1, source, lineno)
        if frame < 0:
            raise FormatError(f'{source}:{lineno}: field "frame" (column 1) must be >= 0, got {tokens[0]}')
        track_id = _integer(tokens[1], 'track_id', 2, source, lineno)
        name, values = parse_label_fields(tokens[2:], source=source, lineno=lineno, require_score=require_score,
                                          shift=2)
        frames.append(frame)
        ids.append(track_id)
        names.append(name)
        rows.append(values)
    return KittiTrackRows(np.asarray(frames, np.int64), np.asarray(ids, np.int64), labels_from_rows(names, rows))


def read_kitti_tracking(path: str | Path, *, require_score: bool = False) -> KittiTrackRows:
    """Read one KITTI tracking label/result file (see `parse_kitti_tracking`)."""
    path = Path(path)
    return parse_kitti_tracking(read_text_file(path, 'KITTI tracking files'), source=str(path),
                                require_score=require_score)


def format_kitti_tracking(rows: KittiTrackRows, *, with_score: bool | None = None, decimals: int = 4) -> str:
    """KITTI tracking text of `rows`, one line per row in their order (empty string for none).

    Args:
        rows: the rows.
        with_score: write the 18th column; by default when every score is finite.
        decimals: digits after the point for the float fields.

    Raises:
        FormatError: a field that could not be read back (see `format_kitti_label`).
    """
    labels = rows.labels
    if with_score is None:
        with_score = len(labels) > 0 and bool(np.isfinite(labels.score).all())
    return ''.join(f'{rows.frame[i]} {rows.track_id[i]} '
                   + format_label_fields(labels, i, with_score=with_score, decimals=decimals) + '\n'
                   for i in range(len(rows)))


def write_kitti_tracking(path: str | Path, rows: KittiTrackRows, *, with_score: bool | None = None,
                         decimals: int = 4) -> None:
    """Write `rows` to `path` as KITTI tracking text (see `format_kitti_tracking`; errors name `path`)."""
    try:
        text = format_kitti_tracking(rows, with_score=with_score, decimals=decimals)
    except FormatError as exc:
        raise FormatError(f'{path}: {exc}') from None
    Path(path).write_text(text, encoding='utf-8')


def parse_ab3dmot_detections(text: str, *, source: str = '<text>') -> KittiTrackRows:
    """Parse one AB3DMOT detection file (comma separated, see the module docstring).

    Returns:
        The detections in file order with track id -1; truncated and occluded are unknown (-1).

    Raises:
        FormatError: a wrong column count, a field that is not a finite number, an unknown type id or a
            negative size, naming 'source:line' and the field.
    """
    frames: list[int] = []
    names: list[str] = []
    values: list[list[float]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        tokens = [t.strip() for t in line.split(',')]
        if len(tokens) != len(_AB3DMOT_FIELDS):
            raise FormatError(f'{source}:{lineno}: expected {len(_AB3DMOT_FIELDS)} comma-separated columns '
                              f'({",".join(_AB3DMOT_FIELDS)}), got {len(tokens)}')
        frame = _integer(tokens[0], 'frame', 1, source, lineno)
        type_id = _integer(tokens[1], 'type_id', 2, source, lineno)
        if type_id not in AB3DMOT_CLASS_IDS:
            raise FormatError(f'{source}:{lineno}: field "type_id" (column 2) must be one of '
                              f'{sorted(AB3DMOT_CLASS_IDS)} ({", ".join(AB3DMOT_CLASS_IDS.values())}), got {type_id}')
        row = []
        for col, tok in enumerate(tokens[2:], start=2):
            try:
                v = float(tok)
            except ValueError:
                v = math.nan
            if not math.isfinite(v):
                raise FormatError(f'{source}:{lineno}: field "{_AB3DMOT_FIELDS[col]}" (column {col + 1}) must be '
                                  f'a finite number, got {tok!r}')
            row.append(v)
        if min(row[5:8]) < 0:
            raise FormatError(f'{source}:{lineno}: detection has a negative size (h w l = {" ".join(tokens[7:10])})')
        frames.append(frame)
        names.append(AB3DMOT_CLASS_IDS[type_id])
        values.append(row)
    if not values:
        return KittiTrackRows.empty()
    arr = np.asarray(values, np.float64)  # x1 y1 x2 y2 score h w l x y z ry alpha
    n = len(arr)
    labels = KittiLabels(name=np.asarray(names, str), truncated=np.full(n, -1.0), occluded=np.full(n, -1),
                         alpha=arr[:, 12], bbox=arr[:, 0:4], dimensions=arr[:, 5:8], location=arr[:, 8:11],
                         rotation_y=arr[:, 11], score=arr[:, 4])
    return KittiTrackRows(np.asarray(frames, np.int64), np.full(n, -1, np.int64), labels)


def read_ab3dmot_detections(path: str | Path) -> KittiTrackRows:
    """Read one AB3DMOT detection file (see `parse_ab3dmot_detections`)."""
    path = Path(path)
    return parse_ab3dmot_detections(read_text_file(path, 'AB3DMOT detection files'), source=str(path))


def format_ab3dmot_detections(rows: KittiTrackRows, *, decimals: int = 4) -> str:
    """AB3DMOT detection text of `rows` (classes Pedestrian, Car, Cyclist only; scores must be finite)."""
    ids = {name: i for i, name in AB3DMOT_CLASS_IDS.items()}
    lab = rows.labels
    lines = []
    for i in range(len(rows)):
        name = str(lab.name[i])
        if name not in ids:
            raise FormatError(f'AB3DMOT detections: row {i}: class {name!r} has no AB3DMOT type id '
                              f'({", ".join(ids)} have)')
        floats = [*lab.bbox[i], lab.score[i], *lab.dimensions[i], *lab.location[i], lab.rotation_y[i], lab.alpha[i]]
        if not all(math.isfinite(v) for v in floats):
            raise FormatError(f'AB3DMOT detections: row {i} ({name}): a field is not finite')
        lines.append(','.join([str(int(rows.frame[i])), str(ids[name])] + [f'{v:.{decimals}f}' for v in floats]))
    return ''.join(line + '\n' for line in lines)
