"""`omnifuse inspect kitti|waymo`: print (and draw) what one frame of a dataset holds.

For one frame: the number of LiDAR points, how many project into the camera image with positive depth,
the image size, and for every labelled object except DontCare its class, LiDAR-frame box, number of
LiDAR points inside it and the 2D box of its projection. `--json -` prints on stdout exactly

    {"frame": str, "num_points": int, "non_finite_points": int, "points_in_image_fov": int,
     "image_size": [w, h], "objects": [{"class": str, "box_lidar": [x, y, z, dx, dy, dz, yaw],
     "num_points": int, "bbox_2d": [x1, y1, x2, y2]}]}

(`bbox_2d` is null for an object whose box projects nowhere into the image, e.g. behind the camera), and the
text on stderr.
`--png` writes the camera image with the points coloured by depth and the projected 3D boxes, beside a
bird's-eye view of the points and boxes.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from omnifuse.commands.vocabulary import add_json, add_subdir, text_stream, write_json

__all__ = ['PATH', 'HELP', 'add_arguments', 'run']

PATH = ('inspect',)
HELP = 'print (and draw) one frame of a KITTI or mmdet3d-Waymo dataset: points, FOV, objects, 2D boxes'

DEFAULT_CAMERA = {'kitti': 'image_2', 'waymo': 'CAM_FRONT'}
DEFAULT_BEV_RANGE = {'kitti': (0.0, -40.0, 70.4, 40.0), 'waymo': (-75.2, -75.2, 75.2, 75.2)}


EPILOG = """\
--json - prints exactly one object on stdout, the text on stderr (--json FILE writes it to FILE):
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
    add_json(parser, 'write the summary as one JSON object (schema below) to FILE', bare_was_flag=True)
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


def run(args: argparse.Namespace) -> int:
    """Inspect one frame; print text or JSON; optionally write the PNG."""
    from omnifuse.datasets.frame_summary import format_frame_summary, summarize_frame
    from omnifuse.errors import FormatError
    from omnifuse.viz.inspect import render_frame
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
    text = text_stream(args.json)
    print(format_frame_summary(summary, args.dataset, args.root, camera_name), file=text)
    if args.json:
        out_json = write_json(args.json, summary, indent=None)
        if out_json is not None:
            print(f'wrote {out_json}', file=text)
    if args.png:
        max_depth = args.max_depth or (60.0 if args.dataset == 'kitti' else 75.0)
        picture = render_frame(frame, summary, camera_name, dataset=args.dataset, max_depth=max_depth,
                               bev_range=DEFAULT_BEV_RANGE[args.dataset])
        out = save_picture(args.png, picture)
        print(f'wrote {out}', file=text)
    return 0
