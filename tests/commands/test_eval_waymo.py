"""`omnifuse eval waymo`: JSON shape, table, errors (exit 2, one line), help, the official .bin input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from omnifuse.cli import main

TYPES = ('VEHICLE', 'PEDESTRIAN', 'CYCLIST', 'SIGN')
RANGES = ('[0, 30)', '[30, 50)', '[50, +inf)')


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    return path


def _scene(tmp_path: Path) -> tuple[Path, Path]:
    """Two frames: vehicles near and far (one missed, one false positive), a pedestrian, no cyclist / sign."""
    rng = np.random.default_rng(0)
    gt, pred = [], []
    for frame in ('seq_a_100', 'seq_a_200'):
        for i, (x, y) in enumerate([(10.0, 2.0), (35.0, -4.0), (60.0, 8.0)]):
            box = [x, y, 0.5, 4.5, 2.0, 1.6, float(rng.uniform(-3, 3))]
            gt.append({'frame': frame, 'type': 'VEHICLE', 'box': box,
                       'num_lidar_points_in_box': [200, 40, 4][i]})
            if i < 2 or frame == 'seq_a_100':
                pred.append({'frame': frame, 'type': 'VEHICLE', 'score': 0.9 - 0.2 * i,
                             'box': [x + 0.1, y - 0.05, 0.5, 4.4, 2.0, 1.6, box[6] + 0.1]})
        gt.append({'frame': frame, 'type': 'PEDESTRIAN', 'box': [8.0, -3.0, 0.9, 0.8, 0.8, 1.8, 0.0],
                   'difficulty': 1})
        pred.append({'frame': frame, 'type': 'PEDESTRIAN', 'score': 0.7,
                     'box': [8.05, -3.0, 0.9, 0.8, 0.8, 1.8, 0.3]})
        pred.append({'frame': frame, 'type': 'VEHICLE', 'score': 0.95,
                     'box': [-20.0, 5.0, 0.5, 4.5, 2.0, 1.6, 0.0]})  # false positive
    return _write(tmp_path / 'gt.jsonl', gt), _write(tmp_path / 'pred.jsonl', pred)


def test_cli_writes_json_with_the_documented_shape(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    gt, pred = _scene(tmp_path)
    out = tmp_path / 'out' / 'waymo.json'
    assert main(['eval', 'waymo', '--gt', str(gt), '--pred', str(pred), '--json', str(out)]) == 0
    result = json.loads(out.read_text())
    for name in TYPES:
        assert set(result[name]) == {'LEVEL_1', 'LEVEL_2'}
        for level in ('LEVEL_1', 'LEVEL_2'):
            assert set(result[name][level]) == {'AP', 'APH'}
        assert set(result['ranges'][name]) == set(RANGES)
        for rng in RANGES:
            assert set(result['ranges'][name][rng]) == {'LEVEL_1', 'LEVEL_2'}
    values = [v for name in TYPES for lvl in result[name].values() for v in lvl.values()]
    values += [v for name in TYPES for r in result['ranges'][name].values()
               for lvl in r.values() for v in lvl.values()]
    assert all(v is None or 0.0 <= v <= 1.0 for v in values)
    assert result['CYCLIST']['LEVEL_2'] == {'AP': None, 'APH': None}
    assert result['SIGN']['LEVEL_1'] == {'AP': None, 'APH': None}
    assert result['PEDESTRIAN']['LEVEL_2']['AP'] == pytest.approx(1.0, abs=1e-6)
    assert result['PEDESTRIAN']['LEVEL_2']['APH'] == pytest.approx(1 - 0.3 / np.pi, abs=1e-5)
    vehicle = result['VEHICLE']
    assert 0.0 < vehicle['LEVEL_2']['AP'] < 1.0  # one far vehicle missed, one false positive
    assert vehicle['LEVEL_1']['AP'] > vehicle['LEVEL_2']['AP']  # the missed one is LEVEL_2 (4 points)
    # [0, 30): both near vehicles found at 0.9, but the top-scored false positive (20.6 m) comes first:
    # P/R is (0.5, 1) at every cut-off <= 0.9 and recall 0 above -> AP 0.5.
    assert result['ranges']['VEHICLE']['[0, 30)']['LEVEL_2']['AP'] == pytest.approx(0.5, abs=1e-6)
    assert result['ranges']['VEHICLE']['[30, 50)']['LEVEL_2']['AP'] == pytest.approx(1.0, abs=1e-6)
    assert result['ranges']['VEHICLE']['[50, +inf)']['LEVEL_1'] == {'AP': None, 'APH': None}
    assert result['mAPH_L2'] == pytest.approx(
        np.mean([vehicle['LEVEL_2']['APH'], result['PEDESTRIAN']['LEVEL_2']['APH']]))
    assert result['counts']['frames'] == 2 and result['counts']['predictions'] == 9
    printed = capsys.readouterr().out
    assert 'VEHICLE' in printed and 'LEVEL_2' in printed and '[50, +inf)' in printed and 'mAPH' in printed


def test_cli_rejects_a_malformed_line_with_exit_2_and_one_line(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    gt, _ = _scene(tmp_path)
    bad = tmp_path / 'bad.jsonl'
    bad.write_text('{"frame": "a", "type": "VEHICLE", "box": [0, 0, 0, 4, 2, 1.5, 0], "score": 0.5}\n'
                   '{"frame": "a", "type": "VEHICLE", "box": [0, 0, 0, 4, 2, 1.5], "score": 0.5}\n')
    assert main(['eval', 'waymo', '--gt', str(gt), '--pred', str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert '\n' not in err and 'Traceback' not in err
    assert f'{bad}:2' in err and '"box"' in err


def test_cli_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt, _ = _scene(tmp_path)
    assert main(['eval', 'waymo', '--gt', str(gt), '--pred', str(tmp_path / 'none.jsonl')]) == 2
    assert 'none.jsonl' in capsys.readouterr().err


def test_cli_reads_the_official_bin_file(shared_data: Path, tmp_path: Path) -> None:
    gt_bin = shared_data / 'waymo' / 'waymo_format' / 'gt.bin'
    out = tmp_path / 'bin.json'
    assert main(['eval', 'waymo', '--gt', str(gt_bin), '--pred', str(gt_bin), '--json', str(out)]) == 0
    result = json.loads(out.read_text())
    assert result['VEHICLE']['LEVEL_2'] == pytest.approx({'AP': 1.0, 'APH': 1.0}, abs=1e-6)
    assert result['counts']['ground_truth']['VEHICLE']['LEVEL_2'] == 1


def test_cli_help_explains_options_and_null_policy() -> None:
    proc = subprocess.run([sys.executable, '-m', 'omnifuse', 'eval', 'waymo', '--help'],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0
    for text in ('--gt', '--pred', '--json', 'null', 'mAPH_L2', 'num_lidar_points_in_box', '.bin'):
        assert text in proc.stdout
