"""What one `SensorFrame` holds, as a record: points, points in a camera's view, image size, labelled objects.

`summarize_frame` builds the record that `omnifuse inspect --json -` prints; `format_frame_summary` its text form.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from omnifuse.errors import FormatError
from omnifuse.structures.geometry import points_in_boxes

__all__ = ['summarize_frame', 'format_frame_summary']


def summarize_frame(frame: Any, camera_name: str) -> dict[str, Any]:
    """The inspect record of one `SensorFrame` (the --json object).

    Args:
        frame: a SensorFrame with points, calib (holding `camera_name` with its image size) and labels.
        camera_name: the camera used for `points_in_image_fov` and `bbox_2d`.
    """
    if frame.points is None:
        raise FormatError(f'frame {frame.frame_id}: has no LiDAR points')
    if frame.calib is None:
        raise FormatError(f'frame {frame.frame_id}: has no calibration')
    camera = frame.calib.camera(camera_name)
    if camera.width <= 0 or camera.height <= 0:
        raise FormatError(f'frame {frame.frame_id}: camera {camera_name!r} has no image size '
                          '(no image file and no size in the calibration)')
    points = frame.points
    uv, depth = camera.project(points)
    in_fov = camera.in_image(uv, depth)
    objects: list[dict[str, Any]] = []
    labels = frame.labels.without_dontcare() if frame.labels is not None else None
    if labels is not None and len(labels):
        counts = points_in_boxes(points[:, :3], labels.boxes.data).sum(0)
        boxes_2d = labels.boxes.project_to_image(camera)
        for i, name in enumerate(labels.names):
            b2 = boxes_2d[i]
            visible = bool(np.isfinite(b2).all() and b2[2] > b2[0] and b2[3] > b2[1])
            objects.append({
                'class': name,
                'box_lidar': [float(v) for v in labels.boxes.data[i]],
                'num_points': int(counts[i]),
                'bbox_2d': [float(v) for v in b2] if visible else None,
            })
    return {
        'frame': str(frame.frame_id),
        'num_points': int(len(points)),
        'non_finite_points': int(frame.meta.get('non_finite_points', 0)),
        'points_in_image_fov': int(in_fov.sum()),
        'image_size': [int(camera.width), int(camera.height)],
        'objects': objects,
    }


def format_frame_summary(summary: dict[str, Any], dataset: str, root: str, camera_name: str) -> str:
    """The text form of a `summarize_frame` record (`omnifuse inspect` without --json -): lines, no final newline.

    Args:
        summary: the record of `summarize_frame`.
        dataset: the dataset layout named in the first line (kitti, waymo).
        root: the dataset root named in the first line.
        camera_name: the camera the FOV count was made for.
    """
    lines: list[str] = []
    w, h = summary['image_size']
    lines.append(f'frame {summary["frame"]}  ({dataset}, {root})')
    bad = summary.get('non_finite_points', 0)
    lines.append(f'points:              {summary["num_points"]}'
                 + (f'  ({bad} non-finite rows dropped)' if bad else ''))
    lines.append(f'points_in_image_fov: {summary["points_in_image_fov"]}  (camera {camera_name}, depth > 0)')
    lines.append(f'image_size:          {w} x {h}')
    objs = summary['objects']
    lines.append(f'objects:             {len(objs)} (DontCare excluded)')
    if objs:
        lines.append(f'  {"#":>2}  {"class":<14} {"x":>7} {"y":>7} {"z":>6} {"dx":>5} {"dy":>5} {"dz":>5} {"yaw":>6}'
                     f'  {"points":>6}  bbox_2d (x1 y1 x2 y2)')
        for i, o in enumerate(objs):
            x, y, z, dx, dy, dz, yaw = o['box_lidar']
            b2 = '-' if o['bbox_2d'] is None else ' '.join(f'{v:.1f}' for v in o['bbox_2d'])
            lines.append(f'  {i:>2}  {o["class"]:<14} {x:7.2f} {y:7.2f} {z:6.2f} {dx:5.2f} {dy:5.2f} {dz:5.2f} '
                         f'{yaw:6.2f}  {o["num_points"]:>6}  {b2}')
    return '\n'.join(lines)
