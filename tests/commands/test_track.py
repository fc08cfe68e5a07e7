"""`omnifuse track` end to end on a real KITTI tracking sequence (PointRCNN detections): result files that
read back, both input layouts, one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omnifuse.cli import main
from omnifuse.structures.kitti_labels import write_kitti_label
from omnifuse.structures.kitti_tracking import read_ab3dmot_detections, read_kitti_tracking

SEQ = 3  # a short training sequence (144 frames, cars only)


@pytest.fixture(scope='module')
def tracking_data(shared_data: Path) -> Path:
    """KITTI tracking labels and PointRCNN detections (part of the shared data, see its MANIFEST.md)."""
    return shared_data / 'kitti_tracking'


def test_track_writes_readable_kitti_tracking_results(tracking_data: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    dets = tracking_data / 'detections_pointrcnn' / 'pointrcnn_Car_val'
    out = tmp_path / 'out'
    code = main(['track', '--dets', str(dets), '--seqs', str(SEQ), '--calib', str(tracking_data / 'training' / 'calib'),
                 '--out', str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert 'frames/s' in printed and '1 sequence(s)' in printed
    rows = read_kitti_tracking(out / f'{SEQ:04d}.txt', require_score=True)
    det_rows = read_ab3dmot_detections(dets / f'{SEQ:04d}.txt')
    assert len(rows) > 0.5 * len(det_rows)
    assert set(rows.labels.name) == {'Car'}
    assert rows.frame.min() >= 0 and rows.frame.max() <= det_rows.frame.max() + 1
    for f in np.unique(rows.frame):  # ids are unique within a frame
        ids = rows.track_id[rows.frame == f]
        assert len(ids) == len(set(ids.tolist()))
    assert (rows.track_id >= 1).all() and np.isfinite(rows.labels.score).all()
    assert (rows.labels.bbox[:, 2] >= rows.labels.bbox[:, 0]).all()
    # the tracks follow the detections: every confident detection of frame 20 has a track within 1 m
    sel = (det_rows.frame == 20) & (det_rows.labels.score > 5)
    d20 = det_rows.labels.location[sel]
    r20 = rows.labels.location[rows.frame == 20]
    assert len(d20) and (np.linalg.norm(d20[:, None] - r20[None], axis=-1).min(1) < 1.0).all()


def test_track_scores_give_every_track_a_mean_that_the_protocol_does_not_drift(tracking_data: Path,
                                                                              tmp_path: Path) -> None:
    from omnifuse.evaluation.tracking_mot import _drifting_means

    dets = tracking_data / 'detections_pointrcnn' / 'pointrcnn_Car_val'
    calib = str(tracking_data / 'training' / 'calib')
    for column in ('exact_mean', 'confidence'):
        assert main(['track', '--dets', str(dets), '--seqs', str(SEQ), '--calib', calib, '--score-column', column,
                     '--out', str(tmp_path / column)]) == 0
    exact = read_kitti_tracking(tmp_path / 'exact_mean' / f'{SEQ:04d}.txt', require_score=True)
    conf = read_kitti_tracking(tmp_path / 'confidence' / f'{SEQ:04d}.txt', require_score=True)
    assert (exact.track_id == conf.track_id).all() and (exact.frame == conf.frame).all()  # the same rows
    tracks = [exact.labels.score[exact.track_id == t] for t in np.unique(exact.track_id)]
    means = _drifting_means(tracks, 44)
    assert (means == means[:1]).all()  # no pass sees another mean
    for t, scores in zip(np.unique(exact.track_id), tracks, strict=True):  # the mean is the last confidence
        last = conf.labels.score[conf.track_id == t][-1]
        assert abs(scores.mean() - last) <= 2.0 ** -9


def test_track_reads_per_frame_kitti_object_files_like_ab3dmot_files(tracking_data: Path, tmp_path: Path) -> None:
    src = tracking_data / 'detections_pointrcnn' / 'pointrcnn_Car_val' / f'{SEQ:04d}.txt'
    rows = read_ab3dmot_detections(src)
    short = rows.select(rows.frame < 30)
    ab_dir, kitti_dir = tmp_path / 'ab', tmp_path / 'kitti' / f'{SEQ:04d}'
    ab_dir.mkdir()
    kitti_dir.mkdir(parents=True)
    (ab_dir / f'{SEQ:04d}.txt').write_text(''.join(line + '\n' for line in src.read_text().splitlines()
                                                   if int(line.split(',')[0]) < 30))
    for f in range(30):
        write_kitti_label(kitti_dir / f'{f:06d}.txt', short.at_frame(f).labels, with_score=True)
    assert main(['track', '--dets', str(ab_dir), '--out', str(tmp_path / 'a')]) == 0
    assert main(['track', '--dets', str(tmp_path / 'kitti'), '--out', str(tmp_path / 'b')]) == 0
    a = read_kitti_tracking(tmp_path / 'a' / f'{SEQ:04d}.txt', require_score=True)
    b = read_kitti_tracking(tmp_path / 'b' / f'{SEQ:04d}.txt', require_score=True)
    assert len(a) == len(b) > 0
    np.testing.assert_array_equal(a.track_id, b.track_id)
    np.testing.assert_allclose(a.labels.location, b.labels.location, atol=2e-3)  # file decimals


def test_track_errors_are_one_line(tracking_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dets = str(tracking_data / 'detections_pointrcnn' / 'pointrcnn_Car_val')
    assert main(['track', '--dets', dets, '--seqs', '99', '--out', str(tmp_path)]) == 2
    assert 'no detections for sequence(s) 0099' in capsys.readouterr().err
    assert main(['track', '--dets', dets, '--seqs', str(SEQ), '--calib', str(tmp_path), '--out', str(tmp_path)]) == 2
    assert f'{SEQ:04d}.txt' in capsys.readouterr().err
    assert main(['track', '--dets', dets, '--seqs', str(SEQ), '--set', 'Car.max_ages=3', '--out', str(tmp_path)]) == 2
    assert "unknown parameter 'max_ages'" in capsys.readouterr().err
    bad = tmp_path / 'bad'
    bad.mkdir()
    (bad / '0001.txt').write_text('0,2,1,2,3,4,0.5,1.5,1.6,3.9,1,1.7,10\n')
    assert main(['track', '--dets', str(bad), '--out', str(tmp_path / 'o')]) == 2
    assert '0001.txt:1: expected 15 comma-separated columns' in capsys.readouterr().err
