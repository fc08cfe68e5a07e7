"""`omnifuse sim`: generate the multi-sensor synthetic world as a KITTI-layout dataset or a ROS 2 bag."""

from __future__ import annotations

import argparse
from pathlib import Path

from omnifuse.commands.vocabulary import add_subdir

PATH = ('sim',)
HELP = 'generate simulated LiDAR, camera, thermal and ultrasonic frames with exact labels (KITTI layout or ROS 2 bag)'

_EPILOG = """examples:
  omnifuse sim --out data/sim --frames 200 --seed 0 --condition mixed --png sheet.png
  omnifuse sim --out run.bag --frames 50 --format bag --distro jazzy
  omnifuse sim --out faulty --frames 20 --camera-dead --calib-error 2 0.1
  omnifuse sim --out data/simtrack --frames 40 --sequence-length 20 --azimuth-step 0.18   # + label_02 tracking GT
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `omnifuse sim`."""
    parser.epilog = _EPILOG
    parser.add_argument('--out', required=True, help='output: the KITTI dataset root (created) or the bag directory '
                        '(must not exist) with --format bag')
    parser.add_argument('--frames', type=int, required=True, help='number of frames to generate')
    parser.add_argument('--seed', type=int, default=0, help='seed of the first world; sequence i uses seed + i '
                        '(default: 0)')
    parser.add_argument('--condition', default='day', choices=('day', 'night', 'glare', 'fog', 'mixed'),
                        help='lighting/weather; mixed picks one per sequence from its seed (default: day)')
    parser.add_argument('--scenario', default='street', choices=('street', 'parking', 'mixed'),
                        help='street: driving among traffic; parking: standing still with cars, people, bollards and '
                             'walls within a few metres (near-field occupancy); mixed: a third of the worlds park '
                             '(default: street)')
    parser.add_argument('--format', default='kitti', choices=('kitti', 'bag'),
                        help='kitti: KITTI object layout + thermal/ultrasonic/semantic/occupancy folders; '
                        'bag: ROS 2 bag with the input topics of the ROS contract (default: kitti)')
    parser.add_argument('--sequence-length', type=int, default=None,
                        help='frames per sequence (one world, 10 Hz, consistent motion; objects keep one track id); '
                        'default: 1 for kitti (every frame a new world), all frames for bag. With kitti and N > 1 the '
                        'KITTI tracking ground truth <subdir>/label_02/<seq:04d>.txt is written too')
    add_subdir(parser, what='to write the frames to')
    parser.add_argument('--distro', default='humble', choices=('humble', 'jazzy'),
                        help='ROS 2 message definitions of the bag (default: humble)')
    parser.add_argument('--storage', default='mcap', choices=('mcap', 'sqlite3'), help='bag storage (default: mcap)')
    parser.add_argument('--azimuth-step', type=float, default=0.09,
                        help='LiDAR azimuth step in degrees; 0.09 gives ~230k points a frame, 0.18 half '
                        '(default: 0.09)')
    parser.add_argument('--glass', choices=('half', 'see-through'), default='half',
                        help='vehicle glass: "half" (default) returns half of the LiDAR rays that hit it, vans are '
                        'two opaque boxes; "see-through" returns 20 %% from the glass and 25 %% from the interior '
                        'behind it, and vans get windows, a sill, ground clearance and wheels (docs/results.md '
                        '"Vans with windows": tried for real vans, not what the shipped models were trained on)')
    parser.add_argument('--camera-dead', action='store_true', help='fault: the colour camera delivers black images')
    parser.add_argument('--camera-frozen', action='store_true',
                        help='fault: from the middle of each sequence the colour camera repeats one image')
    parser.add_argument('--thermal-dead', action='store_true', help='fault: the thermal camera delivers zeros')
    parser.add_argument('--calib-error', type=float, nargs=2, metavar=('DEG', 'M'), default=None,
                        help='fault: write the camera/thermal calibration off by DEG degrees and M metres')
    parser.add_argument('--png', default=None, metavar='CONTACT.png',
                        help='also write a contact sheet of all sensors for up to --png-frames frames')
    parser.add_argument('--png-frames', type=int, default=3, help='frames on the contact sheet (default: 3)')


def _faults(args: argparse.Namespace) -> dict[str, object]:
    faults: dict[str, object] = {}
    if args.camera_dead:
        faults['camera_dead'] = True
    if args.camera_frozen:
        faults['camera_frozen'] = True
    if args.thermal_dead:
        faults['thermal_dead'] = True
    if args.calib_error is not None:
        faults['calib_error'] = tuple(args.calib_error)
    return faults


def run(args: argparse.Namespace) -> int:
    """Generate the frames, write them, and optionally the contact sheet."""
    from tqdm import tqdm

    from omnifuse.datasets.sim.generate import iter_sequence
    from omnifuse.datasets.sim.lidar import LidarModel, see_through_glass
    from omnifuse.errors import OmnifuseError
    from omnifuse.viz.save import check_image_path, save_picture

    if args.frames < 1:
        raise OmnifuseError(f'--frames must be at least 1, got {args.frames}')
    if args.png:
        check_image_path(args.png)
    if not 0.01 <= args.azimuth_step <= 2.0:
        raise OmnifuseError(f'--azimuth-step must be within 0.01..2 degrees, got {args.azimuth_step}')
    if args.sequence_length is not None and args.sequence_length < 1:
        raise OmnifuseError(f'--sequence-length must be at least 1, got {args.sequence_length}')
    seq_len = args.sequence_length or (1 if args.format == 'kitti' else args.frames)
    if seq_len < 1:
        raise OmnifuseError(f'--sequence-length must be at least 1, got {seq_len}')
    if args.calib_error is not None and (args.calib_error[0] < 0 or args.calib_error[1] < 0):
        raise OmnifuseError(f'--calib-error DEG M must be >= 0, got {args.calib_error}')
    out = Path(args.out)
    lidar = LidarModel(n_azimuth=int(round(360.0 / args.azimuth_step)))
    glazed = args.glass == 'see-through'
    if glazed:
        lidar = see_through_glass(lidar)
    faults = _faults(args)
    sheet_frames: list = []
    bar = tqdm(total=args.frames, desc='sim', unit='frame')

    def frames():
        done = 0
        seq = 0
        while done < args.frames:
            n = min(seq_len, args.frames - done)
            for frame in iter_sequence(args.seed + seq, n, condition=args.condition, faults=faults, sequence=seq,
                                       lidar=lidar, scenario=args.scenario, glazed_vans=glazed):
                if args.png and len(sheet_frames) < args.png_frames:
                    sheet_frames.append(frame)
                bar.update(1)
                yield frame
            done += n
            seq += 1

    try:
        if args.format == 'kitti':
            from omnifuse.datasets.sim.writer_kitti import write_kitti

            tracking = seq_len > 1
            ids = write_kitti(frames(), out, split=args.subdir, tracking=tracking)
            summary = f'wrote {len(ids)} frames in the KITTI layout to {out}/{args.subdir}'
            if tracking:
                summary += f' (+ KITTI tracking ground truth per sequence in {out}/{args.subdir}/label_02)'
        else:
            try:
                from omnifuse.ros_nodes.bag_io import write_frames_to_bag
            except ModuleNotFoundError as exc:
                raise OmnifuseError('--format bag needs omnifuse.ros_nodes.bag_io (write_frames_to_bag), which is '
                                    f'not available: {exc}') from None
            if out.exists():
                raise OmnifuseError(f'{out}: exists already; --format bag creates a new bag directory')
            counts = write_frames_to_bag(frames(), out, distro=args.distro, storage=args.storage)
            summary = f'wrote a ROS 2 {args.distro} bag ({args.storage}) to {out}: ' + ', '.join(
                f'{topic} {n}' for topic, n in sorted(counts.items()))
    finally:
        bar.close()
    print(summary)
    if args.png:
        from omnifuse.viz.contact_sheet import contact_sheet

        png = save_picture(args.png, contact_sheet(sheet_frames))
        print(f'contact sheet: {png}')
    return 0
