"""`omnifuse track` end to end on a real KITTI tracking sequence (PointRCNN detections): result files that
read back, both input layouts, ego motion from oxts or pose files, one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omnifuse.cli import main
from omnifuse.structures.boxes3d import Boxes3D, lidar_to_kitti_camera
from omnifuse.structures.calibration import Calibration
from omnifuse.structures.ego_poses import format_pose_file
from omnifuse.structures.kitti_labels import KittiLabels, write_kitti_label
from omnifuse.structures.kitti_tracking import (
    KittiTrackRows,
    format_ab3dmot_detections,
    read_ab3dmot_detections,
    read_kitti_tracking,
)
from tests.ego_inputs import format_oxts, oxts_from_imu_poses, planar

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


def _ego_scene(calib: Calibration) -> tuple[np.ndarray, np.ndarray, KittiTrackRows, np.ndarray]:
    """A vehicle at 15 m/s that stops dead at frame 6, passing a parked car detected in every frame but 8.

    Returns (world_T_imu (10, 4, 4), world_T_lidar (10, 4, 4), the detection rows, the car's LiDAR box per frame).
    """
    T_lidar_imu = np.vstack([calib.kitti['Tr_imu_to_velo'], [0, 0, 0, 1]])
    world_T_imu = np.array([planar(1.5 * min(k, 6), 0.0, 0.0) for k in range(10)])
    world_T_lidar = world_T_imu @ np.linalg.inv(T_lidar_imu)
    car_world = Boxes3D(np.array([[25.0, 4.0, -0.9, 3.9, 1.6, 1.5, 0.2]]), 'lidar').transformed(world_T_lidar[0],
                                                                                                'world')
    truth = np.concatenate([car_world.transformed(np.linalg.inv(T), 'lidar').data for T in world_T_lidar])
    frames = [k for k in range(10) if k != 8]
    cam = lidar_to_kitti_camera(truth[frames], calib.T_rect_lidar)
    n = len(frames)
    labels = KittiLabels(np.full(n, 'Car'), np.zeros(n), np.zeros(n, np.int64), np.zeros(n),
                         np.tile([500.0, 150.0, 600.0, 200.0], (n, 1)), cam[:, 0:3], cam[:, 3:6], cam[:, 6],
                         np.full(n, 8.0))
    return world_T_imu, world_T_lidar, KittiTrackRows(np.array(frames), np.full(n, -1), labels), truth


def test_track_uses_ego_motion_from_oxts_or_pose_files(tracking_data: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    calib_dir = tracking_data / 'training' / 'calib'
    calib = Calibration.from_kitti_file(calib_dir / '0001.txt')
    world_T_imu, world_T_lidar, rows, truth = _ego_scene(calib)
    for sub, text in (('dets', format_ab3dmot_detections(rows, decimals=6)),
                      ('oxts', format_oxts(oxts_from_imu_poses(world_T_imu))),
                      ('poses', format_pose_file(world_T_lidar))):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / '0001.txt').write_text(text)
    base = ['track', '--dets', str(tmp_path / 'dets'), '--calib', str(calib_dir)]
    out = {}
    for ego in ('none', 'oxts', 'poses'):
        extra = [] if ego == 'none' else [f'--{ego}', str(tmp_path / ego)]
        assert main(base + extra + ['--out', str(tmp_path / f'out_{ego}')]) == 0
        out[ego] = read_kitti_tracking(tmp_path / f'out_{ego}' / '0001.txt', require_score=True)
    truth_cam = lidar_to_kitti_camera(truth, calib.T_rect_lidar)
    for ego, res in out.items():  # one track, coasting at frame 8
        assert len(np.unique(res.track_id)) == 1 and sorted(res.frame) == list(range(10)), ego
    # frame 8 is the coasting row: the filter's prediction. With the ego motion the parked car stands still in
    # the world and the prediction is where the car is; without it the car seemed to move at 15 m/s until the
    # vehicle stopped, and the prediction overshoots.
    miss = {ego: float(np.linalg.norm(res.labels.location[res.frame == 8][0] - truth_cam[8, 3:6]))
            for ego, res in out.items()}
    assert miss['oxts'] < 0.02 and miss['poses'] < 0.02, miss
    assert miss['none'] > 0.2, miss
    # errors: a missing --calib, a short pose file, a calib file without Tr_imu_to_velo
    capsys.readouterr()
    assert main(['track', '--dets', str(tmp_path / 'dets'), '--poses', str(tmp_path / 'poses'),
                 '--out', str(tmp_path / 'o')]) == 2
    assert '--poses needs --calib' in capsys.readouterr().err
    (tmp_path / 'short').mkdir()
    (tmp_path / 'short' / '0001.txt').write_text(format_pose_file(world_T_lidar[:7]))
    assert main(base + ['--poses', str(tmp_path / 'short'), '--out', str(tmp_path / 'o')]) == 2
    assert '0001.txt: 7 poses, but sequence 0001 has detections up to frame 9 (10 frames)' in capsys.readouterr().err
    (tmp_path / 'calib_no_imu').mkdir()
    (tmp_path / 'calib_no_imu' / '0001.txt').write_text(''.join(
        line + '\n' for line in (calib_dir / '0001.txt').read_text().splitlines() if not line.startswith('Tr_imu')))
    assert main(['track', '--dets', str(tmp_path / 'dets'), '--calib', str(tmp_path / 'calib_no_imu'), '--oxts',
                 str(tmp_path / 'oxts'), '--out', str(tmp_path / 'o')]) == 2
    assert 'no Tr_imu_to_velo' in capsys.readouterr().err
