import argparse

import pytest

from omnifuse.cli import build_parser, main


def _parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


@pytest.mark.parametrize('old,new,attr,value', [
    (['detect', '--kitti-root', 'r', '--no-camera'], ['detect', '--kitti-root', 'r', '--drop', 'camera', 'thermal'],
     'drop', ['camera', 'thermal']),
    (['detect', '--kitti-root', 'r', '--png', 'd'], ['detect', '--kitti-root', 'r', '--png-dir', 'd'], 'png_dir', 'd'),
    (['occupancy', '--kitti-root', 'r', '--drop-camera'], ['occupancy', '--kitti-root', 'r', '--drop', 'camera'],
     'drop', ['camera']),
    (['occupancy', '--kitti-root', 'r', '--png', 'd'], ['occupancy', '--kitti-root', 'r', '--png-dir', 'd'],
     'png_dir', 'd'),
    (['test', 'c.py', 'w.pth', '--drop-camera'], ['test', 'c.py', 'w.pth', '--drop', 'camera', 'thermal'],
     'drop', ['camera', 'thermal']),
    (['segment', '--kitti-root', 'r', '--image-set', 'val'], ['segment', '--kitti-root', 'r', '--split', 'val'],
     'split', 'val'),
    (['eval', 'seg', '--gt', 'g', '--pred', 'p', '--image-set', 'f'], ['eval', 'seg', '--gt', 'g', '--pred', 'p',
                                                                         '--split', 'f'], 'split', 'f'),
    (['inspect', 'kitti', '--root', 'r', '--frame', '0', '--split', 'testing'],
     ['inspect', 'kitti', '--root', 'r', '--frame', '0', '--subdir', 'testing'], 'subdir', 'testing'),
    (['sim', '--out', 'o', '--frames', '1', '--split', 'testing'],
     ['sim', '--out', 'o', '--frames', '1', '--subdir', 'testing'], 'subdir', 'testing'),
    (['bag', '--kitti-root', 'r', '--out', 'b', '--split', 'testing'],
     ['bag', '--kitti-root', 'r', '--out', 'b', '--subdir', 'testing'], 'subdir', 'testing'),
    (['gap', '--real', 'a', '--sim', 'b', '--split', 'testing'], ['gap', '--real', 'a', '--sim', 'b', '--subdir',
                                                                  'testing'], 'subdir', 'testing'),
    (['inspect', 'kitti', '--root', 'r', '--frame', '0', '--json'],
     ['inspect', 'kitti', '--root', 'r', '--frame', '0', '--json', '-'], 'json', '-'),
])
def test_an_old_spelling_means_the_new_one_with_a_one_line_note(old: list[str], new: list[str], attr: str,
                                                                 value: object,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert getattr(_parse(new), attr) == value
    assert capsys.readouterr().err == ''
    assert getattr(_parse(old), attr) == value
    err = capsys.readouterr().err
    flag = next((a for a in new if a.startswith('--') and a not in old), '--json')
    assert err.count('\n') == 1 and 'deprecated' in err and f'use {flag}' in err


def test_defaults_of_the_shared_options() -> None:
    args = _parse(['detect', '--kitti-root', 'r'])
    assert (args.drop, args.png_dir, args.split) == ([], None, None)
    assert _parse(['inspect', 'kitti', '--root', 'r', '--frame', '0']).subdir == 'training'
    assert _parse(['inspect', 'kitti', '--root', 'r', '--frame', '0']).json is None


def test_inspect_json_to_a_file_keeps_the_text(kitti_root, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    out = tmp_path / 'sub' / 'frame.json'
    assert main(['inspect', 'kitti', '--root', str(kitti_root), '--frame', '000002', '--json', str(out)]) == 0
    text = capsys.readouterr().out
    assert 'points' in text and f'wrote {out}' in text
    assert json.loads(out.read_text())['frame'] == '000002'


def test_no_command_imports_another_command() -> None:
    from pathlib import Path

    import omnifuse.commands

    folder = Path(omnifuse.commands.__file__).parent
    for module in folder.glob('*.py'):
        text = module.read_text()
        others = [line for line in text.splitlines() if 'from omnifuse.commands.' in line
                  and 'omnifuse.commands.vocabulary' not in line]
        assert not others, f'{module.name}: {others}'
