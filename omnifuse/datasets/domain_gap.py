"""Sim-to-real gap: statistics of the LiDAR scans (and labels) of a KITTI-layout dataset, and their comparison.

`measure_dataset(root)` reads the velodyne/ scans (and label_2/ + calib/ when present) of one KITTI-layout
root (real KITTI, the omnifuse simulator's output, or a user's own sensor written in that layout) and
returns a `ScanStats`; `compare(a, b)` lines two of them up as rows of (quantity, a, b). The command is
`omnifuse gap`; the pictures are drawn by `omnifuse.viz.gap_plots`.

What is measured (every quantity in the LiDAR frame: x forward, y left, z up, metres):

- density: returns per frame, in total and per 10 m of ground range; the azimuth step of the beams.
- intensity: histogram, median, fraction of exact zeros and the maximum (a value above 1 means a
  0..255 sensor scale, not KITTI's 0..1 reflectance).
- ring structure: the elevation angle histogram atan2(z, sqrt(x^2 + y^2)) [deg]; the rings (beams) are
  recovered from the scan order when the points are stored ring by ring (KITTI, the simulator: the
  azimuth turns once per ring), otherwise from the peaks of the elevation histogram; per ring the spread
  of its elevation (0 for an ideal sensor seen from its origin) and the azimuth step.
- ray drop: inside each ring, a run of missing azimuth steps between two returns whose ranges agree
  within `DROP_RANGE_TOL` (so both rays hit the same surface and the rays between should have hit it
  too) counts as dropped rays at that range: drop rate = missing / (missing + returned), per range bin.
  Rays into the sky or past the maximum range are not counted as drops.
- ground: a plane fitted per frame (RANSAC, then least squares) to the points 3-40 m away; the sensor
  height above it, its pitch and roll, and its roughness (robust std of the points within 0.3 m of it).
- objects (labels, inside the front `fov_deg` wedge, DontCare excluded): points inside each box against
  the ground range of its centre, per class; sizes (length, width, height); the height of the box bottom
  above the fitted ground; mean intensity of their points; where the points sit in the box: the fraction of
  an object's points in each tenth of the box height, bottom to top (objects with >= PROFILE_MIN_POINTS
  points), averaged per class. Windows and ground clearance show there: a real van's upper third returns few
  points (glass), a van drawn as opaque boxes returns as many there as anywhere.
- clutter (labels only): points more than `CLUTTER_HEIGHT` above the fitted ground, inside the wedge and
  `clutter_range`, and outside every labelled box (DontCare included): per frame and per range bin.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from omnifuse.errors import FormatError

__all__ = ['ScanStats', 'measure_dataset', 'measure_frames', 'compare', 'format_comparison',
           'rings_from_scan_order', 'fit_ground_plane', 'ray_drop', 'RANGE_EDGES', 'ELEV_EDGES',
           'DROP_RANGE_TOL', 'CLUTTER_HEIGHT', 'PROFILE_BINS', 'PROFILE_MIN_POINTS', 'height_profile']

RANGE_EDGES = np.arange(0.0, 85.0, 5.0)           # ground range bins [m] (0-5, ..., 75-80)
OBJ_RANGE_EDGES = np.arange(0.0, 90.0, 10.0)      # object ground range bins [m]
ELEV_EDGES = np.arange(-30.0, 15.0 + 1e-9, 0.05)  # elevation bins [deg]
GROUND_RES_EDGES = np.arange(-0.5, 0.5 + 1e-9, 0.01)  # height above the ground plane [m]
DROP_RANGE_TOL = 0.05    # relative range agreement of the two returns around a gap
CLUTTER_HEIGHT = 0.3     # [m] above the fitted ground
GROUND_BAND = (3.0, 40.0)  # ground range of the points the plane is fitted to [m]
PROFILE_BINS = 10        # tenths of the box height
PROFILE_MIN_POINTS = 30  # objects with fewer points get no height profile


@dataclass
class ScanStats:
    """What `measure_dataset` found in one dataset (arrays are plain numpy; `to_json` gives the summary).

    Attributes:
        name: label used in tables and pictures ('real', 'sim', ...).
        root: the dataset root read.
        frames: the frame ids measured.
        points_per_frame: (F,) returns per frame.
        returns_by_range: (F, R) returns per frame per RANGE_EDGES bin (ground range).
        intensity_edges, intensity_hist: histogram of every point's intensity (edges over [0, scale]).
        intensity_max, intensity_median, intensity_zero_frac: over all points.
        intensity_ground_median, intensity_above_median: median over the points 3-40 m away within 0.1 m of
            the fitted ground, and more than CLUTTER_HEIGHT above it.
        elev_hist: (len(ELEV_EDGES) - 1,) counts.
        ring_source: 'scan order' or 'elevation peaks'.
        rings: rings per frame (median).
        ring_elev_spread: median over rings of the std of a ring's elevation [deg] (returns > 10 m).
        ring_elevations: (K,) median elevation of each ring (first frame) [deg].
        azimuth_step: median azimuth step between neighbouring returns of a ring [deg].
        drop_missing, drop_returned: (R,) per RANGE_EDGES bin, see the module doc.
        ground_height, ground_pitch, ground_roll, ground_rough: (F,) per frame: sensor height above the
            plane [m], the plane's slope along x and y [deg], robust std of the residuals [m].
        ground_res_hist: residual histogram over GROUND_RES_EDGES (all frames).
        obj_class, obj_range, obj_points, obj_size, obj_bottom, obj_intensity: one entry per labelled object.
        obj_profile: (K, PROFILE_BINS) fraction of each object's points per tenth of its box height (bottom
            first); NaN rows for objects with fewer than PROFILE_MIN_POINTS points.
        clutter_per_frame: (F,) clutter points per frame; clutter_by_range: (F, R).
        has_labels: whether label_2/ was read.
    """

    name: str
    root: str
    frames: list[str] = field(default_factory=list)
    points_per_frame: np.ndarray = field(default_factory=lambda: np.zeros(0))
    returns_by_range: np.ndarray = field(default_factory=lambda: np.zeros((0, len(RANGE_EDGES) - 1)))
    intensity_edges: np.ndarray = field(default_factory=lambda: np.linspace(0, 1, 51))
    intensity_hist: np.ndarray = field(default_factory=lambda: np.zeros(50))
    intensity_max: float = 0.0
    intensity_median: float = 0.0
    intensity_zero_frac: float = 0.0
    intensity_ground_median: float = math.nan
    intensity_above_median: float = math.nan
    elev_hist: np.ndarray = field(default_factory=lambda: np.zeros(len(ELEV_EDGES) - 1))
    ring_source: str = ''
    rings: float = 0.0
    ring_elev_spread: float = 0.0
    ring_elevations: np.ndarray = field(default_factory=lambda: np.zeros(0))
    azimuth_step: float = 0.0
    drop_missing: np.ndarray = field(default_factory=lambda: np.zeros(len(RANGE_EDGES) - 1))
    drop_returned: np.ndarray = field(default_factory=lambda: np.zeros(len(RANGE_EDGES) - 1))
    ground_height: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ground_pitch: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ground_roll: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ground_rough: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ground_res_hist: np.ndarray = field(default_factory=lambda: np.zeros(len(GROUND_RES_EDGES) - 1))
    obj_class: list[str] = field(default_factory=list)
    obj_range: np.ndarray = field(default_factory=lambda: np.zeros(0))
    obj_points: np.ndarray = field(default_factory=lambda: np.zeros(0))
    obj_size: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    obj_bottom: np.ndarray = field(default_factory=lambda: np.zeros(0))
    obj_intensity: np.ndarray = field(default_factory=lambda: np.zeros(0))
    obj_profile: np.ndarray = field(default_factory=lambda: np.zeros((0, PROFILE_BINS)))
    clutter_per_frame: np.ndarray = field(default_factory=lambda: np.zeros(0))
    clutter_by_range: np.ndarray = field(default_factory=lambda: np.zeros((0, len(RANGE_EDGES) - 1)))
    has_labels: bool = False

    # ---- derived ----
    @property
    def drop_rate(self) -> np.ndarray:
        """(R,) dropped / (dropped + returned) per RANGE_EDGES bin; NaN where nothing was counted."""
        total = self.drop_missing + self.drop_returned
        with np.errstate(invalid='ignore', divide='ignore'):
            return np.where(total > 0, self.drop_missing / np.maximum(total, 1), np.nan)

    def classes(self) -> list[str]:
        """Labelled classes, most frequent first."""
        names, counts = np.unique(np.asarray(self.obj_class, dtype=str), return_counts=True)
        return [str(n) for n in names[np.argsort(-counts, kind='stable')]]

    def points_vs_range(self, cls: str) -> tuple[np.ndarray, np.ndarray]:
        """(median points inside the box, object count) per OBJ_RANGE_EDGES bin for class `cls` (NaN: none)."""
        m = np.asarray(self.obj_class, dtype=str) == cls
        idx = np.digitize(self.obj_range[m], OBJ_RANGE_EDGES) - 1
        med = np.full(len(OBJ_RANGE_EDGES) - 1, np.nan)
        cnt = np.zeros(len(OBJ_RANGE_EDGES) - 1, np.int64)
        for b in range(len(med)):
            sel = self.obj_points[m][idx == b]
            cnt[b] = len(sel)
            if len(sel):
                med[b] = float(np.median(sel))
        return med, cnt

    def height_profile(self, cls: str) -> tuple[np.ndarray, int]:
        """(PROFILE_BINS,) mean fraction of a `cls` object's points per tenth of its box height (bottom first;
        NaN: no object with a profile), and the number of objects averaged."""
        m = (np.asarray(self.obj_class, dtype=str) == cls) & np.isfinite(self.obj_profile).all(1)
        if not m.any():
            return np.full(PROFILE_BINS, np.nan), 0
        return self.obj_profile[m].mean(0), int(m.sum())

    def to_json(self) -> dict[str, Any]:
        """The summary as plain JSON types (the `omnifuse gap --json` record of one dataset)."""
        def f(v: float) -> float | None:
            return None if not np.isfinite(v) else round(float(v), 5)

        per_class: dict[str, Any] = {}
        for c in self.classes():
            m = np.asarray(self.obj_class, dtype=str) == c
            med, cnt = self.points_vs_range(c)
            prof, nprof = self.height_profile(c)
            per_class[c] = {
                'count': int(m.sum()),
                'size_lwh_mean': [f(v) for v in self.obj_size[m].mean(0)],
                'size_lwh_std': [f(v) for v in self.obj_size[m].std(0)],
                'bottom_above_ground_median': f(np.median(self.obj_bottom[m])),
                'intensity_mean': f(np.nanmean(self.obj_intensity[m])) if np.isfinite(self.obj_intensity[m]).any()
                else None,
                'points_median_by_range': {f'{OBJ_RANGE_EDGES[b]:g}-{OBJ_RANGE_EDGES[b + 1]:g}':
                                           {'median': f(med[b]), 'count': int(cnt[b])}
                                           for b in range(len(med)) if cnt[b]},
                'point_height_profile': [f(v) for v in prof] if nprof else None,
                'point_height_profile_objects': nprof,
            }
        rate = self.drop_rate
        return {
            'name': self.name, 'root': self.root, 'frames': len(self.frames),
            'points_per_frame_median': f(np.median(self.points_per_frame)) if len(self.frames) else None,
            'returns_by_range_mean': {f'{RANGE_EDGES[b]:g}-{RANGE_EDGES[b + 1]:g}': f(v)
                                      for b, v in enumerate(self.returns_by_range.mean(0))},
            'azimuth_step_deg': f(self.azimuth_step),
            'rings': f(self.rings), 'ring_source': self.ring_source,
            'ring_elevation_spread_deg': f(self.ring_elev_spread),
            'elevation_range_deg': [f(v) for v in _hist_extent(self.elev_hist, ELEV_EDGES)],
            'intensity': {'median': f(self.intensity_median), 'max': f(self.intensity_max),
                          'zero_fraction': f(self.intensity_zero_frac),
                          'ground_median': f(self.intensity_ground_median),
                          'above_ground_median': f(self.intensity_above_median)},
            'ray_drop_rate_by_range': {f'{RANGE_EDGES[b]:g}-{RANGE_EDGES[b + 1]:g}': f(rate[b])
                                       for b in range(len(rate)) if np.isfinite(rate[b])},
            'ray_drop_rate_overall': f(self.drop_missing.sum() / max(1.0, self.drop_missing.sum()
                                                                     + self.drop_returned.sum())),
            'ground': {'sensor_height_median': f(np.nanmedian(self.ground_height)) if len(self.frames) else None,
                       'sensor_height_std': f(np.nanstd(self.ground_height)) if len(self.frames) else None,
                       'pitch_deg_median': f(np.nanmedian(self.ground_pitch)) if len(self.frames) else None,
                       'roll_deg_median': f(np.nanmedian(self.ground_roll)) if len(self.frames) else None,
                       'roughness_median': f(np.nanmedian(self.ground_rough)) if len(self.frames) else None},
            'has_labels': self.has_labels,
            'objects': per_class,
            'clutter_points_per_frame_median': f(np.median(self.clutter_per_frame)) if self.has_labels else None,
        }


def _hist_extent(hist: np.ndarray, edges: np.ndarray, q: float = 0.001) -> tuple[float, float]:
    """The (q, 1 - q) quantiles of a histogram, from its edges."""
    total = hist.sum()
    if total == 0:
        return (math.nan, math.nan)
    cdf = np.cumsum(hist) / total
    lo = edges[int(np.searchsorted(cdf, q))]
    hi = edges[min(len(edges) - 1, int(np.searchsorted(cdf, 1 - q)) + 1)]
    return float(lo), float(hi)


# ---------------------------------------------------------------- rings and ray drop

def rings_from_scan_order(points: np.ndarray, *, min_rings: int = 4, max_rings: int = 256) -> np.ndarray | None:
    """Ring index of every point when the scan is stored ring by ring, else None.

    Such a scan (KITTI, the omnifuse simulator) sweeps the azimuth once per ring, every ring starting at the
    same azimuth (the simulator's at -180 deg, KITTI's at about 0 deg, straight ahead, where its scans are
    cut): the unwrapped azimuth grows by 360 deg per ring. The order is accepted when the sweep spans
    `min_rings`..`max_rings` turns and fewer than 1 % of the steps go backwards by more than 1 deg. Where the
    rings start is not visible in the azimuth (one ring ends where the next begins), so the start is the
    azimuth that makes the rings thinnest: the one minimising the summed elevation variance within rings
    (searched in 5 deg, then 0.25 deg steps).
    """
    if len(points) < 100:
        return None
    u = np.degrees(np.unwrap(np.arctan2(points[:, 1], points[:, 0])))
    d = np.diff(u)
    turns = (u[-1] - u[0]) / 360.0
    if not min_rings - 0.5 <= turns <= max_rings + 0.5 or (d < -1.0).sum() > 0.01 * len(d):
        return None
    n = max(1, int(round(turns)))
    t = u - u[0]
    elev = _elevation(points)
    sub = slice(None, None, max(1, len(points) // 30000))
    ts, es = t[sub], elev[sub]

    def cost(phase: float) -> float:
        ring = np.clip(np.floor((ts + phase) / 360.0), 0, n - 1).astype(np.int64)
        cnt = np.bincount(ring, minlength=n)
        s1 = np.bincount(ring, es, minlength=n)
        s2 = np.bincount(ring, es * es, minlength=n)
        return float((s2 - s1 * s1 / np.maximum(cnt, 1)).sum())

    coarse = min(np.arange(0.0, 360.0, 5.0), key=cost)
    phase = min(np.arange(coarse - 5.0, coarse + 5.0 + 1e-9, 0.25), key=cost)
    return np.clip(np.floor((t + phase) / 360.0), 0, n - 1).astype(np.int64)


def rings_from_elevation(points: np.ndarray, *, bin_deg: float = 0.02, min_sep_deg: float = 0.15) -> np.ndarray:
    """Ring index of every point: the nearest peak of the scan's elevation histogram (a fallback for
    scans not stored ring by ring; blurs where beams are closer than `min_sep_deg`)."""
    elev = _elevation(points)
    edges = np.arange(elev.min() - bin_deg, elev.max() + 2 * bin_deg, bin_deg)
    hist, _ = np.histogram(elev, edges)
    smooth = np.convolve(hist, np.ones(5) / 5, mode='same')
    order = np.argsort(-smooth, kind='stable')
    sep = max(1, int(round(min_sep_deg / bin_deg)))
    taken = np.zeros(len(smooth), bool)
    peaks: list[int] = []
    floor = smooth.max() * 0.02
    for i in order:
        if smooth[i] < floor:
            break
        if taken[max(0, i - sep):i + sep + 1].any():
            continue
        peaks.append(int(i))
        taken[i] = True
    centres = np.sort(edges[np.asarray(peaks)] + bin_deg / 2)[::-1]  # top ring first
    return np.abs(elev[:, None] - centres[None]).argmin(1)


def _elevation(points: np.ndarray) -> np.ndarray:
    return np.degrees(np.arctan2(points[:, 2], np.hypot(points[:, 0], points[:, 1])))


def _azimuth_step(points: np.ndarray, ring: np.ndarray) -> float:
    """Median azimuth step [deg] between neighbouring returns of one ring (the sensor's step where few drop)."""
    steps = []
    az = np.degrees(np.arctan2(points[:, 1], points[:, 0]))
    for r in np.unique(ring):
        a = np.sort(az[ring == r])
        if len(a) > 10:
            steps.append(np.diff(a))
    if not steps:
        return math.nan
    d = np.concatenate(steps)
    d = d[d > 1e-4]
    return float(np.median(d)) if len(d) else math.nan


def ray_drop(points: np.ndarray, ring: np.ndarray, step_deg: float, *,
             range_edges: np.ndarray = RANGE_EDGES, tol: float = DROP_RANGE_TOL) -> tuple[np.ndarray, np.ndarray]:
    """(missing, returned) rays per ground-range bin (see the module doc).

    Args:
        points: (N, >=3) one scan.
        ring: (N,) ring index of each point.
        step_deg: the sensor's azimuth step [deg].
        range_edges: the ground-range bins [m].
        tol: relative range agreement of the two returns around a gap for it to count as a dropped ray.
    """
    missing = np.zeros(len(range_edges) - 1)
    returned = np.zeros(len(range_edges) - 1)
    if not np.isfinite(step_deg) or step_deg <= 0:
        return missing, returned
    az = np.degrees(np.arctan2(points[:, 1], points[:, 0]))
    rng = np.linalg.norm(points[:, :3], axis=1)
    ground_rng = np.hypot(points[:, 0], points[:, 1])
    order = np.lexsort((az, ring))
    r_s, az_s, rng_s, g_s = ring[order], az[order], rng[order], ground_rng[order]
    same = r_s[1:] == r_s[:-1]
    gap = np.round((az_s[1:] - az_s[:-1]) / step_deg) - 1
    agree = np.abs(rng_s[1:] - rng_s[:-1]) <= tol * np.minimum(rng_s[1:], rng_s[:-1])
    # a gap of more than 20 steps is a hole (sky, a window, a shadow), not a dropped ray
    dropped = same & agree & (gap >= 1) & (gap <= 20)
    where = (g_s[1:] + g_s[:-1]) / 2
    nb = len(range_edges) - 1
    b = np.digitize(where, range_edges) - 1
    ok = dropped & (b >= 0) & (b < nb)
    np.add.at(missing, b[ok], gap[ok])
    # returned rays that took part in the same-surface test (both sides of an agreeing pair)
    pair = same & agree & (gap <= 20) & (b >= 0) & (b < nb)
    np.add.at(returned, b[pair], 1.0)
    return missing, returned


# ---------------------------------------------------------------- ground

def _plane_through(tri: np.ndarray) -> list[np.ndarray | None]:
    """(a, b, c) of the plane z = a x + b y + c through each of (I, 3, 3) point triples (None: degenerate)."""
    A = np.ones((tri.shape[0], 3, 3))
    A[:, :, :2] = tri[:, :, :2]
    try:
        return list(np.linalg.solve(A, tri[:, :, 2:])[:, :, 0])
    except np.linalg.LinAlgError:  # a singular triple: solve them one by one
        out: list[np.ndarray | None] = []
        for a, t in zip(A, tri, strict=True):
            try:
                out.append(np.linalg.solve(a, t[:, 2]))
            except np.linalg.LinAlgError:
                out.append(None)
        return out


def fit_ground_plane(points: np.ndarray, rng: np.random.Generator, *, band: tuple[float, float] = GROUND_BAND,
                     iterations: int = 200, threshold: float = 0.08,
                     max_points: int = 30000) -> tuple[np.ndarray, float] | None:
    """Plane z = a x + b y + c fitted to the ground of one scan; returns ((a, b, c), roughness) or None.

    Candidates are the points at a ground range in `band` and below the 30th height percentile there + 0.5 m
    (the ground is the lowest large surface); RANSAC keeps the plane with most points within `threshold`
    (near-horizontal planes only, slope < 15 deg), least squares refines it on those, and the roughness is
    1.4826 x the median absolute residual of the points within 0.3 m of it.
    """
    g = np.hypot(points[:, 0], points[:, 1])
    sel = points[(g >= band[0]) & (g <= band[1]), :3].astype(np.float64)
    if len(sel) < 50:
        return None
    sel = sel[sel[:, 2] <= np.percentile(sel[:, 2], 30) + 0.5]
    if len(sel) > max_points:
        sel = sel[rng.choice(len(sel), max_points, replace=False)]
    if len(sel) < 50:
        return None
    # No matrix products on the (P, 3) candidates: numpy hands those to a multi-threaded BLAS whose threads
    # keep spinning after the call and take the cores from whatever runs next (a detector's graphs: +40 ms).
    # contiguous columns: the strided ones of (P, 3) take several times longer in every draw's residuals
    x, y, z = (np.ascontiguousarray(sel[:, d]) for d in range(3))
    best, best_n = None, -1
    # all draws first (the generator's sequence as one draw per iteration), the 3 x 3 systems in one call
    tri = sel[np.stack([rng.choice(len(sel), 3, replace=False) for _ in range(iterations)])]  # (I, 3, 3)
    for coef in _plane_through(tri):
        if coef is None or math.hypot(coef[0], coef[1]) > math.tan(math.radians(15)):
            continue
        n = int((np.abs(x * coef[0] + y * coef[1] + coef[2] - z) < threshold).sum())
        if n > best_n:
            best, best_n = coef, n
    if best is None:
        return None
    inl = np.abs(x * best[0] + y * best[1] + best[2] - z) < threshold
    xi, yi, zi = x[inl], y[inl], z[inl]
    # least squares through the 3 x 3 normal equations (sums, no BLAS)
    normal = np.array([[(xi * xi).sum(), (xi * yi).sum(), xi.sum()], [(xi * yi).sum(), (yi * yi).sum(), yi.sum()],
                       [xi.sum(), yi.sum(), float(len(xi))]])
    coef = np.linalg.solve(normal, np.array([(xi * zi).sum(), (yi * zi).sum(), zi.sum()]))
    res = z - (x * coef[0] + y * coef[1] + coef[2])
    near = np.abs(res) < 0.3
    rough = float(1.4826 * np.median(np.abs(res[near] - np.median(res[near])))) if near.any() else math.nan
    return coef, rough


# ---------------------------------------------------------------- one dataset

def measure_dataset(root: str | Path, *, name: str = '', split: str = 'training', max_frames: int | None = None,
                    fov_deg: float = 80.0, clutter_range: float = 40.0, num_features: int = 4,
                    seed: int = 0) -> ScanStats:
    """Read up to `max_frames` frames (evenly spread over the dataset) of a KITTI-layout root and measure them.

    Args:
        root: the dataset root (holding `<split>/velodyne/`) or the split folder itself.
        name: label of the dataset in tables and pictures (default: the folder name).
        split: the split folder under `root` ('training', 'testing').
        max_frames: frames to read (None: every frame).
        fov_deg: objects and clutter are counted inside the wedge |azimuth| <= fov_deg / 2 around +x
            (KITTI labels cover the camera's view only, about 81 deg); 360 counts all around.
        clutter_range: clutter is counted up to this ground range [m].
        num_features: float32 values per point in the .bin files (x y z intensity [+ more]).
        seed: seed of the ground-plane fits (RANSAC).

    Raises:
        FileNotFoundError / FormatError naming the file: a missing velodyne/ folder, a bad .bin or label.
    """
    from omnifuse.datasets.kitti import KittiReader

    reader = KittiReader(root, split=split, num_point_features=num_features, load_images=False)
    ids = list(reader.frame_ids)
    if not ids:
        raise FormatError(f'{reader.data_dir / "velodyne"}: no .bin scans')
    if max_frames is not None and 0 < max_frames < len(ids):
        ids = [ids[i] for i in np.linspace(0, len(ids) - 1, max_frames).round().astype(int)]
    has_labels = (reader.data_dir / 'label_2').is_dir()

    def frames() -> Any:
        for fid in ids:
            points = reader.read_points(fid)
            boxes, names = None, None
            if has_labels:
                frame = reader.read(fid)
                if frame.labels is not None:
                    boxes, names = frame.labels.boxes.data, list(frame.labels.names)
            yield fid, points, boxes, names

    stats = measure_frames(frames(), name=name or Path(root).resolve().name, root=str(root), fov_deg=fov_deg,
                           clutter_range=clutter_range, seed=seed)
    stats.has_labels = has_labels
    return stats


def height_profile(z: np.ndarray, box: np.ndarray) -> np.ndarray:
    """(PROFILE_BINS,) fraction of the points of one object per tenth of its box height, bottom first.

    Args:
        z: (P,) heights of the points inside the box, in the box's frame (LiDAR frame z).
        box: (7,) x y z dx dy dz yaw, geometric centre.

    Returns:
        The fractions (summing to 1), or NaN everywhere for fewer than PROFILE_MIN_POINTS points.
    """
    if len(z) < PROFILE_MIN_POINTS:
        return np.full(PROFILE_BINS, np.nan)
    u = (np.asarray(z, np.float64) - box[2]) / box[5] + 0.5
    return np.histogram(np.clip(u, 0.0, 1.0), PROFILE_BINS, (0.0, 1.0))[0] / len(z)


def measure_frames(frames: Any, *, name: str, root: str = '', fov_deg: float = 80.0, clutter_range: float = 40.0,
                   seed: int = 0) -> ScanStats:
    """Measure an iterable of (frame_id, points (N, >=4), boxes (K, 7) or None, names (K,) or None)."""
    from omnifuse.structures.geometry import points_in_boxes

    rng = np.random.default_rng(seed)
    st = ScanStats(name=name, root=root)
    nr = len(RANGE_EDGES) - 1
    ppf, by_range, clutter, clutter_rng = [], [], [], []
    gh, gp, gr, gro = [], [], [], []
    inten_all, inten_ground, inten_above = [], [], []
    elev_hist = np.zeros(len(ELEV_EDGES) - 1)
    res_hist = np.zeros(len(GROUND_RES_EDGES) - 1)
    rings, spreads, steps = [], [], []
    sources = set()
    objs: dict[str, list[Any]] = {k: [] for k in ('cls', 'range', 'pts', 'size', 'bottom', 'inten', 'profile')}
    half_fov = math.radians(min(fov_deg, 360.0)) / 2
    labelled = False
    for fid, points, boxes, names in frames:
        points = np.asarray(points)
        if points.ndim != 2 or points.shape[1] < 4:
            raise FormatError(f'frame {fid}: expected (N, >=4) points x y z intensity, got {points.shape}')
        xyz = points[:, :3].astype(np.float64)
        keep = np.isfinite(xyz).all(1) & (np.abs(xyz).sum(1) > 0)
        points, xyz = points[keep], xyz[keep]
        st.frames.append(str(fid))
        g = np.hypot(xyz[:, 0], xyz[:, 1])
        ppf.append(len(points))
        by_range.append(np.histogram(g, RANGE_EDGES)[0])
        inten_all.append(points[:, 3].astype(np.float32))
        elev_hist += np.histogram(_elevation(xyz), ELEV_EDGES)[0]

        ring = rings_from_scan_order(xyz)
        sources.add('scan order' if ring is not None else 'elevation peaks')
        if ring is None:
            ring = rings_from_elevation(xyz)
        rings.append(len(np.unique(ring)))
        elev = _elevation(xyz)
        far = np.linalg.norm(xyz, axis=1) > 10
        sp = [elev[(ring == r) & far].std() for r in np.unique(ring) if ((ring == r) & far).sum() > 20]
        spreads.append(float(np.median(sp)) if sp else math.nan)
        if len(st.ring_elevations) == 0:
            st.ring_elevations = np.array([np.median(elev[ring == r]) for r in np.unique(ring)])
        step = _azimuth_step(xyz, ring)
        steps.append(step)
        miss, ret = ray_drop(xyz, ring, step)
        st.drop_missing += miss
        st.drop_returned += ret

        plane = fit_ground_plane(xyz, rng)
        if plane is None:
            coef, rough = np.array([0.0, 0.0, math.nan]), math.nan
        else:
            coef, rough = plane
        gh.append(-coef[2])
        gp.append(math.degrees(math.atan(coef[0])))
        gr.append(math.degrees(math.atan(coef[1])))
        gro.append(rough)
        height = xyz[:, 2] - (coef[0] * xyz[:, 0] + coef[1] * xyz[:, 1] + coef[2])
        band = (g >= GROUND_BAND[0]) & (g <= GROUND_BAND[1])
        if np.isfinite(coef[2]):
            res_hist += np.histogram(height[band], GROUND_RES_EDGES)[0]
            inten_ground.append(points[band & (np.abs(height) < 0.1), 3].astype(np.float32))
            inten_above.append(points[band & (height > CLUTTER_HEIGHT), 3].astype(np.float32))

        if boxes is not None:
            labelled = True
            boxes = np.asarray(boxes, np.float64).reshape(-1, 7)
            names = list(names)
            inside = points_in_boxes(xyz, boxes) if len(boxes) else np.zeros((len(xyz), 0), bool)
            in_fov = np.abs(np.arctan2(boxes[:, 1], boxes[:, 0])) <= half_fov
            for k, n in enumerate(names):
                if n == 'DontCare' or not in_fov[k]:
                    continue
                b = boxes[k]
                m = inside[:, k]
                objs['cls'].append(n)
                objs['range'].append(math.hypot(b[0], b[1]))
                objs['pts'].append(int(m.sum()))
                objs['size'].append(b[3:6])
                ground_z = coef[0] * b[0] + coef[1] * b[1] + coef[2]
                objs['bottom'].append(b[2] - b[5] / 2 - ground_z)
                objs['inten'].append(float(points[m, 3].mean()) if m.any() else math.nan)
                objs['profile'].append(height_profile(xyz[m, 2], b))
            az = np.abs(np.arctan2(xyz[:, 1], xyz[:, 0]))
            cl = (az <= half_fov) & (g <= clutter_range) & (height > CLUTTER_HEIGHT) & ~inside.any(1)
            if not np.isfinite(coef[2]):
                cl[:] = False
            clutter.append(int(cl.sum()))
            clutter_rng.append(np.histogram(g[cl], RANGE_EDGES)[0])
    if not st.frames:
        raise FormatError(f'{root}: no frames to measure')
    st.points_per_frame = np.asarray(ppf)
    st.returns_by_range = np.asarray(by_range, np.float64).reshape(-1, nr)
    inten = np.concatenate(inten_all)
    st.intensity_max = float(inten.max()) if len(inten) else 0.0
    st.intensity_median = float(np.median(inten)) if len(inten) else 0.0
    st.intensity_zero_frac = float((inten == 0).mean()) if len(inten) else 0.0
    if inten_ground:
        ig, ia = np.concatenate(inten_ground), np.concatenate(inten_above)
        st.intensity_ground_median = float(np.median(ig)) if len(ig) else math.nan
        st.intensity_above_median = float(np.median(ia)) if len(ia) else math.nan
    scale = 1.0 if st.intensity_max <= 1.0 + 1e-6 else 255.0 if st.intensity_max <= 255.0 + 1e-6 \
        else float(np.ceil(st.intensity_max))
    st.intensity_edges = np.linspace(0.0, scale, 51)
    st.intensity_hist = np.histogram(np.clip(inten, 0, scale), st.intensity_edges)[0].astype(np.float64)
    st.elev_hist = elev_hist
    st.ring_source = ' / '.join(sorted(sources))
    st.rings = float(np.median(rings))
    st.ring_elev_spread = float(np.nanmedian(spreads)) if np.isfinite(spreads).any() else math.nan
    st.azimuth_step = float(np.nanmedian(steps)) if np.isfinite(steps).any() else math.nan
    st.ground_height, st.ground_pitch = np.asarray(gh), np.asarray(gp)
    st.ground_roll, st.ground_rough = np.asarray(gr), np.asarray(gro)
    st.ground_res_hist = res_hist
    st.obj_class = list(objs['cls'])
    st.obj_range = np.asarray(objs['range'], np.float64)
    st.obj_points = np.asarray(objs['pts'], np.float64)
    st.obj_size = np.asarray(objs['size'], np.float64).reshape(-1, 3)
    st.obj_bottom = np.asarray(objs['bottom'], np.float64)
    st.obj_intensity = np.asarray(objs['inten'], np.float64)
    st.obj_profile = np.asarray(objs['profile'], np.float64).reshape(-1, PROFILE_BINS)
    st.clutter_per_frame = np.asarray(clutter, np.float64)
    st.clutter_by_range = np.asarray(clutter_rng, np.float64).reshape(-1, nr)
    st.has_labels = labelled
    return st


# ---------------------------------------------------------------- comparison

def _ratio(a: float, b: float) -> float:
    """a / b for two positive quantities of similar magnitude (else NaN: the table shows '-')."""
    ok = np.isfinite(a) and np.isfinite(b) and a > 0 and b > 0 and 1e-3 <= a / b <= 1e3
    return a / b if ok else math.nan


def compare(a: ScanStats, b: ScanStats, *, classes: Sequence[str] | None = None) -> list[tuple[str, float, float]]:
    """Rows (quantity, value in a, value in b) for the table `omnifuse gap` prints (NaN: not measured)."""
    ja, jb = a.to_json(), b.to_json()
    nan = math.nan

    def g(d: Any, *keys: str) -> float:
        for k in keys:
            if not isinstance(d, dict) or k not in d or d[k] is None:
                return nan
            d = d[k]
        return float(d) if isinstance(d, (int, float)) else nan

    rows: list[tuple[str, float, float]] = [
        ('frames', len(a.frames), len(b.frames)),
        ('returns per frame (median)', g(ja, 'points_per_frame_median'), g(jb, 'points_per_frame_median')),
        ('azimuth step [deg]', a.azimuth_step, b.azimuth_step),
        ('rings (beams) per frame', a.rings, b.rings),
        ('ring elevation spread [deg] (0 = ideal)', a.ring_elev_spread, b.ring_elev_spread),
        ('elevation min [deg] (0.1 % quantile)', ja['elevation_range_deg'][0] or nan,
         jb['elevation_range_deg'][0] or nan),
        ('elevation max [deg] (99.9 % quantile)', ja['elevation_range_deg'][1] or nan,
         jb['elevation_range_deg'][1] or nan),
        ('intensity median', a.intensity_median, b.intensity_median),
        ('intensity max', a.intensity_max, b.intensity_max),
        ('intensity == 0 fraction', a.intensity_zero_frac, b.intensity_zero_frac),
        ('  intensity median, ground points', a.intensity_ground_median, b.intensity_ground_median),
        ('  intensity median, above-ground points', a.intensity_above_median, b.intensity_above_median),
        ('ray drop rate, same-surface gaps (all ranges)', g(ja, 'ray_drop_rate_overall'),
         g(jb, 'ray_drop_rate_overall')),
    ]
    ra, rb = a.drop_rate, b.drop_rate
    for lo, hi in ((0, 10), (10, 20), (20, 40), (40, 80)):
        sel = (RANGE_EDGES[:-1] >= lo) & (RANGE_EDGES[1:] <= hi)
        da = a.drop_missing[sel].sum() / max(1.0, a.drop_missing[sel].sum() + a.drop_returned[sel].sum())
        db = b.drop_missing[sel].sum() / max(1.0, b.drop_missing[sel].sum() + b.drop_returned[sel].sum())
        rows.append((f'  ray drop rate {lo}-{hi} m', da if a.drop_returned[sel].sum() else nan,
                     db if b.drop_returned[sel].sum() else nan))
    del ra, rb
    for lo, hi in ((0, 10), (10, 20), (20, 40), (40, 80)):
        sel = (RANGE_EDGES[:-1] >= lo) & (RANGE_EDGES[1:] <= hi)
        rows.append((f'  returns per frame {lo}-{hi} m', a.returns_by_range[:, sel].sum(1).mean(),
                     b.returns_by_range[:, sel].sum(1).mean()))
    rows += [
        ('sensor height above ground [m] (median)', g(ja, 'ground', 'sensor_height_median'),
         g(jb, 'ground', 'sensor_height_median')),
        ('  frame-to-frame std [m]', g(ja, 'ground', 'sensor_height_std'), g(jb, 'ground', 'sensor_height_std')),
        ('ground pitch [deg] (median)', g(ja, 'ground', 'pitch_deg_median'), g(jb, 'ground', 'pitch_deg_median')),
        ('ground roll [deg] (median)', g(ja, 'ground', 'roll_deg_median'), g(jb, 'ground', 'roll_deg_median')),
        ('ground roughness [m] (robust std)', g(ja, 'ground', 'roughness_median'),
         g(jb, 'ground', 'roughness_median')),
    ]
    if a.has_labels or b.has_labels:
        rows.append(('clutter points per frame (unlabelled, above ground)', g(ja, 'clutter_points_per_frame_median'),
                     g(jb, 'clutter_points_per_frame_median')))
        names = list(classes) if classes else [c for c in a.classes() if c in b.classes()] or a.classes()
        for c in names:
            oa, ob = ja['objects'].get(c, {}), jb['objects'].get(c, {})
            rows.append((f'{c}: objects in view', g(oa, 'count') if oa else 0, g(ob, 'count') if ob else 0))
            for i, dim in enumerate(('length', 'width', 'height')):
                va = oa['size_lwh_mean'][i] if oa else None
                vb = ob['size_lwh_mean'][i] if ob else None
                rows.append((f'  {dim} [m] (mean)', nan if va is None else va, nan if vb is None else vb))
            rows.append(('  box bottom above fitted ground [m]', g(oa, 'bottom_above_ground_median'),
                         g(ob, 'bottom_above_ground_median')))
            rows.append(('  mean intensity of its points', g(oa, 'intensity_mean'), g(ob, 'intensity_mean')))
            pa, _ = a.height_profile(c)
            pb, _ = b.height_profile(c)
            top = round(0.3 * PROFILE_BINS)
            rows.append(('  share of its points in the bottom 10 % of the box', pa[0], pb[0]))
            rows.append(('  share of its points in the top 30 % of the box', pa[-top:].sum(), pb[-top:].sum()))
            ma, _ = a.points_vs_range(c)
            mb, _ = b.points_vs_range(c)
            for k in range(len(ma)):
                if np.isfinite(ma[k]) or np.isfinite(mb[k]):
                    rows.append((f'  points in box, {OBJ_RANGE_EDGES[k]:g}-{OBJ_RANGE_EDGES[k + 1]:g} m (median)',
                                 ma[k], mb[k]))
    return rows


def format_comparison(rows: Sequence[tuple[str, float, float]], names: tuple[str, str]) -> str:
    """The rows of `compare` as a fixed-width text table with the ratio a / b."""
    w = max(len(r[0]) for r in rows) + 2
    cw = max(12, len(names[0]) + len(names[1]) + 3)
    lines = [f'{"":<{w}}{names[0]:>{cw}}{names[1]:>{cw}}{names[0] + "/" + names[1]:>{cw}}']

    def cell(v: float) -> str:
        if not np.isfinite(v):
            return f'{"-":>{cw}}'
        av = abs(v)
        if av >= 1000 or (av == int(av) and av >= 10):
            return f'{v:{cw}.0f}'
        return f'{v:{cw}.3f}' if av >= 0.01 or av == 0 else f'{v:{cw}.2e}'

    for q, va, vb in rows:
        r = _ratio(va, vb)
        lines.append(f'{q:<{w}}{cell(va)}{cell(vb)}' + (f'{r:{cw}.2f}' if np.isfinite(r) else f'{"-":>{cw}}'))
    return '\n'.join(lines)
