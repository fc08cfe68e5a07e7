"""Grouped bar charts: bar heights proportional to the values, gaps for missing series, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from omnifuse.viz import SERIES_COLORS, grouped_bar_chart


def _bar_heights(img: np.ndarray, color: tuple[int, int, int]) -> list[int]:
    """Heights (pixels) of the runs of columns filled with `color`, left to right."""
    mask = (img == np.array(color, np.uint8)).all(2)
    cols = mask.sum(0)
    heights, inside = [], False
    for c in cols:
        if c > 0 and not inside:
            heights.append(int(c))
        inside = c > 0
    return heights


def test_bars_are_proportional_and_missing_series_leave_a_gap() -> None:
    values = {'day': {'a': 50.0, 'b': 100.0}, 'night': {'a': 25.0}, 'fog': {'a': 150.0, 'b': -3.0}}
    img = grouped_bar_chart(values, title='t', height=200, y_max=100.0)
    assert img.dtype == np.uint8 and img.shape[2] == 3
    plot = img[40:, 44:]  # below the title and the one-row legend, right of the axis labels
    assert _bar_heights(plot, SERIES_COLORS[0]) == [100, 50, 200]  # 150 is clipped to y_max
    assert _bar_heights(plot, SERIES_COLORS[1]) == [200]  # -3 is clipped to 0: no bar; night has no 'b'
    assert (img[:40] == np.array(SERIES_COLORS[1], np.uint8)).all(2).any()  # its legend swatch


def test_nothing_to_draw_is_an_error() -> None:
    with pytest.raises(ValueError, match='nothing to draw'):
        grouped_bar_chart({})
    with pytest.raises(ValueError, match='at most'):
        grouped_bar_chart({'g': {str(i): 1.0 for i in range(len(SERIES_COLORS) + 1)}})


def test_long_series_names_do_not_overlap_in_the_legend() -> None:
    names = ['logonet_thermal, camera and thermal dropped', 'logonet, 1°/0.2 m', 'x']
    img = grouped_bar_chart({'all': {n: 50.0 for n in names}})
    legend = img[20:40]
    # the second swatch starts right of where the first name's text ends: no dark text pixels under it
    x2 = int(np.nonzero((legend == np.array(SERIES_COLORS[1], np.uint8)).all(2).any(0))[0][0])
    text_cols = np.nonzero((legend[:, :x2] < 100).all(2).any(0))[0]
    assert text_cols.size and text_cols[-1] < x2 - 4
