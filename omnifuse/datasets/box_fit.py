"""Box fitting at inference: grow each detected vehicle box over the points that belong to it.

A detector trained in the simulator reads the real vans of KITTI as cars: its boxes are right in place and
heading but 0.3-0.4 m low and 0.8-1 m short (docs/results.md, "Why the vans miss IoU 0.7"), while the scan holds
the van's points up to its real extent. `BoxFit` moves the faces of each box of the chosen classes outwards
over the points next to it, as far as those points run on without a gap:

- the neighbourhood: the points within `margin` metres of the box's footprint, higher than `clearance` above
  the local ground (the 10th height percentile of the points in that margin ring within `ground_band` of the
  box bottom) and at most `grow_height` above its top, minus the points inside any other detected box;
- each of the four side faces moves out over the neighbourhood points beyond it (those in front of that face,
  within 0.2 m of the box sideways) while consecutive points lie less than `gap` apart, by at most
  `grow_length` (front / back) or `grow_width` (left / right), and never beyond `margin`; the top moves up the
  same way over the points above the footprint, by at most `grow_height`; the bottom goes down to the local
  ground when that is lower;
- a face never moves in (a fitted box contains the detected one), the size stays within `max_size` (a longer
  or wider fit keeps the detected centre along that axis) and a box with fewer than `min_points`
  neighbourhood points inside it is left as detected. Yaw is never changed;
- a fitted box at least `long_height` tall and shorter than `long_length` is lengthened to `long_length` at its
  end away from the sensor, the end a LiDAR does not see: by KITTI's labels such a box is a van (of the tracking
  labels of sequences 1-20, 94 % of the Vans and 3.5 % of the Cars are 1.8 m or taller; the Vans' median length
  is 4.99 m), and a sim-trained model, having read it as a car, leaves it car-long when its far end has no points.

It needs no weights and runs the same on every backend (numpy; the exported detector's runtime applies it
too). A model asks for it in its config, `box_fit = dict(classes=['Car'])`; `omnifuse detect --fit-boxes /
--no-fit-boxes` override. On the simulator's test set it moves the Car AP by at most 0.11 (its boxes are already
the size of their points); on the real scans of KITTI sequence 0000 it takes the vans' boxes to their labelled
size (docs/results.md, "Fitting the boxes to their points").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from omnifuse.datasets.config_settings import settings_from_config
from omnifuse.errors import FormatError

__all__ = ['BoxFit', 'fit_boxes_to_points']

_CELL = 2.0  # [m] side of the BEV cells the points are bucketed in, to find a box's neighbours quickly
_SIDE_BAND = 0.2  # [m] how far sideways of a face its points may lie


@dataclass(frozen=True)
class BoxFit:
    """Settings of the box fitting (see the module doc; lengths in metres).

    Attributes:
        classes: class names whose boxes are fitted (empty: none; the fitting is off).
        margin: how far around the footprint points are looked for.
        gap: the largest gap between consecutive points that a face moves across.
        grow_length, grow_width, grow_height: the most a face moves out along the heading, sideways, upwards
            (the side faces also at most `margin`).
        clearance: points this far above the local ground and lower are ground, not object.
        ground_band: the margin-ring points within this of the box bottom give the local ground.
        min_points: fewer neighbourhood points inside the box than this: left as detected.
        max_size: (length, width, height) a fitted box does not exceed.
        long_height, long_length: a fitted box this tall and shorter than `long_length` gets that length
            (`long_length` 0: never).
    """

    classes: tuple[str, ...] = ()
    margin: float = 1.0
    gap: float = 0.4
    grow_length: float = 1.2
    grow_width: float = 0.3
    grow_height: float = 0.6
    clearance: float = 0.25
    ground_band: float = 0.6
    min_points: int = 20
    max_size: tuple[float, float, float] = (6.5, 2.3, 2.6)
    long_height: float = 1.8
    long_length: float = 4.99

    def __post_init__(self) -> None:
        object.__setattr__(self, 'classes', tuple(str(c) for c in self.classes))
        object.__setattr__(self, 'max_size', tuple(float(v) for v in self.max_size))
        if len(self.max_size) != 3:
            raise FormatError(f'box_fit.max_size: (length, width, height), got {self.max_size}')

    @classmethod
    def from_config(cls, settings: Mapping[str, Any] | None, *, source: str = 'config') -> BoxFit:
        """The fitting a model's config asks for (`box_fit = dict(classes=[...], ...)`; None or absent: off).

        Raises:
            FormatError naming `source` and the key: an unknown key.
        """
        return settings_from_config(cls, settings, key='box_fit', source=source)

    def as_dict(self) -> dict[str, Any]:
        """The settings as a JSON-able dict (what `from_config` reads back)."""
        d = dataclasses.asdict(self)
        d['classes'], d['max_size'] = list(self.classes), list(self.max_size)
        return d

    @property
    def active(self) -> bool:
        """Whether any class is fitted."""
        return bool(self.classes)

    def __call__(self, boxes: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
                 points: np.ndarray) -> np.ndarray:
        """(K, 7) boxes (LiDAR frame of `points`), (K,) class indices into `class_names`, (N, >=3) points ->
        the (K, 7) boxes with those of `classes` fitted (a new array; the others unchanged)."""
        names = np.asarray([class_names[int(i)] for i in labels], dtype=object)
        chosen = np.isin(names, self.classes) if len(names) else np.zeros(0, bool)
        return fit_boxes_to_points(boxes, points, chosen, self)


def _local(x: np.ndarray, y: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points' (u, v): along the box heading and to its left, from its centre."""
    c, s = np.cos(box[6]), np.sin(box[6])
    dx, dy = x - box[0], y - box[1]
    return c * dx + s * dy, c * dy - s * dx


def _bucket(xyz: np.ndarray, centres: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The points (N, 3) in any of the rectangles (`centres` (B, 2), half extents `half` (B, 2), axis-aligned),
    sorted into `_CELL` BEV cells: (those points as float64 (3, M) x / y / z rows in cell order, cell start
    offsets (cells + 1,), grid origin (2,), cells a row). Rows, not (M, 3): every box's arithmetic then runs on
    contiguous columns (about 2x faster than strided ones)."""
    lo = np.floor((centres - half).min(0) / _CELL) * _CELL
    hi = (centres + half).max(0)
    rows, cols = (np.floor((hi - lo) / _CELL).astype(int) + 1).tolist()
    wanted = np.zeros((rows, cols), bool)
    for (cx, cy), (hx, hy) in zip(centres - lo, half, strict=True):
        wanted[max(int((cx - hx) // _CELL), 0):int((cx + hx) // _CELL) + 1,
               max(int((cy - hy) // _CELL), 0):int((cy + hy) // _CELL) + 1] = True
    # one pass over the scan (float32 arithmetic, as the points come): each point's cell, kept if wanted
    i = np.floor((xyz[:, 0] - np.float32(lo[0])) * np.float32(1.0 / _CELL))
    j = np.floor((xyz[:, 1] - np.float32(lo[1])) * np.float32(1.0 / _CELL))
    inside = (i >= 0) & (i < rows) & (j >= 0) & (j < cols)
    idx = np.flatnonzero(inside)
    cell = i[idx].astype(np.int64) * cols + j[idx].astype(np.int64)
    keep = wanted.reshape(-1)[cell]
    idx, cell = idx[keep], cell[keep]
    # 16-bit keys sort by radix (linear time)
    order = np.argsort(cell.astype(np.uint16) if rows * cols <= 65536 else cell, kind='stable')
    starts = np.concatenate([[0], np.cumsum(np.bincount(cell, minlength=rows * cols))])
    kept = idx[order]
    return (np.stack([xyz[kept, d].astype(np.float64) for d in range(3)]), starts, lo.astype(np.float64), cols)


def _near(buckets: tuple[np.ndarray, np.ndarray, np.ndarray, int], centre: np.ndarray, half: np.ndarray
          ) -> np.ndarray:
    """The points (3, P) of the cells that the rectangle of half extents `half` (2,) around `centre` (x, y)
    touches (those cells were wanted by `_bucket`): one slice of the bucketed points per row of cells."""
    points, starts, lo, cols = buckets
    rows = (len(starts) - 1) // cols
    i0, j0 = np.floor((centre - half - lo) / _CELL).astype(int)
    i1, j1 = np.floor((centre + half - lo) / _CELL).astype(int)
    i0, j0, i1, j1 = max(i0, 0), max(j0, 0), min(i1, rows - 1), min(j1, cols - 1)
    parts = [points[:, starts[i * cols + j0]:starts[i * cols + j1 + 1]] for i in range(i0, i1 + 1)]
    return np.concatenate(parts, 1) if parts else np.zeros((3, 0))


def _percentile(values: np.ndarray, q: float) -> float:
    """`np.percentile(values, q)` (its default 'linear' method, the same arithmetic) of a non-empty array."""
    ordered = np.sort(values)
    virtual = (len(ordered) - 1) * (q / 100)
    below = int(np.floor(virtual))
    gamma = virtual - below
    a, b = ordered[below], ordered[min(below + 1, len(ordered) - 1)]
    diff = b - a
    return float(b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma)


def _group_grow(values: np.ndarray, group: np.ndarray, edge: np.ndarray, gap: float, limit: np.ndarray
                ) -> np.ndarray:
    """G faces grown at once: (G,) edges, each moved up over the values of its group beyond it while consecutive
    ones (the edge first) are < `gap` apart, by at most its `limit`. `values` (P,) ascending within each group,
    `group` (P,) ascending in [0, G); `edge`, `limit` (G,)."""
    beyond = values > edge[group]
    values, group = values[beyond], group[beyond]
    out = edge.copy()
    if not len(values):
        return out
    first = np.ones(len(values), bool)
    first[1:] = group[1:] != group[:-1]
    previous = np.empty_like(values)
    previous[1:] = values[:-1]
    previous[first] = edge[group[first]]
    stop = ((values - previous) > gap) | ((values - edge[group]) > limit[group])
    last = np.flatnonzero(np.r_[first[1:], True])
    out[group[last]] = values[last]  # no stop: the group's last value
    stops = np.flatnonzero(stop)
    if len(stops):  # else the value before the group's first stop (its edge when that is the group's first)
        g, at = np.unique(group[stops], return_index=True)
        k = stops[at]
        out[g] = np.where(first[k], edge[g], values[k - 1])
    return out


@dataclass(frozen=True)
class _Scene:
    """What every box's fitting reads: the boxes (K, 7), the bucketed points (`_bucket`) and per box its searched
    extent (K, 2), the disc holding it (K,), its half diagonal (K,), its obstacle footprint's half sizes (K,) and
    heading's cos / sin (K,)."""

    boxes: np.ndarray
    buckets: tuple[np.ndarray, np.ndarray, np.ndarray, int]
    extents: np.ndarray
    reaches: np.ndarray
    half_diag: np.ndarray
    half_l: np.ndarray
    half_w: np.ndarray
    cos: np.ndarray
    sin: np.ndarray


_Faces = tuple[float, list[np.ndarray]]  # a box's local ground and the values its five faces grow over


def _box_faces(scene: _Scene, i: int, fit: BoxFit) -> _Faces | None:
    """Box i's local ground and the values its five faces grow over (front, back negated, left, right negated,
    top; each ascending), or None when fewer than `min_points` of its points are inside it."""
    boxes = scene.boxes
    _, _, z, length, width, height, _ = boxes[i]
    p = _near(scene.buckets, boxes[i, :2], scene.extents[i])
    u, v = _local(p[0], p[1], boxes[i])
    bottom, top = z - height / 2, z + height / 2
    near = np.flatnonzero((np.abs(u) <= length / 2 + fit.margin) & (np.abs(v) <= width / 2 + fit.margin))
    p, u, v = p[:, near], u[near], v[near]
    zz = p[2]
    foot = (np.abs(u) <= length / 2) & (np.abs(v) <= width / 2)
    ring = zz[~foot & (np.abs(zz - bottom) < fit.ground_band)]
    ground = _percentile(ring, 10) if len(ring) >= 5 else bottom
    # the object's points: above the ground, below the highest top allowed, in no other detected box
    keep = np.flatnonzero((zz > ground + fit.clearance) & (zz < top + fit.grow_height))
    p, u, v, zz, foot = p[:, keep], u[keep], v[keep], zz[keep], foot[keep]
    others = np.flatnonzero(np.hypot(*(boxes[:, :2] - boxes[i, :2]).T)
                            < scene.reaches[i] + scene.half_diag + 0.1)
    others = others[others != i]
    sel = np.ones(p.shape[1], bool)
    if len(others) and p.shape[1]:  # the footprints of the other boxes at any height (points_in_boxes' arithmetic)
        d0 = p[0, :, None] - boxes[others, 0]
        d1 = p[1, :, None] - boxes[others, 1]
        c, s = scene.cos[others], scene.sin[others]
        sel = ~((np.abs(d0 * c + d1 * s) <= scene.half_l[others])
                & (np.abs(-d0 * s + d1 * c) <= scene.half_w[others])).any(1)
    inside = sel & foot
    if np.count_nonzero(inside) < fit.min_points:
        return None
    along = np.sort(u[sel & (np.abs(v) <= width / 2 + _SIDE_BAND)])
    across = np.sort(v[sel & (np.abs(u) <= length / 2 + _SIDE_BAND)])
    return ground, [along, -along[::-1], across, -across[::-1], np.sort(zz[inside])]


def fit_boxes_to_points(boxes: np.ndarray, points: np.ndarray, chosen: np.ndarray, fit: BoxFit) -> np.ndarray:
    """Fit the `chosen` boxes to the points around them (the rule of the module doc).

    Args:
        boxes: (K, 7) boxes, LiDAR frame of `points`; every (finite) box is an obstacle to the others' fitting.
        points: (N, >=3) points, x y z first.
        chosen: (K,) bool, the boxes to fit.
        fit: the settings.

    Returns:
        (K, 7) float64 boxes, a new array: the chosen ones fitted, the others as given.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    out = boxes.copy()
    xyz = np.asarray(points)[:, :3]
    # a box with a non-finite value (a reduced-precision graph's overflow) is left as it is and blocks nothing
    todo = np.flatnonzero(np.asarray(chosen, bool) & np.isfinite(boxes).all(1))
    if not len(todo) or not len(xyz):
        return out
    half_diag = 0.5 * np.hypot(boxes[:, 3], boxes[:, 4])
    # the axis-aligned extent of each box's searched neighbourhood (its footprint grown by the margin)
    c, s = np.abs(np.cos(boxes[:, 6])), np.abs(np.sin(boxes[:, 6]))
    hl, hw = boxes[:, 3] / 2 + fit.margin, boxes[:, 4] / 2 + fit.margin
    extents = np.stack([c * hl + s * hw, s * hl + c * hw], 1) + 1e-6
    scene = _Scene(boxes=boxes, buckets=_bucket(xyz, boxes[todo, :2], extents[todo]), extents=extents,
                   # a disc around each box holding its searched neighbourhood
                   reaches=half_diag + fit.margin * np.sqrt(2.0), half_diag=half_diag,
                   # the obstacles' footprints, 0.1 m wider, and their headings
                   half_l=(boxes[:, 3] + 0.2) / 2, half_w=(boxes[:, 4] + 0.2) / 2,
                   cos=np.cos(boxes[:, 6]), sin=np.sin(boxes[:, 6]))
    rows = [int(i) for i in todo]
    results = [_box_faces(scene, i, fit) for i in rows]
    fitted = [(i, r[0]) for i, r in zip(rows, results, strict=True) if r is not None]  # (box, local ground)
    faces = [f for r in results if r is not None for f in r[1]]  # per fitted box and face: its values
    if not fitted:
        return out
    F = len(fitted)
    _, _, z, length, width, height, _ = boxes[[i for i, _ in fitted]].T
    group = np.repeat(np.arange(5 * F), [len(f) for f in faces])
    edge = np.stack([length / 2, length / 2, width / 2, width / 2, z + height / 2], 1).reshape(-1)
    limit = np.tile([fit.grow_length, fit.grow_length, fit.grow_width, fit.grow_width, fit.grow_height], F)
    grown = _group_grow(np.concatenate(faces), group, edge, fit.gap, limit).reshape(F, 5)
    max_l, max_w, max_h = fit.max_size
    for (row, ground), (u1, u0, v1, v0, z1) in zip(fitted, grown * [1, -1, 1, -1, 1], strict=True):
        bottom = boxes[row, 2] - boxes[row, 5] / 2
        z0 = min(bottom, ground)
        cu = (u1 + u0) / 2 if u1 - u0 <= max_l else 0.0
        cv = (v1 + v0) / 2 if v1 - v0 <= max_w else 0.0
        new_l, new_w, new_h = min(u1 - u0, max_l), min(v1 - v0, max_w), min(z1 - z0, max_h)
        c, s = np.cos(boxes[row, 6]), np.sin(boxes[row, 6])
        cx, cy = boxes[row, 0] + c * cu - s * cv, boxes[row, 1] + s * cu + c * cv
        if new_h >= fit.long_height and new_l < fit.long_length:
            away = np.sign(c * cx + s * cy) or 1.0  # +1: the heading points away from the sensor
            shift = (fit.long_length - new_l) / 2 * away
            cx, cy, new_l = cx + c * shift, cy + s * shift, fit.long_length
        out[row, :6] = [cx, cy, z0 + new_h / 2, new_l, new_w, new_h]
    return out
