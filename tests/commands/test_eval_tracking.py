"""`omnifuse eval tracking` end to end on tiny hand-written files: table, JSON, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omnifuse.cli import main

GT = ('0 1 Car 0 0 0 100 100 200 200 1.5 1.6 4.0 0.0 1.5 20 0\n'
      '0 -1 DontCare -1 -1 -10 500 100 600 200 -1 -1 -1 -1000 -1000 -1000 -10\n'
      '1 1 Car 0 0 0 100 100 200 200 1.5 1.6 4.0 0.0 1.5 20 0\n'
      '1 2 Pedestrian 0 0 0 300 100 330 190 1.7 0.6 0.8 3.0 1.6 15 0\n')
PRED = ('0 5 Car 0 0 0 100 100 200 200 1.5 1.6 4.0 0.4 1.5 20 0 0.8\n'
        '1 5 Car 0 0 0 100 100 200 200 1.5 1.6 4.0 0.4 1.5 20 0 0.8\n')


def _folders(root: Path, pred: str = PRED) -> tuple[Path, Path]:
    gt_dir, pred_dir = root / 'label_02', root / 'data'
    gt_dir.mkdir()
    pred_dir.mkdir()
    (gt_dir / '0003.txt').write_text(GT)
    (gt_dir / '0004.txt').write_text('')  # a sequence without objects
    (pred_dir / '0003.txt').write_text(pred)
    return gt_dir, pred_dir


def test_eval_tracking_prints_the_table_and_writes_the_json(tmp_path, capsys):
    gt_dir, pred_dir = _folders(tmp_path)
    out = tmp_path / 'res' / 'out.json'
    assert main(['eval', 'tracking', '--gt', str(gt_dir), '--pred', str(pred_dir), '--json', str(out)]) == 0
    text = capsys.readouterr().out
    assert 'sequences: 0003' in text and 'sAMOTA' in text and 'HOTA' in text
    doc = json.loads(out.read_text())
    assert sorted(doc) == ['car', 'cyclist', 'pedestrian']
    assert sorted(doc['cyclist']) == sorted(['sAMOTA', 'AMOTA', 'AMOTP', 'MOTA', 'MOTP', 'IDS', 'FRAG', 'FP', 'FN'])
    assert (doc['car']['MOTA'], doc['car']['FP'], doc['car']['FN']) == (100.0, 0, 0)
    assert doc['car']['MOTP'] == pytest.approx(100 * 3.6 / 4.4)
    assert (doc['pedestrian']['FN'], doc['pedestrian']['MOTA']) == (1, 0.0)
    assert doc['cyclist']['MOTA'] is None  # no cyclist ground truth: AB3DMOT's -inf


def test_eval_tracking_scores_only_the_listed_classes_and_sequences(tmp_path):
    gt_dir, pred_dir = _folders(tmp_path)
    out = tmp_path / 'out.json'
    assert main(['eval', 'tracking', '--gt', str(gt_dir), '--pred', str(pred_dir), '--seqs', '3',
                 '--classes', 'Car', '--iou', '0.9', '--json', str(out)]) == 0
    doc = json.loads(out.read_text())
    assert list(doc) == ['car'] and doc['car']['FN'] == 2  # IoU 0.82 < 0.9


@pytest.mark.parametrize('args, pred, message', [
    (['--seqs', '3,4'], PRED, '0004.txt: result file of sequence 0004 is missing'),
    (['--seqs', '3,5'], PRED, '0005.txt: ground truth of sequence 0005 is missing'),
    (['--classes', 'truck'], PRED, "--classes: unknown class 'truck'"),
    (['--seqs', 'x1'], PRED, "--seqs: 'x1' is not a sequence number"),
    (['--iou', '0'], PRED, '--iou: a 3D IoU threshold in (0, 1] is needed'),
    ([], PRED + '1 5 Car 0 0 0 10 10 20 20 1 1 1 0 1 5 0 0.3\n', 'track id 5 occurs more than once in frame 1'),
    ([], PRED + '1 -1 DontCare -1 -1 -10 1 1 5 5 -1 -1 -1 -1000 -1000 -1000 -10 1\n', 'is a DontCare region'),
    ([], '0 5 Car 0 0 0 100 100 200 oops 1.5 1.6 4.0 0.4 1.5 20 0 0.8\n', '0003.txt:1: field "bbox y2"'),
])
def test_eval_tracking_refuses_bad_input_in_one_line(tmp_path, capsys, args, pred, message):
    gt_dir, pred_dir = _folders(tmp_path, pred)
    assert main(['eval', 'tracking', '--gt', str(gt_dir), '--pred', str(pred_dir), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
