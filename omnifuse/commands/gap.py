"""`omnifuse gap`: measure the sim-to-real gap between two KITTI-layout LiDAR datasets (print, draw, JSON).

The statistics are computed by `omnifuse.datasets.domain_gap` and drawn by `omnifuse.viz.gap_plots`; this
module only parses the arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from omnifuse.commands.vocabulary import add_json, add_subdir, text_stream, write_json

__all__ = ['PATH', 'HELP', 'add_arguments', 'run']

PATH = ('gap',)
HELP = ('compare the LiDAR scans (and labels) of a real and a simulated KITTI-layout dataset: density, intensity, '
        'rings, ray drop, ground, objects, clutter')

EPILOG = """\
Both roots are KITTI object layouts: <root>/training/velodyne/*.bin (float32 x y z intensity [+ more
columns: --num-features]), and optionally label_2/ + calib/ (then objects and clutter are measured too).
A real root can be your own sensor's recording written in that layout; the simulated one comes from
`omnifuse sim --out DIR --frames N`.

What each quantity means (LiDAR frame, x forward, y left, z up, metres):
  returns per frame / per range   density; the azimuth step is the median angle between neighbouring
                                  returns of one ring
  intensity                       histogram, median (all / ground / above-ground points), zeros, max
                                  (a max above 1 means a 0..255 scale rather than KITTI's 0..1)
  rings, elevation histogram      rings recovered from the scan order (one azimuth sweep per ring) or,
                                  when the points are not stored ring by ring, from elevation peaks;
                                  spread = std of a ring's elevation beyond 10 m (0 for an ideal sensor)
  ray drop rate                   missing azimuth steps between two returns of one ring whose ranges
                                  agree within 5 % (the same surface), per range; sky is not a drop
  ground                          a plane fitted per frame to the points 3-40 m away (RANSAC): sensor
                                  height above it, pitch/roll, roughness (robust std of residuals)
  objects (labels)                per class inside the front --fov-deg wedge: points inside each box
                                  against range, sizes, box bottom above the fitted ground
  clutter (labels)                points > 0.3 m above the ground, outside every labelled box, inside
                                  the wedge and --clutter-range

examples:
  omnifuse sim --out /tmp/sim_gap --frames 20
  omnifuse gap --real ../shared/data/kitti_real/seq0000_val --sim /tmp/sim_gap --png gap.png
  omnifuse gap --real my_sensor_kitti --sim /tmp/sim_gap --max-frames 50 --json gap.json
  omnifuse gap --real my_sensor_kitti --sim /tmp/sim_gap --json - | python -m json.tool   (the table on stderr)
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `omnifuse gap`."""
    parser.epilog = EPILOG
    parser.add_argument('--real', required=True, metavar='DIR',
                        help='KITTI-layout root of the real scans (holding training/velodyne, or that split folder)')
    parser.add_argument('--sim', required=True, metavar='DIR',
                        help='KITTI-layout root of the simulated scans (omnifuse sim --out DIR)')
    parser.add_argument('--names', nargs=2, default=('real', 'sim'), metavar=('REAL', 'SIM'),
                        help='names of the two datasets in the table and picture (default: real sim)')
    add_subdir(parser)
    parser.add_argument('--max-frames', type=int, default=None, metavar='N',
                        help='read at most N frames of each dataset, evenly spread (default: all)')
    parser.add_argument('--fov-deg', type=float, default=80.0, metavar='DEG',
                        help='objects and clutter are counted inside |azimuth| <= DEG/2 around +x (default 80: '
                        'about the KITTI camera, whose view the real labels cover; 360 = all around)')
    parser.add_argument('--clutter-range', type=float, default=40.0, metavar='M',
                        help='count clutter up to this ground range [m] (default: 40)')
    parser.add_argument('--classes', default=None, metavar='LIST',
                        help='comma-separated classes to compare (default: those labelled in both)')
    parser.add_argument('--num-features', type=int, default=4, metavar='C',
                        help='float32 values per point in the .bin files (default: 4, x y z intensity)')
    parser.add_argument('--png', metavar='OUT.png', help='write the comparison picture (ten panels)')
    add_json(parser, 'write both datasets\' summaries as JSON to FILE: {"real": {...}, "sim": {...}}')


def run(args: argparse.Namespace) -> int:
    """Measure both datasets, print the table, optionally write the PNG and the JSON; returns 0."""
    from omnifuse.datasets.domain_gap import compare, format_comparison, measure_dataset
    from omnifuse.errors import OmnifuseError
    from omnifuse.viz.save import check_image_path, save_picture

    if args.png:
        check_image_path(args.png)
    if args.max_frames is not None and args.max_frames < 1:
        raise OmnifuseError(f'--max-frames must be at least 1, got {args.max_frames}')
    if not 0 < args.fov_deg <= 360:
        raise OmnifuseError(f'--fov-deg must be in (0, 360], got {args.fov_deg}')
    for opt, root in (('--real', args.real), ('--sim', args.sim)):
        if not Path(root).exists():
            raise FileNotFoundError(2, f'No such directory ({opt})', str(root))
    classes = [c.strip() for c in args.classes.split(',') if c.strip()] if args.classes else None
    kw = dict(split=args.subdir, max_frames=args.max_frames, fov_deg=args.fov_deg,
              clutter_range=args.clutter_range, num_features=args.num_features)
    real = measure_dataset(args.real, name=args.names[0], **kw)
    sim = measure_dataset(args.sim, name=args.names[1], **kw)
    text = text_stream(args.json)
    print(format_comparison(compare(real, sim, classes=classes), (real.name, sim.name)), file=text)
    if args.json:
        out_json = write_json(args.json, {'real': real.to_json(), 'sim': sim.to_json()}, indent=1)
        if out_json is not None:
            print(f'wrote {out_json}', file=text)
    if args.png:
        from omnifuse.viz.gap_plots import draw_gap

        out = save_picture(args.png, draw_gap(real, sim, classes=classes))
        print(f'wrote {out}', file=text)
    sys.stdout.flush()
    return 0
