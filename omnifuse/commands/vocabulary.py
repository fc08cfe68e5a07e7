"""The options every `omnifuse` command spells the same way, and the old spellings kept for one release.

    --split NAME|FILE   the frames to use: an ImageSets list (a name under <root>/ImageSets/ or a file of ids)
    --subdir DIR        the sub-folder of a KITTI-layout root holding the frames (training, testing)
    --png FILE          one picture
    --png-dir DIR       one picture per frame, DIR/<id>.png
    --drop MODALITY     run without these inputs (camera, thermal), a robustness check
    --json FILE         write the numbers as JSON to FILE; '-' prints only the JSON on stdout and the text
                        on stderr (`add_json`, `write_json`, `text_stream`)

An old spelling still works and prints one line on stderr saying what to write instead
(`deprecated_alias`); README.md ("One vocabulary") lists them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

__all__ = ['add_backend', 'add_precision', 'add_split', 'add_subdir', 'add_png_dir', 'add_drop', 'add_json',
           'write_json', 'text_stream', 'JSON_STDOUT_RULE', 'add_config_options',
           'deprecated_alias']

# The one rule of `--json -`, said in every command's --help (add_json) and in README.md ("One vocabulary").
JSON_STDOUT_RULE = '"-" prints only the JSON on stdout and the text on stderr'


def deprecated_alias(parser: argparse.ArgumentParser, flag: str, *, dest: str, use: str, nargs: Any = None,
                     const: Any = None, metavar: str | None = None) -> None:
    """Accept the old spelling `flag` for `dest`, with a one-line note on stderr naming the new one.

    Args:
        parser: the command's parser.
        flag: the old option, e.g. '--no-camera'.
        dest: the attribute the new option sets.
        use: what to write instead, e.g. '--drop camera thermal'.
        nargs: as argparse; 0 for a flag, which then stores `const`.
        const: the value a flag stores (or an optional value's default when given bare).
        metavar: as argparse.
    """

    class _Alias(argparse.Action):
        def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                     values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
            print(f'{parser.prog}: note: {option_string} is deprecated and will be removed; use {use}',
                  file=sys.stderr)
            setattr(namespace, self.dest, self.const if self.nargs == 0 else values)

    parser.add_argument(flag, dest=dest, action=_Alias, nargs=nargs, const=const, metavar=metavar,
                        default=argparse.SUPPRESS, help=f'deprecated: use {use}')


def add_split(parser: argparse.ArgumentParser | Any, *, help_suffix: str = '') -> None:
    """`--split NAME|FILE`: the frames to use, an ImageSets list."""
    parser.add_argument('--split', metavar='NAME|FILE', default=None,
                        help='only the frames of this ImageSets list: a name under <root>/ImageSets/ (e.g. val) or '
                        f'a file of frame ids, one a line{help_suffix}')


def add_subdir(parser: argparse.ArgumentParser, *, what: str = 'holding the frames') -> None:
    """`--subdir DIR` (default training), with the old `--split DIR` as a deprecated alias."""
    parser.add_argument('--subdir', default='training', metavar='DIR',
                        help=f'sub-folder of the root {what} (default: training)')
    deprecated_alias(parser, '--split', dest='subdir', use='--subdir DIR', metavar='DIR')


def add_png_dir(parser: argparse.ArgumentParser, help: str) -> None:
    """`--png-dir DIR` (one picture per frame), with the old `--png DIR` as a deprecated alias."""
    parser.add_argument('--png-dir', metavar='DIR', default=None, help=help)
    deprecated_alias(parser, '--png', dest='png_dir', use='--png-dir DIR', metavar='DIR')


def add_drop(parser: argparse.ArgumentParser, choices: Sequence[str], *, old: Sequence[str] = ()) -> None:
    """`--drop MODALITY [...]`, with old flags (e.g. '--no-camera') that drop every one of `choices`."""
    parser.add_argument('--drop', nargs='+', choices=tuple(choices), default=[], metavar='MODALITY',
                        help=f'robustness: run without these inputs ({", ".join(choices)}), e.g. `--drop '
                        f'{choices[0]}`')
    for flag in old:
        deprecated_alias(parser, flag, dest='drop', use=f'--drop {" ".join(choices)}', nargs=0,
                         const=list(choices))


def add_json(parser: argparse.ArgumentParser, help: str, *, bare_was_flag: bool = False) -> None:
    """`--json FILE`: write the numbers as JSON to FILE (folders created); '-' = only the JSON on stdout.

    The command writes with `write_json` and prints its text to `text_stream(args.json)`.

    Args:
        parser: the command's parser.
        help: what the JSON holds, e.g. 'write the AP values as JSON to FILE (shape below)'; the folders
            note and the rule of "-" (`JSON_STDOUT_RULE`) are added.
        bare_was_flag: the command's `--json` used to be a flag meaning `--json -`; a bare `--json` still
            means that, with a deprecation note.
    """
    help = f'{help} (folders are created); {JSON_STDOUT_RULE}'
    if not bare_was_flag:
        parser.add_argument('--json', metavar='FILE', default=None, help=help)
        return

    class _Json(argparse.Action):
        def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                     values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
            if values is None:
                print(f'{parser.prog}: note: --json without a FILE is deprecated and will be removed; use --json -',
                      file=sys.stderr)
                values = '-'
            setattr(namespace, self.dest, values)

    parser.add_argument('--json', metavar='FILE', nargs='?', default=None, action=_Json, help=help)


def text_stream(json_path: str | None) -> TextIO:
    """Where a command with `--json` prints its text (tables, notes, 'wrote ...'): stderr under `--json -`, so
    that stdout holds only the JSON, else stdout. Ask at the time of printing (tests swap sys.stdout)."""
    return sys.stderr if json_path == '-' else sys.stdout


def write_json(path: str, doc: Any, *, indent: int | None = 2) -> Path | None:
    """Write `doc` as `json.dumps(doc, indent=indent)` and a newline: to stdout for '-', else to the file `path`
    (its folders created, UTF-8).

    Returns:
        the file written, or None for '-' (the caller then says no 'wrote ...').
    """
    text = json.dumps(doc, indent=indent) + '\n'
    if path == '-':
        sys.stdout.write(text)
        sys.stdout.flush()
        return None
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding='utf-8')
    return out


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by train/test: --cfg-options, --data-root, --work-dir, --launcher."""
    parser.add_argument('--work-dir', help='folder for logs and checkpoints (default: work_dirs/<config name>)')
    parser.add_argument('--data-root', help='dataset root for every dataloader of the config (a KITTI-layout '
                        'folder for the kitti/sim configs, the KITTI-format Waymo root for waymo)')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='override config entries, e.g. train_cfg.max_epochs=2 '
                        'train_dataloader.batch_size=1 (data_root=DIR sets every dataloader\'s root)')
    parser.add_argument('--launcher', choices=['none', 'pytorch'], default='none',
                        help='none: one process; pytorch: distributed, started by torchrun (default: none)')


def add_backend(parser: argparse.ArgumentParser, *, note: str = '') -> None:
    """--backend torch|onnxruntime|openvino: None = the checkpoint's file decides (omnifuse.deploy.runtime)."""
    parser.add_argument('--backend', choices=('torch', 'onnxruntime', 'openvino'),
                        help='force a backend (default: the checkpoint decides: .onnx onnxruntime, .xml openvino, '
                        f'else torch){note}')


def add_precision(parser: argparse.ArgumentParser) -> None:
    """--precision f32|bf16 of an exported detector on OpenVINO."""
    parser.add_argument('--precision', choices=('f32', 'bf16'), default='f32',
                        help='arithmetic of an exported detector on OpenVINO: f32 (default, as PyTorch) or bf16 '
                        '(CPUs with bfloat16 units; faster, no longer equal to PyTorch: docs/deploy.md)')
