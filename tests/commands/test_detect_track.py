"""`omnifuse detect --track`: the tracker over simulated sequences, KITTI tracking results per sequence, track
pictures; and `SequenceTracker` (sequences, stamps, ego poses) on hand-made frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omnifuse.apis.tracking import SequenceTracker, frame_place
from omnifuse.cli import main
from omnifuse.structures import Boxes3D, ObjectLabels, SensorFrame
from omnifuse.structures.kitti_tracking import read_kitti_tracking


def _dets(x: float) -> ObjectLabels:
    return ObjectLabels(Boxes3D(np.array([[x, 2.0, -0.9, 4.0, 1.8, 1.5, 0.0]])), ['Car'], np.zeros(1),
                        np.zeros(1, int), np.zeros(1), np.full((1, 4), np.nan), np.array([0.9]))


def test_frame_place_from_meta_or_position() -> None:
    plain = SensorFrame(frame_id='000007')
    assert frame_place(plain, 3) == frame_place(plain, 3)
    p = frame_place(plain, 3)
    assert (p.sequence, p.index, p.stamp_ns, p.pose) == (0, 3, 300_000_000, None)
    sim = SensorFrame(frame_id='000012', stamp_ns=5_000, meta={'sequence': 2, 'frame_in_sequence': 4,
                                                                'world_T_lidar': np.eye(4).tolist()})
    p = frame_place(sim, 0)
    assert (p.sequence, p.index, p.stamp_ns) == (2, 4, 5_000) and np.array_equal(p.pose, np.eye(4))


def test_sequence_tracker_resets_per_sequence_and_keeps_ids_within_one() -> None:
    seq = SequenceTracker()
    ids = []
    for k in range(8):
        frame = SensorFrame(frame_id=f'{k:06d}', meta={'sequence': k // 4, 'frame_in_sequence': k % 4})
        place, tracks = seq(frame, _dets(10.0 + 0.5 * (k % 4)))
        assert place.index == k % 4
        ids.append(tracks.ids.tolist())
    assert seq.resets == 2  # the first frame and the new sequence
    assert ids[2] == ids[3] != [] and ids[6] == ids[7] != [] and ids[7] != ids[3]
    # no calibration: nothing to write rows with, but every sequence gets its (empty) file
    assert set(seq.sequences) == {0, 1}


@pytest.fixture(scope='module')
def tracked(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp('detect_track')
    sim = root / 'sim'
    assert main(['sim', '--out', str(sim), '--frames', '4', '--sequence-length', '3', '--seed', '3',
                 '--azimuth-step', '0.36']) == 0
    assert main(['detect', '--kitti-root', str(sim), '--track', '--out', str(root / 'pred'),
                 '--png-dir', str(root / 'png')]) == 0
    return root


def test_detect_track_writes_kitti_tracking_results_per_sequence(tracked: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    results = sorted(p.name for p in (tracked / 'pred' / 'tracking').iterdir())
    assert results == ['0000.txt', '0001.txt']
    rows = read_kitti_tracking(tracked / 'pred' / 'tracking' / '0000.txt', require_score=True)
    gt = read_kitti_tracking(tracked / 'sim' / 'training' / 'label_02' / '0000.txt')
    assert set(rows.frame.tolist()) == {0, 1, 2}
    # objects tracked in the second frame keep their ids into the third
    assert len(set(rows.at_frame(1).track_id.tolist()) & set(rows.at_frame(2).track_id.tolist())) >= 3
    # tracks sit where the simulator put objects (rectified camera frame, bottom centre): the frames agree
    last, true = rows.at_frame(2), gt.select(gt.track_id >= 0).at_frame(2)
    d = np.linalg.norm(last.labels.location[:, None] - true.labels.location[None], axis=2)
    assert (d.min(1) < 1.0).sum() >= 3
    # the second sequence starts afresh at frame 0 (its tracker was reset)
    second = read_kitti_tracking(tracked / 'pred' / 'tracking' / '0001.txt', require_score=True)
    assert set(second.frame.tolist()) <= {0}
    # the per-frame detections are still written beside them
    assert len(list((tracked / 'pred').glob('*.txt'))) == 4


def test_detect_track_pictures_show_ids_and_a_strip_per_sequence(tracked: Path) -> None:
    import cv2

    pngs = sorted(p.name for p in (tracked / 'png').iterdir())
    assert pngs == [f'{i:06d}.png' for i in range(4)] + ['tracks_0000.png', 'tracks_0001.png']
    strip = cv2.imread(str(tracked / 'png' / 'tracks_0000.png'))
    assert strip is not None and strip.shape[1] > 3 * strip.shape[0] * 0.9  # three panels side by side


def test_detect_track_is_refused_on_waymo(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(['detect', '--waymo-root', str(tmp_path), '--track', '--checkpoint', 'none'])
    assert code != 0


def test_detect_track_takes_the_ego_motion_from_a_pose_file(tracked: Path, tmp_path: Path,
                                                            capsys) -> None:  # type: ignore[no-untyped-def]
    from omnifuse.datasets.kitti import read_frame_meta
    from omnifuse.structures.ego_poses import format_pose_file

    sim = tracked / 'sim'
    meta = [np.array(read_frame_meta(sim / 'training' / 'meta' / f'{k:06d}.json')['world_T_lidar']) for k in range(4)]
    right, wrong = tmp_path / 'right.txt', tmp_path / 'wrong.txt'
    right.write_text(format_pose_file(np.array(meta)))
    jumps = np.array(meta)
    jumps[:, 0, 3] += 30.0 * np.arange(4)   # a vehicle that jumps 30 m a frame: nothing can match
    wrong.write_text(format_pose_file(jumps))
    out = {}
    for name, path in (('right', right), ('wrong', wrong)):
        assert main(['detect', '--kitti-root', str(sim), '--track', '--poses', str(path),
                     '--out', str(tmp_path / name)]) == 0
        out[name] = read_kitti_tracking(tmp_path / name / 'tracking' / '0000.txt', require_score=True)
    # the file's poses are the simulator's own: the same tracks as with the poses of its meta files
    assert (tracked / 'pred' / 'tracking' / '0000.txt').read_text() == \
        (tmp_path / 'right' / 'tracking' / '0000.txt').read_text()
    # poses that contradict the scans break the tracks (new ids in every frame; what is left of the old ones
    # coasts): the file's poses reach the tracker
    kept = {n: len(set(r.at_frame(1).track_id.tolist()) & set(r.at_frame(2).track_id.tolist()))
            for n, r in out.items()}
    assert kept['right'] >= 10 and 3 * kept['wrong'] <= kept['right'], kept
    capsys.readouterr()
    (tmp_path / 'short.txt').write_text(format_pose_file(np.array(meta[:2])))
    assert main(['detect', '--kitti-root', str(sim), '--track', '--poses', str(tmp_path / 'short.txt'),
                 '--out', str(tmp_path / 'o')]) != 0
    assert 'short.txt: 2 poses (frames 0-1), but frame 000002 is to be tracked' in capsys.readouterr().err
    assert main(['detect', '--kitti-root', str(sim), '--poses', str(right), '--out', str(tmp_path / 'o')]) != 0
    assert '--poses gives the ego motion to the tracker: use it with --track' in capsys.readouterr().err
    (tmp_path / 'oxts.txt').write_text('0 ' * 30 + '\n')   # the simulator's calib has no IMU
    assert main(['detect', '--kitti-root', str(sim), '--track', '--oxts', str(tmp_path / 'oxts.txt'),
                 '--out', str(tmp_path / 'o')]) != 0
    assert 'the calibration of frame 000000 has no Tr_imu_to_velo' in capsys.readouterr().err
