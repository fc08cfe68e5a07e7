"""`omnifuse eval kitti` end to end: label folders in, table and JSON out, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from omnifuse.cli import main
from omnifuse.evaluation.kitti import evaluate_kitti
from omnifuse.structures.kitti_labels import KittiLabels, read_kitti_label, write_kitti_label


def _objects(n_car: int, n_ped: int, seed: int) -> KittiLabels:
    """Easy cars and pedestrians spread over the image and the ground, plus a DontCare region."""
    rng = np.random.default_rng(seed)
    n = n_car + n_ped
    names = ['Car'] * n_car + ['Pedestrian'] * n_ped + ['DontCare']
    i = np.arange(n)
    dims = np.array([[1.5, 1.6, 3.9]] * n_car + [[1.75, 0.6, 0.8]] * n_ped + [[-1, -1, -1]])
    ground = np.stack([(i % 6) * 6.0 - 15, np.full(n, 1.7), 8.0 + (i // 6) * 8.0], 1)
    loc = np.concatenate([ground, [[-1000] * 3]])
    x1 = np.append(i * 30.0, 1150.0)
    bbox = np.stack([x1, np.full(n + 1, 120.0), x1 + 25, 120.0 + np.append(60.0 + i % 5, 30.0)], 1)
    return KittiLabels(name=names, truncated=np.zeros(n + 1), occluded=np.zeros(n + 1, np.int64),
                       alpha=np.append(rng.uniform(-3, 3, n), -10), bbox=bbox, dimensions=dims, location=loc,
                       rotation_y=np.append(rng.uniform(-3, 3, n), -10), score=np.full(n + 1, np.nan))


def _write_dataset(root: Path, frames: int) -> tuple[Path, Path, list[KittiLabels], list[KittiLabels]]:
    gt_dir, pred_dir = root / 'gt', root / 'pred'
    gt_dir.mkdir()
    pred_dir.mkdir()
    gts, preds = [], []
    for f in range(frames):
        gt = _objects(20, 15, seed=f)  # >= 41 objects per class: all 41 recall points reachable
        keep = gt.name != 'DontCare'
        pred = gt.select(keep)
        pred = KittiLabels(**dict(pred.as_dict(), score=np.linspace(0.99, 0.3, len(pred))))
        write_kitti_label(gt_dir / f'{f:06d}.txt', gt, decimals=2)
        write_kitti_label(pred_dir / f'{f:06d}.txt', pred, decimals=2)
        gts.append(read_kitti_label(gt_dir / f'{f:06d}.txt'))
        preds.append(read_kitti_label(pred_dir / f'{f:06d}.txt', require_score=True))
    return gt_dir, pred_dir, gts, preds


def test_perfect_predictions_give_100_and_the_exact_json_shape(tmp_path, capsys):
    gt_dir, pred_dir, _, _ = _write_dataset(tmp_path, frames=3)
    out = tmp_path / 'res' / 'ap.json'
    code = main(['eval', 'kitti', '--gt', str(gt_dir), '--pred', str(pred_dir), '--json', str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    data = json.loads(out.read_text())
    assert list(data) == ['Car', 'Pedestrian', 'Cyclist', 'ignored']
    assert data.pop('ignored') == {'frames_without_prediction': 0, 'prediction_files_without_ground_truth': [],
                                   'prediction_classes_not_scored': {}, 'classes_without_ground_truth': ['Cyclist']}
    for cls, sets in data.items():
        assert list(sets) == ['strict', 'loose']
        for metrics in sets.values():
            assert list(metrics) == ['bbox', 'bev', '3d', 'aos']
            for values in metrics.values():
                assert list(values) == ['AP11', 'AP40'] and all(len(v) == 3 for v in values.values())
                expected = 0.0 if cls == 'Cyclist' else 100.0  # no cyclist anywhere
                np.testing.assert_allclose(values['AP11'] + values['AP40'], expected, atol=1e-6)
    assert 'Car -- strict overlaps (bbox 0.70, bev 0.70, 3d 0.70)' in printed
    assert 'AP|R40' in printed and 'moderate' in printed and 'easy / moderate / hard' in printed


def test_missing_prediction_file_means_no_detections_and_split_selects_frames(tmp_path, capsys):
    gt_dir, pred_dir, gts, preds = _write_dataset(tmp_path, frames=3)
    (pred_dir / '000001.txt').unlink()
    split = tmp_path / 'val.txt'
    split.write_text('000000\n000001\n\n')
    out = tmp_path / 'ap.json'
    code = main(['eval', 'kitti', '--gt', str(gt_dir), '--pred', str(pred_dir), '--split', str(split),
                 '--classes', 'Car', '--json', str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and '1 of 2 frames have no prediction file' in printed
    data = json.loads(out.read_text())
    assert list(data) == ['Car', 'ignored'] and data.pop('ignored')['frames_without_prediction'] == 1
    expected = evaluate_kitti(gts[:2], [preds[0], KittiLabels.empty()], classes=('Car',)).to_dict()
    assert data == json.loads(json.dumps(expected))
    recall_capped = data['Car']['strict']['3d']['AP40'][1]
    assert 45 < recall_capped < 55  # half the cars are found, with precision 1


def test_real_kitti_labels_as_ground_truth(kitti_root, tmp_path, capsys):
    gt_dir = kitti_root / 'training' / 'label_2'
    pred_dir = tmp_path / 'pred'
    pred_dir.mkdir()
    for path in sorted(gt_dir.glob('*.txt')):
        labels = read_kitti_label(path)
        scored = KittiLabels(**dict(labels.as_dict(), score=np.full(len(labels), 0.8)))
        write_kitti_label(pred_dir / path.name, scored)
    out = tmp_path / 'ap.json'
    assert main(['eval', 'kitti', '--gt', str(gt_dir), '--pred', str(pred_dir), '--json', str(out)]) == 0
    data = json.loads(out.read_text())
    # One pedestrian (frame 000000, 165 px tall, easy) and one car (000002, 33 px: moderate and hard).
    # With a single object the official 41-point curve holds one point: AP|R11 = 100/11, AP|R40 = 0.
    np.testing.assert_allclose(data['Pedestrian']['strict']['3d']['AP11'], [100 / 11] * 3, atol=1e-6)
    np.testing.assert_allclose(data['Car']['strict']['3d']['AP11'], [0, 100 / 11, 100 / 11], atol=1e-6)
    np.testing.assert_allclose(data['Car']['strict']['3d']['AP40'], [0, 0, 0], atol=1e-6)


def test_bad_inputs_give_one_line_errors(tmp_path, capsys):
    gt_dir, pred_dir, _, _ = _write_dataset(tmp_path, frames=1)
    split = tmp_path / 'split.txt'
    split.write_text('000000\n000007\n')
    assert main(['eval', 'kitti', '--gt', str(gt_dir), '--pred', str(pred_dir), '--split', str(split)]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.replace('\r', '\n').splitlines() if 'error' in line]
    assert len(errors) == 1 and 'Traceback' not in err
    assert errors[0].startswith('omnifuse: error: ') and '000007.txt' in errors[0] and 'missing' in errors[0]

    bad = pred_dir / '000000.txt'
    lines = bad.read_text().splitlines()
    lines[2] = lines[2].rsplit(' ', 1)[0]  # drop the score of the third detection
    bad.write_text('\n'.join(lines) + '\n')
    assert main(['eval', 'kitti', '--gt', str(gt_dir), '--pred', str(pred_dir)]) == 2
    err = capsys.readouterr().err
    assert f'{bad}:3: expected 16 columns' in err

    lines[2] = lines[2] + ' high'
    bad.write_text('\n'.join(lines) + '\n')
    assert main(['eval', 'kitti', '--gt', str(gt_dir), '--pred', str(pred_dir)]) == 2
    assert f'{bad}:3: field "score" (column 16)' in capsys.readouterr().err

    assert main(['eval', 'kitti', '--gt', str(gt_dir), '--pred', str(pred_dir), '--classes', 'Car,Bus']) == 2
    assert "'Bus'" in capsys.readouterr().err
    assert main(['eval', 'kitti', '--gt', str(tmp_path / 'nope'), '--pred', str(pred_dir)]) == 2
    assert 'nope' in capsys.readouterr().err


def test_range_option_scores_only_that_distance(tmp_path, capsys):
    gt_dir, pred_dir, gts, preds = _write_dataset(tmp_path, 2)
    out = tmp_path / 'near.json'
    assert main(['eval', 'kitti', '--gt', str(gt_dir), '--pred', str(pred_dir), '--range', '0', '20',
                 '--no-height-limit', '--json', str(out)]) == 0
    near = json.loads(out.read_text())
    expected = evaluate_kitti(gts, preds, distance_range=(0, 20), height_limit=False)
    assert near['Car']['strict']['3d']['AP40'] == pytest.approx(list(expected.ap['Car']['strict']['3d']['AP40']))
    whole = evaluate_kitti(gts, preds)
    # fewer cars in range than 41 -> the official curve caps AP|R40 below the whole set's 100
    assert near['Car']['strict']['3d']['AP40'][1] < whole.ap['Car']['strict']['3d']['AP40'][1]
    assert main(['eval', 'kitti', '--gt', str(gt_dir), '--pred', str(pred_dir), '--range', '20', '20']) == 2
    assert 'empty' in capsys.readouterr().err


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exc:
        main(['eval', 'kitti', '--help'])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for option in ('--gt', '--pred', '--split', '--classes', '--range', '--no-height-limit', '--json'):
        assert option in text
    assert 'AP|R40' in text and 'DontCare' in text


def test_command_line_process_reports_errors_without_traceback(tmp_path, repo_root):
    gt_dir = tmp_path / 'gt'
    gt_dir.mkdir()
    (gt_dir / '000000.txt').write_text('Car 0 0 0 1 2 3\n')
    (tmp_path / 'pred').mkdir()
    proc = subprocess.run([sys.executable, '-m', 'omnifuse', 'eval', 'kitti', '--gt', str(gt_dir), '--pred',
                           str(tmp_path / 'pred')], capture_output=True, text=True, cwd=repo_root,
                          timeout=120)
    assert proc.returncode == 2
    assert 'Traceback' not in proc.stderr
    assert '000000.txt:1: expected 15 columns' in proc.stderr


def test_what_cannot_be_scored_is_said_not_dropped(tmp_path, capsys):
    gt_dir, pred_dir, _, _ = _write_dataset(tmp_path, frames=2)
    (pred_dir / '999999.txt').write_text((pred_dir / '000000.txt').read_text())  # no ground truth for it
    lines = (pred_dir / '000000.txt').read_text().splitlines()
    (pred_dir / '000000.txt').write_text('\n'.join(lines + ['Tram' + lines[0][lines[0].index(' '):]]) + '\n')
    out = tmp_path / 'ap.json'
    assert main(['eval', 'kitti', '--gt', str(gt_dir), '--pred', str(pred_dir), '--json', str(out)]) == 0
    printed = capsys.readouterr().out
    assert '1 prediction file(s) for frames without ground truth ignored (999999)' in printed
    assert 'predictions of classes not scored ignored: Tram 1' in printed
    ignored = json.loads(out.read_text())['ignored']
    assert ignored['prediction_files_without_ground_truth'] == ['999999']
    assert ignored['prediction_classes_not_scored'] == {'Tram': 1}
    for f in gt_dir.glob('*.txt'):  # only DontCare left: nothing to score
        f.write_text('DontCare -1 -1 -10 1 2 3 4 -1 -1 -1 -1000 -1000 -1000 -10\n')
    assert main(['eval', 'kitti', '--gt', str(gt_dir), '--pred', str(pred_dir)]) == 2
    assert 'nothing to score' in capsys.readouterr().err
