import argparse
import sys
from pathlib import Path

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


def test_write_json_prints_for_dash_and_writes_the_file_otherwise(tmp_path, capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from omnifuse.commands.vocabulary import text_stream, write_json

    monkeypatch.chdir(tmp_path)
    doc = {'b': [1, 2.5], 'a': None}
    assert write_json('-', doc, indent=1) is None
    assert capsys.readouterr().out == json.dumps(doc, indent=1) + '\n'
    assert not (tmp_path / '-').exists()
    out = write_json('sub/dir/x.json', doc)  # folders created, the path as given
    assert out == Path('sub/dir/x.json')
    assert out.read_bytes() == (json.dumps(doc, indent=2) + '\n').encode()
    assert write_json('y.json', doc, indent=None) == Path('y.json')
    assert Path('y.json').read_text() == json.dumps(doc) + '\n'
    assert capsys.readouterr().out == ''
    assert text_stream('-') is sys.stderr and text_stream('x.json') is sys.stdout and text_stream(None) is sys.stdout


def test_every_json_option_states_the_rule_of_dash(capsys: pytest.CaptureFixture[str]) -> None:
    from omnifuse.commands.vocabulary import JSON_STDOUT_RULE

    def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> list:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            return [(path, parser)]
        return [leaf for name, sub in subs[0].choices.items() for leaf in leaves(sub, (*path, name))]

    with_json = {' '.join(path): next(a for a in parser._actions if '--json' in a.option_strings)
                 for path, parser in leaves(build_parser(), ()) if '--json' in parser._option_string_actions}
    assert set(with_json) == {'inspect', 'gap', 'bench', 'eval kitti', 'eval waymo', 'eval seg', 'eval occupancy',
                              'eval tracking'}
    for name, action in with_json.items():
        assert action.metavar == 'FILE' and JSON_STDOUT_RULE in action.help, name


KITTI_GT = 'Car 0.00 0 -1.58 587.01 173.33 614.12 200.12 1.65 1.67 3.64 -0.65 1.71 46.70 -1.59\n'
TRACK_GT = ('0 1 Car 0 0 0 100 100 200 200 1.5 1.6 4.0 0.0 1.5 20 0\n'
            '1 1 Car 0 0 0 100 100 200 200 1.5 1.6 4.0 0.0 1.5 20 0\n')
TRACK_PRED = ('0 5 Car 0 0 0 100 100 200 200 1.5 1.6 4.0 0.4 1.5 20 0 0.8\n'
              '1 5 Car 0 0 0 100 100 200 200 1.5 1.6 4.0 0.4 1.5 20 0 0.8\n')


def _json_command(name: str, tmp: Path, shared: Path | None) -> list[str]:
    """argv of `name` on small inputs made under tmp (shared: ../shared/data, for the commands that need scans)."""
    import json

    import cv2
    import numpy as np

    gt, pred = tmp / 'gt', tmp / 'pred'
    if name in ('inspect', 'gap', 'bench'):
        assert shared is not None
        kitti = str(shared / 'kitti')
        return {'inspect': ['inspect', 'kitti', '--root', kitti, '--frame', '000002'],
                'gap': ['gap', '--real', kitti, '--sim', kitti, '--max-frames', '1'],
                'bench': ['bench', '--kitti-root', kitti, '--frames', '1', '--warmup', '0']}[name]
    gt.mkdir()
    pred.mkdir()
    if name == 'eval kitti':
        (gt / '000000.txt').write_text(KITTI_GT)
        (pred / '000000.txt').write_text(KITTI_GT.rstrip('\n') + ' 0.9\n')
    elif name == 'eval tracking':
        (gt / '0003.txt').write_text(TRACK_GT)
        (pred / '0003.txt').write_text(TRACK_PRED)
    elif name in ('eval seg', 'eval occupancy'):
        size = (12, 20) if name == 'eval seg' else (200, 200)
        ids = np.arange(size[0] * size[1], dtype=np.uint8).reshape(size) % 4
        for folder in (gt, pred):
            cv2.imwrite(str(folder / '000000.png'), ids)
    elif name == 'eval waymo':
        row = {'frame': 'seq_100', 'type': 'VEHICLE', 'box': [10.0, 2.0, 0.5, 4.5, 2.0, 1.6, 0.3]}
        gt, pred = tmp / 'gt.jsonl', tmp / 'pred.jsonl'
        gt.write_text(json.dumps(row) + '\n')
        pred.write_text(json.dumps(dict(row, score=0.9)) + '\n')
    extra = ['--classes', 'auto'] if name == 'eval seg' else []
    return [*name.split(), '--gt', str(gt), '--pred', str(pred), *extra]


@pytest.mark.parametrize('name', ['eval kitti', 'eval tracking', 'eval seg', 'eval occupancy', 'eval waymo',
                                  'inspect', 'gap', 'bench'])
def test_json_dash_prints_only_json_on_stdout_and_the_text_on_stderr(name: str, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str],
                                                                    request: pytest.FixtureRequest) -> None:
    """README "One vocabulary": `--json -` = the JSON alone on stdout (parseable as a whole), the text on
    stderr, and no file named '-'; the same JSON as `--json FILE` writes."""
    import json

    shared = request.getfixturevalue('shared_data') if name in ('inspect', 'gap', 'bench') else None
    argv = _json_command(name, tmp_path, shared)
    monkeypatch.chdir(tmp_path)
    assert main([*argv, '--json', '-']) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert isinstance(doc, dict) and doc
    assert not (tmp_path / '-').exists()
    assert captured.err.strip()  # the text went to stderr, not away
    if name != 'bench':  # bench's numbers are timings
        assert main([*argv, '--json', 'res/out.json']) == 0
        file_run = capsys.readouterr()
        assert (tmp_path / 'res' / 'out.json').read_text() == captured.out
        assert not (tmp_path / '-').exists()
        if name != 'eval occupancy':  # the one (with bench) that says no 'wrote'
            assert 'wrote res/out.json\n' in file_run.out
        assert file_run.out.replace('wrote res/out.json\n', '') in captured.err  # the same text, on stderr
