"""`omnifuse replay IN_BAG OUT_BAG`: run perception on a ROS 2 bag without ROS, write a bag for Foxglove."""

from __future__ import annotations

import argparse

from omnifuse.install_paths import ROS_PARAMS_FILE

__all__ = ['PATH', 'HELP', 'add_arguments', 'run']

PATH = ('replay',)
HELP = 'replay a ROS 2 bag (MCAP or sqlite3, Humble or Jazzy) through perception into a new bag'

DEFAULT_PARAMS_FILE = ROS_PARAMS_FILE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `omnifuse replay`."""
    parser.add_argument('in_bag', metavar='IN_BAG',
                        help='input ROS 2 bag: a bag directory (with metadata.yaml), or a single .mcap / .db3 file')
    parser.add_argument('out_bag', metavar='OUT_BAG',
                        help='output bag directory to create: every input topic plus /perception/*, '
                        '/diagnostics and /tf_static')
    parser.add_argument('--params', default=None,
                        help='node parameters (ROS 2 "/**: ros__parameters:" YAML): topics, sync windows, '
                        f'models (default: {DEFAULT_PARAMS_FILE} when it exists, else built-in defaults)')
    parser.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap',
                        help='storage of the output bag (default: mcap, which Foxglove opens directly)')
    parser.add_argument('--distro', choices=('humble', 'jazzy'), default=None,
                        help='message definitions to use; default: detected from the input bag '
                        '(custom data, metadata ros_distro, the Range definition, type hashes)')
    parser.add_argument('--force', action='store_true',
                        help='replace OUT_BAG if it is an existing bag directory')
    parser.add_argument('--no-progress', action='store_true', help='do not show the progress bar')


def run(args: argparse.Namespace) -> int:
    """Replay and print the summary."""
    from omnifuse.ros_nodes.params import load_params
    from omnifuse.ros_nodes.replay import foxglove_hint, replay_bag

    params_path = args.params
    if params_path is None and DEFAULT_PARAMS_FILE.is_file():
        params_path = DEFAULT_PARAMS_FILE
    params = load_params(params_path)
    summary = replay_bag(args.in_bag, args.out_bag, params=params, storage=args.storage, distro=args.distro,
                         progress=not args.no_progress, force=args.force)
    print(summary.format())
    print(f'wrote {args.out_bag}; ' + foxglove_hint(args.out_bag))
    return 0
