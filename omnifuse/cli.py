"""The `omnifuse` command.

Each subcommand lives in its own module under `omnifuse/commands/`; a module declares
`PATH` (e.g. `('eval', 'kitti')`), `HELP`, `add_arguments(parser)` and `run(args) -> int`.
Command modules import heavy libraries inside `run` so that `--help` stays instant.
Errors raised on purpose (`OmnifuseError`, missing files) become one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from omnifuse.errors import OmnifuseError

__all__ = ['main', 'build_parser']

# Command modules, in the order `omnifuse --help` lists them. A module not written yet is skipped.
COMMAND_MODULES = (
    'demo', 'inspect', 'sim', 'eval_kitti', 'eval_waymo', 'eval_seg', 'eval_occupancy', 'eval_tracking',
    'train', 'test', 'detect', 'track', 'bench', 'segment', 'occupancy', 'export', 'replay', 'bag', 'gap',
)

GROUP_HELP = {
    'eval': 'score predictions against ground truth (KITTI, Waymo, segmentation, occupancy)',
    'inspect': 'print and draw what one frame of a dataset holds',
}


def _load_commands() -> list[ModuleType]:
    modules = []
    for name in COMMAND_MODULES:
        full = f'omnifuse.commands.{name}'
        try:
            modules.append(importlib.import_module(full))
        except ModuleNotFoundError as exc:
            if exc.name != full:
                raise
    return modules


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors already; keep its one-line message."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand."""
    parser = _Parser(prog='omnifuse', description=__doc__.split('\n')[0] + ' Sensor-fusion perception: '
                     'LiDAR, camera, thermal and ultrasonic.',
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--debug', action='store_true',
                        help='show the Python traceback of an error instead of its one-line message')
    top = parser.add_subparsers(dest='command', metavar='COMMAND')
    top.required = True
    groups: dict[str, argparse._SubParsersAction] = {}
    for module in _load_commands():
        path: tuple[str, ...] = module.PATH
        if len(path) == 1:
            sub = top.add_parser(path[0], help=module.HELP, description=module.HELP,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        else:
            group, leaf = path
            if group not in groups:
                gp = top.add_parser(group, help=GROUP_HELP.get(group, group),
                                    description=GROUP_HELP.get(group, group))
                groups[group] = gp.add_subparsers(dest='subcommand', metavar='KIND')
                groups[group].required = True
            sub = groups[group].add_parser(leaf, help=module.HELP, description=module.HELP,
                                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code.

    The one place where errors become output: bad input (`OmnifuseError`, a missing, existing or unwritable
    path) is one line and exit 2; anything unexpected is one line naming it and exit 1, with the traceback
    only under `--debug`.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except (OmnifuseError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
            PermissionError) as exc:
        if args.debug:
            raise
        print(f'omnifuse: error: {_describe(exc)}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('omnifuse: interrupted', file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the promised single line instead of a traceback
        if args.debug:
            raise
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ''
        print(f'omnifuse: unexpected error: {type(exc).__name__}: {text[:300]} '
              '(run with --debug for the traceback)', file=sys.stderr)
        return 1


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        reason = exc.strerror or type(exc).__name__
        return f'{exc.filename}: {reason}'
    return str(exc)


if __name__ == '__main__':
    raise SystemExit(main())
