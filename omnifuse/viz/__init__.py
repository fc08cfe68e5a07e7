"""Pictures for people: points and boxes on images, bird's-eye views, side-by-side layouts (OpenCV only)."""

from omnifuse.viz.charts import SERIES_COLORS, grouped_bar_chart
from omnifuse.viz.colors import CLASS_COLORS, class_color, colormap, depth_colors
from omnifuse.viz.draw import (
    BOX_EDGES,
    depth_colorbar,
    draw_bev,
    draw_boxes_on_image,
    draw_points_on_image,
    project_box_edges,
    put_text,
    side_by_side,
    stack_vertically,
    text_panel,
)

__all__ = ['BOX_EDGES', 'CLASS_COLORS', 'SERIES_COLORS', 'grouped_bar_chart', 'class_color', 'colormap',
           'depth_colorbar', 'depth_colors', 'draw_bev', 'draw_boxes_on_image', 'draw_points_on_image',
           'project_box_edges', 'put_text', 'side_by_side', 'stack_vertically', 'text_panel']
