"""The tracking report: 3D MOT and HOTA joined per class, the notes, the JSON form and the folder reader."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from omnifuse.errors import FormatError
from omnifuse.evaluation.tracking_hota import evaluate_hota
from omnifuse.evaluation.tracking_mot import evaluate_mot
from omnifuse.evaluation.tracking_report import (
    TrackingReport,
    evaluate_tracking,
    evaluate_tracking_folders,
    read_tracking_folders,
)
from omnifuse.structures.kitti_tracking import parse_kitti_tracking

GT = ('0 1 Car 0 0 0 100 100 200 200 1.5 1.6 4.0 0.0 1.5 20 0\n'
      '1 1 Car 0 0 0 100 100 200 200 1.5 1.6 4.0 0.0 1.5 20 0\n'
      '1 2 Pedestrian 0 0 0 300 100 330 190 1.7 0.6 0.8 3.0 1.6 15 0\n')
PRED = ('0 5 Car 0 0 0 100 100 200 200 1.5 1.6 4.0 0.4 1.5 20 0 0.8\n'
        '1 5 Car 0 0 0 100 100 200 200 1.5 1.6 4.0 0.4 1.5 20 0 0.8\n')
LATE = '3 5 Car 0 0 0 100 100 200 200 1.5 1.6 4.0 0.4 1.5 20 0 0.8\n'


def _rows(gt: str = GT, pred: str = PRED) -> tuple[dict, dict]:
    return {'0003': parse_kitti_tracking(gt)}, {'0003': parse_kitti_tracking(pred)}


def test_each_class_joins_its_mot_and_hota_scores_in_percent():
    gt, pred = _rows()
    report = evaluate_tracking(gt, pred, classes=['pedestrian', 'car', 'cyclist'], seqs=['0003'], min_overlap=0.5)
    assert list(report.scores) == ['pedestrian', 'car', 'cyclist']  # the order asked for
    mot = evaluate_mot(gt, pred, cls='car', min_overlap=0.5, seqs=['0003'])
    hota = evaluate_hota(gt, pred, cls='car', seqs=['0003'])
    car = report.scores['car']
    assert car['sAMOTA'] == 100 * mot.sAMOTA and car['MOTP'] == 100 * mot.MOTP
    assert (car['IDS'], car['FRAG'], car['FP'], car['FN']) == (mot.IDS, mot.FRAG, mot.FP, mot.FN)
    assert isinstance(car['FN'], int)
    assert car['HOTA'] == 100 * hota.HOTA and car['LocA'] == 100 * hota.LocA
    assert 'HOTA' not in report.scores['cyclist']  # HOTA is scored for car and pedestrian only


def test_notes_name_late_rows_classes_without_ground_truth_and_without_predictions():
    gt, pred = _rows(pred=PRED + LATE)
    report = evaluate_tracking(gt, pred, classes=['car', 'cyclist'], seqs=['0003'])
    assert report.notes == [
        'sequence 0003: 1 result row(s) after the last ground-truth frame 1 are scored against no ground truth.',
        'cyclist: no ground truth that is not ignored; MOTA is -inf as in AB3DMOT (null in JSON).',
        'cyclist: no prediction (AB3DMOT\'s evaluate.py skips such a class; its numbers here are 0).']
    assert report.scores['cyclist']['MOTA'] == -math.inf


def test_json_doc_writes_non_finite_values_as_null_and_keeps_counts():
    report = TrackingReport({'car': {'MOTA': -math.inf, 'MOTP': 50.0, 'FN': 3}}, [])
    assert report.json_doc() == {'car': {'MOTA': None, 'MOTP': 50.0, 'FN': 3}}


def _folders(root: Path, pred: str = PRED) -> tuple[Path, Path]:
    gt_dir, pred_dir = root / 'label_02', root / 'data'
    gt_dir.mkdir()
    pred_dir.mkdir()
    (gt_dir / '0003.txt').write_text(GT)
    (pred_dir / '0003.txt').write_text(pred)
    return gt_dir, pred_dir


def test_folders_are_read_per_sequence_and_scored_as_the_rows(tmp_path):
    gt_dir, pred_dir = _folders(tmp_path)
    gt, pred = read_tracking_folders(gt_dir, pred_dir, ['0003'])
    assert list(gt) == list(pred) == ['0003'] and len(gt['0003']) == 3 and len(pred['0003']) == 2
    from_files = evaluate_tracking_folders(gt_dir, pred_dir, classes=['car'], seqs=['0003'])
    assert from_files == evaluate_tracking(*_rows(), classes=['car'], seqs=['0003'])


def test_folders_with_a_missing_file_or_refused_results_say_which(tmp_path):
    gt_dir, pred_dir = _folders(tmp_path, PRED + '1 5 Car 0 0 0 10 10 20 20 1 1 1 0 1 5 0 0.3\n')
    (gt_dir / '0004.txt').write_text('')
    with pytest.raises(FileNotFoundError, match='result file of sequence 0004 is missing'):
        read_tracking_folders(gt_dir, pred_dir, ['0003', '0004'])
    (pred_dir / '0005.txt').write_text('')
    with pytest.raises(FileNotFoundError, match='ground truth of sequence 0005 is missing'):
        read_tracking_folders(gt_dir, pred_dir, ['0005'])
    with pytest.raises(FormatError, match=f'^{pred_dir}: .*track id 5 occurs more than once in frame 1'):
        evaluate_tracking_folders(gt_dir, pred_dir, classes=['car'], seqs=['0003'])
