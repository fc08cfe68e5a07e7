"""The `omnifuse inspect --png` picture: camera view with depth-coloured points and projected boxes, a legend,
and a bird's-eye view of the points and boxes."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from omnifuse.viz.colors import class_color
from omnifuse.viz.draw import (
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

__all__ = ['render_frame']


def render_frame(frame: Any, summary: dict[str, Any], camera_name: str, *, dataset: str,
                 max_depth: float, bev_range: tuple[float, float, float, float]) -> Any:
    """The inspect picture (H, W, 3) uint8 RGB: camera view + legend on the left, bird's-eye view right."""
    camera = frame.calib.camera(camera_name)
    image = frame.images.get(camera_name)
    if image is None:
        image = np.zeros((camera.height, camera.width, 3), np.uint8)
    # Work at display size (at most 1242 px wide) so that lines and text keep a readable size.
    scale = min(1.0, 1242 / image.shape[1])
    if scale < 1.0:
        image = cv2.resize(image, (1242, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    points = frame.points
    uv, depth = camera.project(points)
    view = draw_points_on_image(image, uv * scale, depth, max_depth=max_depth, radius=1)

    labels = frame.labels.without_dontcare() if frame.labels is not None else None
    names = labels.names if labels is not None else []
    colors = [class_color(n) for n in names]
    tags = [f'#{i} {n} {o["num_points"]}pts'
            for i, (n, o) in enumerate(zip(names, summary['objects'], strict=True))]
    if labels is not None and len(labels):
        segments = project_box_edges(labels.boxes.corners(), camera) * scale
        view = draw_boxes_on_image(view, segments, colors, tags, thickness=2)
    if frame.labels is not None:  # DontCare regions: thin grey 2D rectangles
        for name, b in zip(frame.labels.names, frame.labels.bbox_2d * scale, strict=True):
            if name == 'DontCare' and np.isfinite(b).all():
                cv2.rectangle(view, (int(b[0]), int(b[1])), (int(b[2]), int(b[3])), (170, 170, 170), 1)

    put_text(view, f'{camera_name}  {summary["image_size"][0]}x{summary["image_size"][1]}', (6, 18),
             color=(255, 255, 255), scale=0.5)

    lines: list[Any] = [
        (f'{dataset} frame {summary["frame"]}:  {summary["num_points"]} LiDAR points, '
         f'{summary["points_in_image_fov"]} in the {camera_name} image (depth > 0)', (0, 0, 0)),
        (f'{len(summary["objects"])} labelled object(s) (DontCare excluded; '
         'grey rectangles = DontCare regions)', (0, 0, 0)),
    ]
    for i, o in enumerate(summary['objects']):
        x, y, z, dx, dy, dz, yaw = o['box_lidar']
        b2 = 'not in image' if o['bbox_2d'] is None else '2D ' + ' '.join(f'{v:.0f}' for v in o['bbox_2d'])
        text = (f'#{i} {o["class"]}: centre ({x:.1f}, {y:.1f}, {z:.1f}) m, size {dx:.1f}x{dy:.1f}x{dz:.1f}, '
                f'yaw {yaw:+.2f}, {o["num_points"]} points, {b2}')
        lines.append((text, _darker(class_color(o['class']))))
    lines.append(('image: point colour = depth (bar above), box cross = front face;  '
                  "bird's-eye view: x forward = up, y left = left, point colour = height", (90, 90, 90)))
    left = stack_vertically([view, depth_colorbar(min(view.shape[1], 600), max_depth=max_depth),
                             text_panel(lines, width=view.shape[1], scale=0.5)], gap=4)

    span = max(bev_range[2] - bev_range[0], bev_range[3] - bev_range[1])
    resolution = span / 760.0
    fov = _fov_polyline(camera, span)
    groups = [(labels.boxes.data, colors, [f'#{i}' for i in range(len(names))])] if labels is not None else []
    bev = draw_bev(points, groups, bev_range=bev_range, resolution=resolution, lines=[(fov, (200, 200, 200))],
                   grid=10.0 if span <= 100 else 20.0)
    put_text(bev, f"bird's-eye view  {bev_range[2] - bev_range[0]:.0f} x {bev_range[3] - bev_range[1]:.0f} m "
             f'(grey wedge: {camera_name} FOV)', (6, bev.shape[0] - 8), scale=0.5)
    return side_by_side([left, bev], gap=10)


def _darker(color: tuple[int, int, int]) -> tuple[int, int, int]:
    return (int(color[0] * 0.6), int(color[1] * 0.6), int(color[2] * 0.6))


def _fov_polyline(camera: Any, reach: float) -> Any:
    """Xy [m] of the camera's horizontal field of view: far-left, camera centre, far-right."""
    cy = camera.height / 2
    far = camera.lift(np.array([[0.0, cy], [camera.width - 1.0, cy]]), np.array([reach, reach]))
    origin = np.linalg.inv(camera.T_cam_lidar)[:3, 3]
    return np.stack([far[0, :2], origin[:2], far[1, :2]])
