"""`omnifuse inspect kitti|waymo`: print (and draw) what one frame of a dataset holds.

For one frame: the number of LiDAR points, how many project into the camera image with positive depth,
the image size, and for every labelled object except DontCare its class, LiDAR-frame box, number of
LiDAR points inside it and the 2D box of its projection. `--json -` prints exactly

    {"frame": str, "num_points": int, "non_finite_points": int, "points_in_image_fov": int,
     "image_size": [w, h], "objects": [{"class": str, "box_lidar": [x, y, z, dx, dy, dz, yaw],
     "num_points": int, "bbox_2d": [x1, y1, x2, y2]}]}

(`bbox_2d` is null for an object whose box projects nowhere into the image, e.g. behind the camera).
`--png` writes the camera image with the points coloured by depth and the projected 3D boxes, beside a
bird's-eye view of the points and boxes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from omnifuse.commands.vocabulary import add_json, add_subdir

__all__ = ['PATH', 'HELP', 'add_arguments', 'run', 'summarize_frame', 'render_frame']

PATH = ('inspect',)
HELP = 'print (and draw) one frame of a KITTI or mmdet3d-Waymo dataset: points, FOV, objects, 2D boxes'

DEFAULT_CAMERA = {'kitti': 'image_2', 'waymo': 'CAM_FRONT'}
DEFAULT_BEV_RANGE = {'kitti': (0.0, -40.0, 70.4, 40.0), 'waymo': (-75.2, -75.2, 75.2, 75.2)}


EPILOG = """\
--json - prints exactly one object (--json FILE writes it to FILE):
  {"frame": str, "num_points": int, "non_finite_points": int, "points_in_image_fov": int,
   "image_size": [w, h],
   "objects": [{"class": str, "box_lidar": [x, y, z, dx, dy, dz, yaw], "num_points": int,
                "bbox_2d": [x1, y1, x2, y2]}]}
  num_points counts the finite points; rows of the point file with a NaN or inf value are no measurement
  and counted apart in non_finite_points (no model sees them).
  box_lidar: LiDAR frame, geometric centre [m], yaw [rad] CCW about +z from +x;
  num_points: LiDAR points inside the box; bbox_2d: the projected box clipped to the image [px],
  null when the box projects nowhere into the image (e.g. behind the camera).
  DontCare regions are not listed.

examples:
  omnifuse inspect kitti --root ../shared/data/kitti --frame 000002 --png out.png
  omnifuse inspect waymo --root ../shared/data/waymo/kitti_format --frame 1000000 --json -
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `omnifuse inspect`."""
    parser.epilog = EPILOG
    parser.add_argument('dataset', choices=('kitti', 'waymo'),
                        help='layout of --root: "kitti" = KITTI object layout (velodyne/, image_2/, calib/, '
                        'label_2/; also the omnifuse simulator\'s output), "waymo" = mmdet3d\'s KITTI-format '
                        'Waymo (velodyne/ with 6 floats a point, image_0..4/, waymo_infos_*.pkl)')
    parser.add_argument('--root', required=True, metavar='DIR',
                        help='dataset root: for kitti the folder holding training/ (or the training/ folder '
                        'itself); for waymo the folder holding training/ and the waymo_infos_*.pkl files')
    parser.add_argument('--frame', required=True, metavar='ID',
                        help='frame id, the velodyne file name without .bin (e.g. 000002, 1000000)')
    add_json(parser, 'write the summary as one JSON object (schema below) to FILE; "-" prints it instead of the '
             'text', bare_was_flag=True)
    parser.add_argument('--png', metavar='OUT.png', default=None,
                        help='also write a picture: camera image with depth-coloured points and projected 3D '
                        'boxes, beside a bird\'s-eye view with points and boxes')
    add_subdir(parser)
    parser.add_argument('--info', action='append', metavar='PKL', default=None,
                        help='waymo only: mmdet3d info file(s) with the frame (repeatable; default: every '
                        'waymo_infos_*.pkl in --root); read with a restricted unpickler (builtins and '
                        'numpy only)')
    parser.add_argument('--camera', default=None,
                        help='camera for the FOV count, the 2D boxes and the picture '
                        '(default: image_2 for kitti, CAM_FRONT for waymo)')
    parser.add_argument('--max-depth', type=float, default=None, metavar='M',
                        help='depth [m] at the far (blue) end of the point colours '
                        '(default: 60 kitti, 75 waymo)')


def _open_reader(args: argparse.Namespace) -> Any:
    if args.dataset == 'kitti':
        from omnifuse.datasets.kitti import KittiReader

        return KittiReader(args.root, split=args.subdir)
    from omnifuse.datasets.waymo import WaymoReader

    return WaymoReader(args.root, info_files=args.info, split=args.subdir)


def summarize_frame(frame: Any, camera_name: str) -> dict[str, Any]:
    """The inspect record of one `SensorFrame` (the --json object).

    Args:
        frame: a SensorFrame with points, calib (holding `camera_name` with its image size) and labels.
        camera_name: the camera used for `points_in_image_fov` and `bbox_2d`.
    """
    import numpy as np

    from omnifuse.errors import FormatError
    from omnifuse.structures.geometry import points_in_boxes

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


def _print_text(summary: dict[str, Any], dataset: str, root: str, camera_name: str) -> None:
    w, h = summary['image_size']
    print(f'frame {summary["frame"]}  ({dataset}, {root})')
    bad = summary.get('non_finite_points', 0)
    print(f'points:              {summary["num_points"]}' + (f'  ({bad} non-finite rows dropped)' if bad else ''))
    print(f'points_in_image_fov: {summary["points_in_image_fov"]}  (camera {camera_name}, depth > 0)')
    print(f'image_size:          {w} x {h}')
    objs = summary['objects']
    print(f'objects:             {len(objs)} (DontCare excluded)')
    if objs:
        print(f'  {"#":>2}  {"class":<14} {"x":>7} {"y":>7} {"z":>6} {"dx":>5} {"dy":>5} {"dz":>5} {"yaw":>6}'
              f'  {"points":>6}  bbox_2d (x1 y1 x2 y2)')
        for i, o in enumerate(objs):
            x, y, z, dx, dy, dz, yaw = o['box_lidar']
            b2 = '-' if o['bbox_2d'] is None else ' '.join(f'{v:.1f}' for v in o['bbox_2d'])
            print(f'  {i:>2}  {o["class"]:<14} {x:7.2f} {y:7.2f} {z:6.2f} {dx:5.2f} {dy:5.2f} {dz:5.2f} '
                  f'{yaw:6.2f}  {o["num_points"]:>6}  {b2}')


def render_frame(frame: Any, summary: dict[str, Any], camera_name: str, *, dataset: str,
                 max_depth: float, bev_range: tuple[float, float, float, float]) -> Any:
    """The inspect picture (H, W, 3) uint8 RGB: camera view + legend on the left, bird's-eye view right."""
    import cv2
    import numpy as np

    from omnifuse.viz import (
        class_color,
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
    import numpy as np

    cy = camera.height / 2
    far = camera.lift(np.array([[0.0, cy], [camera.width - 1.0, cy]]), np.array([reach, reach]))
    origin = np.linalg.inv(camera.T_cam_lidar)[:3, 3]
    return np.stack([far[0, :2], origin[:2], far[1, :2]])


def run(args: argparse.Namespace) -> int:
    """Inspect one frame; print text or JSON; optionally write the PNG."""
    from omnifuse.errors import FormatError
    from omnifuse.viz.save import check_image_path, save_picture

    if args.png:
        check_image_path(args.png)
    if args.max_depth is not None and not (math.isfinite(args.max_depth) and args.max_depth > 0):
        raise FormatError(f'--max-depth must be a distance > 0 in metres, got {args.max_depth}')
    reader = _open_reader(args)
    frame_id = str(args.frame)
    if frame_id not in reader:
        known = list(reader.frame_ids)
        listed = ', '.join(known[:8]) + (', ...' if len(known) > 8 else '')
        raise FormatError(f'{args.root}: no frame {frame_id!r} ({len(known)} frames: {listed})')
    frame = reader.read(frame_id)
    camera_name = args.camera or DEFAULT_CAMERA[args.dataset]
    summary = summarize_frame(frame, camera_name)
    if args.json == '-':
        json.dump(summary, sys.stdout)
        sys.stdout.write('\n')
    else:
        _print_text(summary, args.dataset, args.root, camera_name)
        if args.json:
            out_json = Path(args.json)
            out_json.parent.mkdir(parents=True, exist_ok=True)
            out_json.write_text(json.dumps(summary) + '\n')
            print(f'wrote {out_json}')
    if args.png:
        max_depth = args.max_depth or (60.0 if args.dataset == 'kitti' else 75.0)
        picture = render_frame(frame, summary, camera_name, dataset=args.dataset, max_depth=max_depth,
                               bev_range=DEFAULT_BEV_RANGE[args.dataset])
        out = save_picture(args.png, picture)
        if args.json != '-':
            print(f'wrote {out}')
    return 0
