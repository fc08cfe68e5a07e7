"""KITTI object label text <-> column arrays: the one parser and formatter of KITTI label files.

One object per line, space separated (the KITTI object devkit's readme):

    type truncated occluded alpha  x1 y1 x2 y2  h w l  x y z  ry  [score]

15 columns in ground-truth files, 16 in result files (the last one the detection score). The 3D box
is in the rectified camera frame (x right, y down, z forward), (x, y, z) its bottom centre, `ry` the
rotation about the camera's y axis. `DontCare` rows mark image regions without 3D annotations (KITTI
fills their 3D fields with the placeholders -1 -1 -1 -1000 -1000 -1000 -10).

`KittiLabels` keeps one frame's objects as column arrays, in file order, in exactly these fields
(the "KITTI camera-label form"). Pure text and numpy, no calibration: the KITTI evaluation
(`omnifuse.evaluation.kitti`, `KittiMetric`) works on this form directly, and
`omnifuse.datasets.labels_io` converts it to and from `ObjectLabels` (LiDAR-frame boxes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from omnifuse.errors import FormatError, ShapeError
from omnifuse.structures.text_file import read_text_file

__all__ = ['KittiLabels', 'parse_kitti_label', 'read_kitti_label', 'format_kitti_label', 'write_kitti_label',
           'LABEL_FIELDS', 'parse_label_fields', 'labels_from_rows', 'format_label_fields']

# Column names of a label line, in file order (the three 'bbox', 'dimensions', 'location' groups spelled out).
LABEL_FIELDS = ('type', 'truncated', 'occluded', 'alpha', 'bbox x1', 'bbox y1', 'bbox x2', 'bbox y2',
                'height', 'width', 'length', 'x', 'y', 'z', 'rotation_y', 'score')
# The float fields of a line (every column but type and occluded), in file order.
_FLOAT_FIELDS = tuple(f for f in LABEL_FIELDS if f not in ('type', 'occluded'))


def _column(value: Any, dtype: Any, shape_tail: tuple[int, ...], name: str) -> np.ndarray:
    if hasattr(value, 'detach'):  # torch tensors (any device)
        value = value.detach().cpu().numpy()
    arr = np.asarray(value, dtype=dtype)
    if arr.size == 0:
        arr = arr.reshape((0,) + shape_tail)
    if arr.ndim != 1 + len(shape_tail) or arr.shape[1:] != shape_tail:
        want = '(N' + ''.join(f', {s}' for s in shape_tail) + ')'
        raise ShapeError(f'KittiLabels.{name}: expected shape {want}, got {arr.shape}')
    return arr


@dataclass(frozen=True)
class KittiLabels:
    """The objects of one frame in KITTI label form (column arrays, N objects, file order).

    Attributes:
        name: (N,) str class names ('Car', 'Pedestrian', ..., 'DontCare').
        truncated: (N,) float64 truncation in [0, 1] (-1 when unknown).
        occluded: (N,) int64 occlusion state 0..3 (-1 when unknown).
        alpha: (N,) float64 observation angle [rad] (-10 when unknown).
        bbox: (N, 4) float64 image box (x1, y1, x2, y2) in image_2 [px].
        dimensions: (N, 3) float64 (h, w, l) [m], the label file's order.
        location: (N, 3) float64 bottom centre (x, y, z), rectified camera frame [m].
        rotation_y: (N,) float64 ry [rad] about the camera y axis.
        score: (N,) float64 detection scores; NaN for ground truth read without a score column.
    """

    name: np.ndarray
    truncated: np.ndarray
    occluded: np.ndarray
    alpha: np.ndarray
    bbox: np.ndarray
    dimensions: np.ndarray
    location: np.ndarray
    rotation_y: np.ndarray
    score: np.ndarray

    def __post_init__(self) -> None:
        name = self.name
        if hasattr(name, 'tolist') and not isinstance(name, np.ndarray):
            name = name.tolist()
        name_arr = np.asarray(name, dtype=str).reshape(-1)
        object.__setattr__(self, 'name', name_arr)
        n = len(name_arr)
        tails = {'truncated': (), 'occluded': (), 'alpha': (), 'bbox': (4,), 'dimensions': (3,),
                 'location': (3,), 'rotation_y': (), 'score': ()}
        for key, tail in tails.items():
            arr = _column(getattr(self, key), np.float64, tail, key)
            if key == 'occluded':
                arr = np.rint(arr).astype(np.int64)
            if len(arr) != n:
                raise ShapeError(f'KittiLabels.{key}: {len(arr)} rows, but {n} names')
            object.__setattr__(self, key, arr)

    def __len__(self) -> int:
        return len(self.name)

    @classmethod
    def empty(cls) -> KittiLabels:
        """A frame without objects."""
        z = np.zeros(0)
        return cls(np.zeros(0, dtype=str), z, np.zeros(0, np.int64), z, np.zeros((0, 4)), np.zeros((0, 3)),
                   np.zeros((0, 3)), z, z)

    @classmethod
    def from_mapping(cls, record: Mapping[str, Any], *, source: str = 'record') -> KittiLabels:
        """Build from a mapping with the field names above (lists, numpy arrays or tensors).

        'score' may be missing (NaN then); 'truncated', 'occluded' and 'alpha' default to 0, 0 and -10.
        """
        if 'name' not in record:
            raise FormatError(f'{source}: KITTI label record has no "name" field')
        n = len(np.asarray(record['name'], dtype=str).reshape(-1))
        missing = [k for k in ('bbox', 'dimensions', 'location', 'rotation_y') if k not in record]
        if missing:
            raise FormatError(f'{source}: KITTI label record lacks the field(s) {", ".join(missing)}')
        defaults = {'truncated': np.zeros(n), 'occluded': np.zeros(n, np.int64), 'alpha': np.full(n, -10.0),
                    'score': np.full(n, np.nan)}
        values = {f.name: record.get(f.name, defaults.get(f.name)) for f in fields(cls)}
        try:
            return cls(**values)
        except (ValueError, TypeError) as exc:
            raise FormatError(f'{source}: {exc}') from None

    def select(self, mask: np.ndarray) -> KittiLabels:
        """The rows where `mask` (boolean or index array) selects."""
        return KittiLabels(**{f.name: getattr(self, f.name)[mask] for f in fields(self)})

    def as_dict(self) -> dict[str, np.ndarray]:
        """The fields as a plain dict of numpy arrays."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _number(token: str, source: str, lineno: int, column: int, shift: int) -> float:
    try:
        value = float(token)
    except ValueError:
        raise FormatError(f'{source}:{lineno}: field "{LABEL_FIELDS[column]}" (column {column + 1 + shift}) '
                          f'must be a number, got {token!r}') from None
    if math.isnan(value):
        raise FormatError(f'{source}:{lineno}: field "{LABEL_FIELDS[column]}" (column {column + 1 + shift}) '
                          'is NaN')
    return value


def parse_label_fields(tokens: list[str], *, source: str, lineno: int, require_score: bool,
                       shift: int = 0) -> tuple[str, list[float]]:
    """Check and convert the 15 or 16 label fields of one line (`tokens`, the line's words from `type` on).

    Args:
        tokens: the words of the label fields (type ... ry [score]).
        source: the file (or stream) the line comes from, for error messages.
        lineno: the line's number in it, for error messages.
        require_score: demand the 16th field (result files).
        shift: columns before `type` on the line (2 in KITTI tracking files), so that the column numbers
            in error messages match the file.

    Returns:
        (class name, [truncated, occluded, alpha, x1, y1, x2, y2, h, w, l, x, y, z, ry, score]); score is
        NaN when the line has no 16th field.
    """
    if len(tokens) not in (15, 16) or (require_score and len(tokens) != 16):
        want = (f'{16 + shift} columns ({15 + shift} label fields and a score)' if require_score
                else f'{15 + shift} columns ({16 + shift} with a score)')
        raise FormatError(f'{source}:{lineno}: expected {want}, got {len(tokens) + shift}')
    values = [_number(tok, source, lineno, col, shift) for col, tok in enumerate(tokens[1:], start=1)]
    if values[1] != int(values[1]):
        raise FormatError(f'{source}:{lineno}: field "occluded" (column {3 + shift}) must be an integer, '
                          f'got {tokens[2]!r}')
    if len(values) == 14:
        values.append(math.nan)
    elif not math.isfinite(values[14]):
        raise FormatError(f'{source}:{lineno}: field "score" (column {16 + shift}) must be finite, '
                          f'got {tokens[15]!r}')
    if tokens[0] != 'DontCare' and min(values[7:10]) < 0:  # DontCare regions carry -1 sizes by convention
        raise FormatError(f'{source}:{lineno}: {tokens[0]} has a negative size (h w l = '
                          f'{" ".join(tokens[8:11])}); only DontCare regions may')
    return tokens[0], values


def labels_from_rows(names: list[str], rows: list[list[float]]) -> KittiLabels:
    """`KittiLabels` from class names and the value lists of `parse_label_fields`."""
    if not rows:
        return KittiLabels.empty()
    arr = np.asarray(rows, dtype=np.float64)  # (N, 15): truncated .. score
    return KittiLabels(name=np.asarray(names, dtype=str), truncated=arr[:, 0],
                       occluded=arr[:, 1].astype(np.int64),
                       alpha=arr[:, 2], bbox=arr[:, 3:7], dimensions=arr[:, 7:10], location=arr[:, 10:13],
                       rotation_y=arr[:, 13], score=arr[:, 14])


def parse_kitti_label(text: str, *, source: str = '<text>', require_score: bool = False) -> KittiLabels:
    """Parse the text of one KITTI label (or result) file.

    Args:
        text: the file content; blank lines are skipped.
        source: name used in error messages ('file:line').
        require_score: demand the 16th column (result files); otherwise it is optional.

    Returns:
        The objects in file order; `score` is NaN where the line has no 16th column.

    Raises:
        FormatError: a line with a wrong number of columns or a field that is not a number, naming
            'source:line' and the field.
    """
    names: list[str] = []
    rows: list[list[float]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        name, values = parse_label_fields(tokens, source=source, lineno=lineno, require_score=require_score)
        names.append(name)
        rows.append(values)
    return labels_from_rows(names, rows)


def read_kitti_label(path: str | Path, *, require_score: bool = False) -> KittiLabels:
    """Read one KITTI label/result file (see `parse_kitti_label`)."""
    return parse_kitti_label(read_text_file(path, 'KITTI labels'), source=str(path), require_score=require_score)


def format_kitti_label(labels: KittiLabels, *, with_score: bool | None = None, decimals: int = 4) -> str:
    """KITTI label text of `labels`, one line per object (empty string for no objects).

    Args:
        labels: the objects.
        with_score: write the 16th column; by default when every score is finite.
        decimals: digits after the point for the float fields (KITTI's own files use 2).

    Raises:
        FormatError: a class name that is empty or not one word, or a written field that is not
            finite (the file could not be read back), naming the object and the field.
    """
    if with_score is None:
        with_score = len(labels) > 0 and bool(np.isfinite(labels.score).all())
    return ''.join(format_label_fields(labels, i, with_score=with_score, decimals=decimals) + '\n'
                   for i in range(len(labels)))


def format_label_fields(labels: KittiLabels, i: int, *, with_score: bool, decimals: int = 4) -> str:
    """The label fields of object `i` as one line of text, without the newline (see `format_kitti_label`)."""
    name = str(labels.name[i])
    if name.split() != [name]:
        raise FormatError(f'KITTI label: object {i}: class name {name!r} must be one word')
    floats = [labels.truncated[i], labels.alpha[i], *labels.bbox[i], *labels.dimensions[i],
              *labels.location[i], labels.rotation_y[i]]
    if with_score:
        floats.append(labels.score[i])
    for value, field in zip(floats, _FLOAT_FIELDS, strict=False):  # without a score, floats is one shorter
        if not math.isfinite(value):
            raise FormatError(f'KITTI label: object {i} ({name}): field "{field}" is {value}, must be finite')
    text = [f'{v:.{decimals}f}' for v in floats]
    return ' '.join([name, text[0], str(int(labels.occluded[i])), *text[1:]])


def write_kitti_label(path: str | Path, labels: KittiLabels, *, with_score: bool | None = None,
                      decimals: int = 4) -> None:
    """Write `labels` to `path` as KITTI label text (see `format_kitti_label`; errors name `path`)."""
    try:
        text = format_kitti_label(labels, with_score=with_score, decimals=decimals)
    except FormatError as exc:
        raise FormatError(f'{path}: {exc}') from None
    Path(path).write_text(text, encoding='utf-8')
