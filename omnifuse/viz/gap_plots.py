"""Pictures of the sim-to-real gap (OpenCV only): line charts of two datasets' `ScanStats` side by side.

`draw_gap(a, b)` returns one RGB image of ten panels: returns per range, intensity histogram, elevation
histogram (ring structure), ray-drop rate against range, ground height residuals, points per object against
range per class, object sizes, where the points sit in the box (height profile per class), clutter per range,
and a text panel with the key numbers. Dataset `a` is
drawn solid, `b` dashed (or as crosses).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from omnifuse.viz.colors import class_color
from omnifuse.viz.draw import put_text, side_by_side, stack_vertically, text_panel, text_width

__all__ = ['line_chart', 'draw_gap', 'DATASET_COLORS']

DATASET_COLORS = ((31, 119, 180), (214, 39, 40))  # RGB: dataset a (blue), dataset b (red)


def _nice_ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    span = hi - lo
    if span <= 0:
        return np.array([lo])
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw), default=10 * mag)
    start = math.ceil(lo / step - 1e-9) * step
    return np.arange(start, hi + step * 1e-6, step)


def _fmt(v: float) -> str:
    if v == 0:
        return '0'
    av = abs(v)
    if av >= 1000:
        return f'{v / 1000:g}k'
    if av >= 1:
        return f'{v:g}'
    return f'{v:.2g}'


def line_chart(series: Sequence[dict[str, Any]], *, title: str, xlabel: str, ylabel: str,
               xlim: tuple[float, float], ylim: tuple[float, float] | None = None, log_y: bool = False,
               size: tuple[int, int] = (440, 300), legend: bool = True) -> np.ndarray:
    """(H, W, 3) uint8 RGB chart.

    Args:
        series: each {'label': str, 'x': (N,), 'y': (N,), 'color': RGB, 'dashed': bool, 'thin': bool (1 px
            line), 'marker': None | 'o' | 'x' (points only, no line)}; NaN (or, with log_y, non-positive)
            values break the line.
        title: drawn above the plot.
        xlabel: the x axis label.
        ylabel: the y axis label.
        xlim: x axis range.
        ylim: y axis range (default: 0 .. 1.05 x the largest value; with log_y the decades spanned).
        log_y: logarithmic y axis.
        size: (W, H) of the picture [px].
        legend: draw the legend of the series.
    """
    import cv2

    W, H = size
    left, right, top, bottom = 52, 10, 26, 36
    img = np.full((H, W, 3), 255, np.uint8)
    pw, ph = W - left - right, H - top - bottom
    ys = [np.asarray(s['y'], np.float64) for s in series]
    finite = np.concatenate([y[np.isfinite(y) & ((y > 0) if log_y else True)] for y in ys] or [np.zeros(0)])
    if ylim is None:
        if log_y:
            lo = 10 ** math.floor(math.log10(finite.min())) if len(finite) else 1.0
            hi = 10 ** math.ceil(math.log10(finite.max())) if len(finite) else 10.0
            ylim = (lo, max(hi, lo * 10))
        else:
            ylim = (0.0, float(finite.max()) * 1.05 if len(finite) and finite.max() > 0 else 1.0)

    def ty(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, np.float64)
        if log_y:
            with np.errstate(divide='ignore', invalid='ignore'):
                f = (np.log10(v) - math.log10(ylim[0])) / (math.log10(ylim[1]) - math.log10(ylim[0]))
        else:
            f = (v - ylim[0]) / (ylim[1] - ylim[0])
        return top + ph - f * ph

    def tx(v: np.ndarray) -> np.ndarray:
        return left + (np.asarray(v, np.float64) - xlim[0]) / (xlim[1] - xlim[0]) * pw

    grey, dark = (225, 225, 225), (60, 60, 60)
    yt = (10.0 ** np.arange(math.log10(ylim[0]), math.log10(ylim[1]) + 1e-9) if log_y
          else _nice_ticks(ylim[0], ylim[1]))
    for v in yt:
        yt_px = int(round(float(ty(v))))
        cv2.line(img, (left, yt_px), (W - right, yt_px), grey, 1)
        put_text(img, _fmt(float(v)), (max(2, left - 6 - text_width(_fmt(float(v)), scale=0.35)), yt_px + 4),
                 color=dark, scale=0.35, background=None)
    for v in _nice_ticks(xlim[0], xlim[1]):
        xt_px = int(round(float(tx(v))))
        cv2.line(img, (xt_px, top), (xt_px, top + ph), grey, 1)
        put_text(img, _fmt(float(v)), (xt_px - text_width(_fmt(float(v)), scale=0.35) // 2, top + ph + 13),
                 color=dark, scale=0.35, background=None)
    cv2.rectangle(img, (left, top), (left + pw, top + ph), (0, 0, 0), 1)
    put_text(img, title, (left, 17), color=(0, 0, 0), scale=0.45, background=None)
    put_text(img, xlabel, (left + pw // 2 - text_width(xlabel, scale=0.38) // 2, H - 6), color=dark, scale=0.38,
             background=None)
    put_text(img, ylabel, (4, top - 6 if len(ylabel) * 7 > left else top + 10), color=dark, scale=0.35,
             background=None)

    for s, y in zip(series, ys, strict=True):
        x = np.asarray(s['x'], np.float64)
        ok = np.isfinite(y) & np.isfinite(x) & ((y > 0) if log_y else True)
        px = tx(x)
        py = np.clip(ty(np.where(ok, y, 1.0)), top, top + ph)
        colour = tuple(int(c) for c in s['color'])
        marker = s.get('marker')
        if marker:
            for xx, yy, k in zip(px, py, ok, strict=True):
                if not k or not left <= xx <= left + pw:
                    continue
                c = (int(round(xx)), int(round(yy)))
                if marker == 'x':
                    cv2.drawMarker(img, c, colour, cv2.MARKER_TILTED_CROSS, 7, 1, cv2.LINE_AA)
                else:
                    cv2.circle(img, c, 3, colour, -1, cv2.LINE_AA)
            continue
        for i in range(len(x) - 1):
            if not (ok[i] and ok[i + 1]):
                continue
            p0 = np.array([px[i], py[i]])
            p1 = np.array([px[i + 1], py[i + 1]])
            if s.get('dashed'):
                length = float(np.linalg.norm(p1 - p0))
                n = max(1, int(length // 6))
                for k in range(0, n, 2):
                    a, b = p0 + (p1 - p0) * k / n, p0 + (p1 - p0) * min(n, k + 1) / n
                    cv2.line(img, tuple(int(v) for v in a.round()), tuple(int(v) for v in b.round()), colour, 2,
                             cv2.LINE_AA)
            else:
                cv2.line(img, tuple(int(v) for v in p0.round()), tuple(int(v) for v in p1.round()), colour,
                         1 if s.get('thin') else 2, cv2.LINE_AA)
    if legend:
        labels = [s for s in series if s.get('label')]
        yy = top + 14
        for s in labels:
            w = text_width(s['label'], scale=0.38)
            x0 = left + pw - w - 30
            colour = tuple(int(c) for c in s['color'])
            if s.get('marker') == 'x':
                cv2.drawMarker(img, (x0 + 10, yy - 4), colour, cv2.MARKER_TILTED_CROSS, 7, 1)
            elif s.get('marker'):
                cv2.circle(img, (x0 + 10, yy - 4), 3, colour, -1)
            elif s.get('dashed'):
                cv2.line(img, (x0, yy - 4), (x0 + 7, yy - 4), colour, 2)
                cv2.line(img, (x0 + 13, yy - 4), (x0 + 20, yy - 4), colour, 2)
            else:
                cv2.line(img, (x0, yy - 4), (x0 + 20, yy - 4), colour, 2)
            put_text(img, s['label'], (x0 + 25, yy), color=(0, 0, 0), scale=0.38, background=(255, 255, 255))
            yy += 15
    return img


def _centres(edges: np.ndarray) -> np.ndarray:
    return (edges[:-1] + edges[1:]) / 2


def draw_gap(a: Any, b: Any, *, classes: Sequence[str] | None = None) -> np.ndarray:
    """The ten-panel picture comparing two `ScanStats` (a solid/blue, b dashed/red); (H, W, 3) uint8 RGB."""
    from omnifuse.datasets.domain_gap import ELEV_EDGES, GROUND_RES_EDGES, OBJ_RANGE_EDGES, PROFILE_BINS, RANGE_EDGES

    ca, cb = DATASET_COLORS
    rc = _centres(RANGE_EDGES)
    panels = []

    panels.append(line_chart([
        {'label': a.name, 'x': rc, 'y': a.returns_by_range.mean(0), 'color': ca},
        {'label': b.name, 'x': rc, 'y': b.returns_by_range.mean(0), 'color': cb, 'dashed': True}],
        title=f'returns per frame (az. step {a.azimuth_step:.3g} vs {b.azimuth_step:.3g} deg)',
        xlabel='ground range [m] (5 m bins)', ylabel='returns', xlim=(0, 80), log_y=True))

    def inten(s: Any) -> tuple[np.ndarray, np.ndarray]:
        e = s.intensity_edges
        h = s.intensity_hist / max(1.0, s.intensity_hist.sum())
        return _centres(e) / e[-1], h
    xa, ha = inten(a)
    xb, hb = inten(b)
    panels.append(line_chart([
        {'label': f'{a.name} (median {a.intensity_median:.2f})', 'x': xa, 'y': ha, 'color': ca},
        {'label': f'{b.name} (median {b.intensity_median:.2f})', 'x': xb, 'y': hb, 'color': cb, 'dashed': True}],
        title='intensity histogram', xlabel='intensity / sensor scale', ylabel='fraction', xlim=(0, 1)))

    ec = _centres(ELEV_EDGES)
    ea = a.elev_hist / max(1.0, a.elev_hist.sum())
    eb = b.elev_hist / max(1.0, b.elev_hist.sum())
    nz = np.flatnonzero((a.elev_hist + b.elev_hist) > 0)
    xl = (math.floor(ec[nz[0]]) - 1, math.ceil(ec[nz[-1]]) + 1) if len(nz) else (-30, 15)
    # An ideal sensor's rings are spikes many times higher than a real sensor's blurred rings: clip the
    # axis at twice the lower of the two maxima so that both shapes stay readable.
    top = 2.0 * min(ea.max(), eb.max()) if min(ea.max(), eb.max()) > 0 else None
    clipped = top is not None and max(ea.max(), eb.max()) > top
    panels.append(line_chart([
        {'label': f'{a.name} ({a.rings:.0f} rings, spread {a.ring_elev_spread:.2f} deg)', 'x': ec, 'y': ea,
         'color': ca},
        {'label': f'{b.name} ({b.rings:.0f} rings, spread {b.ring_elev_spread:.2f} deg)', 'x': ec, 'y': eb,
         'color': cb, 'thin': True}],
        title='elevation histogram (ring structure)' + (', peaks clipped' if clipped else ''),
        xlabel='elevation [deg] (0.05 deg bins)', ylabel='fraction', xlim=xl,
        ylim=(0.0, top) if top is not None and clipped else None))

    panels.append(line_chart([
        {'label': a.name, 'x': rc, 'y': a.drop_rate, 'color': ca},
        {'label': b.name, 'x': rc, 'y': b.drop_rate, 'color': cb, 'dashed': True}],
        title='ray drop rate (gaps inside one surface)', xlabel='ground range [m]', ylabel='rate', xlim=(0, 80)))

    gc = _centres(GROUND_RES_EDGES)
    panels.append(line_chart([
        {'label': f'{a.name}: h {np.nanmedian(a.ground_height):.3f} m, rough {np.nanmedian(a.ground_rough):.3f}',
         'x': gc, 'y': a.ground_res_hist / max(1.0, a.ground_res_hist.sum()), 'color': ca},
        {'label': f'{b.name}: h {np.nanmedian(b.ground_height):.3f} m, rough {np.nanmedian(b.ground_rough):.3f}',
         'x': gc, 'y': b.ground_res_hist / max(1.0, b.ground_res_hist.sum()), 'color': cb, 'dashed': True}],
        title='height above fitted ground (3-40 m)', xlabel='height above plane [m]', ylabel='fraction',
        xlim=(-0.5, 0.5)))

    names = list(classes) if classes else [c for c in a.classes() if c in b.classes()][:4]
    oc = _centres(OBJ_RANGE_EDGES)
    ser, sizes = [], []
    for c in names:
        col = class_color(c)
        ma, na = a.points_vs_range(c)
        mb, nb = b.points_vs_range(c)
        ser.append({'label': f'{c} {a.name}', 'x': oc, 'y': ma, 'color': col})
        ser.append({'label': f'{c} {b.name}', 'x': oc, 'y': mb, 'color': col, 'dashed': True})
        for s, mk in ((a, 'o'), (b, 'x')):
            m = np.asarray(s.obj_class, dtype=str) == c
            sizes.append({'label': f'{c} {s.name}', 'x': s.obj_size[m, 0], 'y': s.obj_size[m, 2], 'color': col,
                          'marker': mk})
    if ser:
        panels.append(line_chart(ser, title='points in box per object (median)', xlabel='ground range [m]',
                                 ylabel='points', xlim=(0, 80), log_y=True))
        smax = max([float(np.max(s['x'])) for s in sizes if len(s['x'])] + [1.0])
        hmax = max([float(np.max(s['y'])) for s in sizes if len(s['y'])] + [1.0])
        panels.append(line_chart(sizes, title='object sizes (one mark per labelled object)',
                                 xlabel='length [m]', ylabel='height [m]', xlim=(0, math.ceil(smax + 0.5)),
                                 ylim=(0, math.ceil(hmax + 0.5))))
        prof = []
        for c in names:
            col = class_color(c)
            for s, dashed in ((a, False), (b, True)):
                y, n = s.height_profile(c)
                if n:
                    prof.append({'label': f'{c} {s.name} ({n})', 'x': (np.arange(PROFILE_BINS) + 0.5) / PROFILE_BINS,
                                 'y': y, 'color': col, 'dashed': dashed})
        if prof:
            panels.append(line_chart(prof, title='where the points sit in the box (objects >= 30 points)',
                                     xlabel='height in the box (0 = bottom, 1 = top)', ylabel='fraction of points',
                                     xlim=(0, 1)))
        panels.append(line_chart([
            {'label': a.name, 'x': rc, 'y': a.clutter_by_range.mean(0) if len(a.clutter_by_range) else rc * np.nan,
             'color': ca},
            {'label': b.name, 'x': rc, 'y': b.clutter_by_range.mean(0) if len(b.clutter_by_range) else rc * np.nan,
             'color': cb, 'dashed': True}],
            title='clutter: unlabelled points above ground', xlabel='ground range [m]', ylabel='per frame',
            xlim=(0, 40), log_y=True))
    lines: list[Any] = [(f'{a.name} (blue, solid): {a.root}  [{len(a.frames)} frames]', ca),
                        (f'{b.name} (red, dashed): {b.root}  [{len(b.frames)} frames]', cb)]
    for label, va, vb, fmt in (
            ('returns / frame', np.median(a.points_per_frame), np.median(b.points_per_frame), '.0f'),
            ('azimuth step [deg]', a.azimuth_step, b.azimuth_step, '.3f'),
            ('intensity median', a.intensity_median, b.intensity_median, '.3f'),
            ('intensity == 0', a.intensity_zero_frac, b.intensity_zero_frac, '.3f'),
            ('ring elev. spread [deg]', a.ring_elev_spread, b.ring_elev_spread, '.3f'),
            ('sensor height [m]', np.nanmedian(a.ground_height), np.nanmedian(b.ground_height), '.3f'),
            ('ground pitch [deg]', np.nanmedian(a.ground_pitch), np.nanmedian(b.ground_pitch), '.2f'),
            ('ground roll [deg]', np.nanmedian(a.ground_roll), np.nanmedian(b.ground_roll), '.2f'),
            ('ground roughness [m]', np.nanmedian(a.ground_rough), np.nanmedian(b.ground_rough), '.3f')):
        lines.append(f'{label:<24} {format(float(va), fmt):>9}  {format(float(vb), fmt):>9}')
    panels.append(text_panel(lines, width=440, line_height=20, scale=0.42))
    rows = [side_by_side(panels[i:i + 3], gap=6) for i in range(0, len(panels), 3)]
    return stack_vertically(rows, gap=6)
