"""Grouped bar charts (OpenCV only), for result tables a person would rather look at."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from omnifuse.viz.draw import put_text, text_width

__all__ = ['SERIES_COLORS', 'grouped_bar_chart']

# RGB, distinct on white.
SERIES_COLORS: tuple[tuple[int, int, int], ...] = (
    (120, 120, 120), (31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14))


def grouped_bar_chart(values: Mapping[str, Mapping[str, float]], *, title: str = '', y_max: float = 100.0,
                      bar_width: int = 14, group_gap: int = 24, height: int = 260) -> np.ndarray:
    """(H, W, 3) uint8 RGB chart: one group of bars per key of `values`, one bar per series in it.

    Args:
        values: {group: {series: value}}; series absent from a group leave a gap. Values are clipped to
            [0, y_max]; bar heights are proportional (a bar of y_max fills the plot height).
        title: drawn above the plot. The legend (series in first-seen order, with their colours) below it.
        y_max: the value at the top of the plot.
        bar_width: width of one bar [px].
        group_gap: space between two groups [px].
        height: height of the plot area [px].
    """
    import cv2

    series: list[str] = []
    for row in values.values():
        series += [s for s in row if s not in series]
    if not values or not series:
        raise ValueError('grouped_bar_chart: nothing to draw (no groups or no series)')
    if len(series) > len(SERIES_COLORS):
        raise ValueError(f'grouped_bar_chart: at most {len(SERIES_COLORS)} series, got {len(series)}')
    left, top, bottom = 44, 40 + 18 * ((len(series) + 2) // 3), 40
    group_w = bar_width * len(series) + group_gap
    # legend: three columns, each as wide as the longest name needs (swatch + gap + text + margin)
    legend_w = max(200, max(text_width(s, scale=0.4) for s in series) + 36)
    width = max(left + group_w * len(values) + 10, left + legend_w * min(3, len(series)))
    img = np.full((top + height + bottom, width, 3), 255, np.uint8)
    y0 = top + height  # the value-0 line
    for tick in np.linspace(0, y_max, 5):
        y = int(round(y0 - tick / y_max * height))
        cv2.line(img, (left, y), (width - 5, y), (225, 225, 225), 1)
        put_text(img, f'{tick:g}', (4, y + 4), color=(60, 60, 60), scale=0.4, background=None)
    for gi, (group, row) in enumerate(values.items()):
        gx = left + gi * group_w + group_gap // 2
        for si, name in enumerate(series):
            if name not in row:
                continue
            v = float(np.clip(row[name], 0.0, y_max))
            h = int(round(v / y_max * height))
            x = gx + si * bar_width
            if h > 0:
                cv2.rectangle(img, (x, y0 - h), (x + bar_width - 2, y0 - 1), SERIES_COLORS[si], -1)
        put_text(img, group, (gx, y0 + 16), color=(0, 0, 0), scale=0.4, background=None)
    cv2.line(img, (left, y0), (width - 5, y0), (0, 0, 0), 1)
    put_text(img, title, (left, 18), color=(0, 0, 0), scale=0.5, background=None)
    for si, name in enumerate(series):
        x, y = left + (si % 3) * legend_w, 36 + 18 * (si // 3)
        cv2.rectangle(img, (x, y - 10), (x + 12, y), SERIES_COLORS[si], -1)
        put_text(img, name, (x + 16, y), color=(0, 0, 0), scale=0.4, background=None)
    return img
