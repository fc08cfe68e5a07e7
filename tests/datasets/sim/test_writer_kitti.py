"""Simulated frames written in the KITTI layout read back identically through KittiReader."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from omnifuse.datasets.kitti import KittiReader
from omnifuse.datasets.sim.generate import generate_frame, generate_sequence
from omnifuse.datasets.sim.writer_kitti import split_ids, write_kitti


@pytest.fixture(scope='module')
def written(tmp_path_factory):
    frames = [generate_frame(31, condition='day'),
              generate_frame(32, condition='fog', faults={'calib_error': (1.0, 0.05)})]
    root = tmp_path_factory.mktemp('simkitti')
    ids = write_kitti(frames, root)
    return frames, root, ids


def test_kitti_round_trip_through_the_reader(written):
    frames, root, ids = written
    assert ids == ['000000', '000001']
    reader = KittiReader(root)
    assert set(reader.frame_ids) == set(ids)
    for frame, fid in zip(frames, ids, strict=True):
        back = reader.read(fid)
        assert np.array_equal(back.points, frame.points)
        assert np.array_equal(back.images['image_2'], frame.images['image_2'])
        assert np.array_equal(back.thermal['thermal'], frame.thermal['thermal'])
        assert back.ultrasonic.keys() == frame.ultrasonic.keys()
        for name, r in frame.ultrasonic.items():
            assert (math.isnan(r) and math.isnan(back.ultrasonic[name])) or abs(r - back.ultrasonic[name]) < 1e-4
        for name, cam in frame.calib.cameras.items():
            assert np.allclose(back.calib.cameras[name].P, cam.P)
            assert np.allclose(back.calib.cameras[name].T_cam_lidar, cam.T_cam_lidar, atol=1e-9)
        assert np.allclose(back.calib.thermal['thermal'].T_cam_lidar, frame.calib.thermal['thermal'].T_cam_lidar)
        assert back.calib.thermal['thermal'].width == 640
        assert back.calib.ultrasonic == frame.calib.ultrasonic or all(
            np.allclose(tuple(vars(back.calib.ultrasonic[n]).values()), tuple(vars(u).values()))
            for n, u in frame.calib.ultrasonic.items())
        # Labels within KITTI's text precision (2 decimals).
        labels, got = frame.labels, back.labels
        assert got.names == labels.names
        real = np.array([n != 'DontCare' for n in labels.names])
        assert np.abs(got.boxes.data[real, :6] - labels.boxes.data[real, :6]).max() < 0.03
        dyaw = np.remainder(got.boxes.data[real, 6] - labels.boxes.data[real, 6] + np.pi, 2 * np.pi) - np.pi
        assert np.abs(dyaw).max() < 0.01
        assert np.abs(got.bbox_2d - labels.bbox_2d).max() < 0.006
        assert np.array_equal(got.occluded, labels.occluded)
        assert np.abs(got.truncated - labels.truncated).max() < 0.006


def test_dense_labels_and_meta_are_written(written):
    frames, root, ids = written
    split = root / 'training'
    for frame, fid in zip(frames, ids, strict=True):
        sem = cv2.imread(str(split / 'semantic_2' / f'{fid}.png'), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(sem, frame.semantic_2)
        semt = cv2.imread(str(split / 'semantic_thermal' / f'{fid}.png'), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(semt, frame.semantic_thermal)
        occ = cv2.imread(str(split / 'occupancy' / f'{fid}.png'), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(occ, frame.occupancy)
        pl = np.fromfile(split / 'velodyne_labels' / f'{fid}.bin', dtype=np.uint8)
        assert np.array_equal(pl, frame.point_labels)
        meta = json.loads((split / 'meta' / f'{fid}.json').read_text())
        assert meta['condition'] == frame.meta['condition'] and meta['seed'] == frame.meta['seed']
        assert meta['stamp_ns'] == frame.stamp_ns
    meta1 = json.loads((split / 'meta' / '000001.json').read_text())
    assert meta1['faults'] == {'calib_error': [1.0, 0.05]}
    assert (root / 'ImageSets' / 'train.txt').read_text().split() + \
        (root / 'ImageSets' / 'val.txt').read_text().split() == ids


def test_split_keeps_sequences_together():
    ids = [f'{i:06d}' for i in range(12)]
    seqs = [i // 2 for i in range(12)]  # 6 sequences
    train, val = split_ids(ids, seqs)
    assert sorted(train + val) == ids and val == ['000008', '000009']
    train, val = split_ids(ids[:10], [0] * 10)
    assert val == ['000008', '000009']


def test_sequence_moves_consistently_at_10_hz():
    frames = generate_sequence(5, 3)
    stamps = [f.stamp_ns for f in frames]
    assert np.diff(stamps).tolist() == [100_000_000, 100_000_000]
    b0, b2 = frames[0].labels.boxes.data, frames[2].labels.boxes.data
    assert frames[0].labels.names == frames[2].labels.names
    ego_move = frames[2].meta['ego_xy'][0] - frames[0].meta['ego_xy'][0]
    # Every thing moved in a straight line at constant speed: its world displacement over 0.2 s is
    # under 15 m/s * 0.2 s and it kept its heading and size.
    world_dx = b2[:, 0] - b0[:, 0] + ego_move
    assert np.abs(world_dx).max() < 3.0 and np.abs(b2[:, 1] - b0[:, 1]).max() < 0.5
    assert np.allclose(b2[:, 3:], b0[:, 3:])
    # The same world as generate_frame at the same time.
    single = generate_frame(5, time_s=0.2)
    assert np.allclose(single.labels.boxes.data, b2)


def test_sequences_carry_track_ids_ego_pose_and_kitti_tracking_ground_truth(tmp_path):
    from omnifuse.datasets.sim.lidar import LidarModel
    from omnifuse.structures.kitti_tracking import read_kitti_tracking

    lidar = LidarModel(n_azimuth=1000)
    frames = [*generate_sequence(7, 3, lidar=lidar, sequence=0), *generate_sequence(8, 2, lidar=lidar, sequence=1)]
    write_kitti(frames, tmp_path, tracking=True)
    split = tmp_path / 'training'
    assert sorted(p.name for p in (split / 'label_02').iterdir()) == ['0000.txt', '0001.txt']
    rows = read_kitti_tracking(split / 'label_02' / '0000.txt')
    assert sorted(set(rows.frame.tolist())) == [0, 1, 2]
    for k, frame in enumerate(frames[:3]):
        at = rows.at_frame(k)
        ids = np.asarray(frame.meta['track_ids'])
        dontcare = np.array([n == 'DontCare' for n in frame.labels.names])
        assert at.track_id.tolist() == np.where(dontcare, -1, ids).tolist()
        assert list(at.labels.name) == frame.labels.names
        # The frame's label_2 file holds the same objects in the same order and place.
        label_2 = (split / 'label_2' / f'{k:06d}.txt').read_text().split('\n')
        assert [line.split()[0] for line in label_2 if line] == list(at.labels.name)
        meta = json.loads((split / 'meta' / f'{k:06d}.json').read_text())
        assert meta['track_ids'] == ids.tolist()
        pose = np.asarray(meta['world_T_lidar'])
        assert np.allclose(pose[:2, 3], frame.meta['ego_xy']) and np.allclose(pose[:3, :3], np.eye(3))
    # One id is one object: the same class and size in every frame, world position moving at constant velocity.
    for tid in set(rows.track_id.tolist()) - {-1}:
        one = rows.select(rows.track_id == tid)
        assert len(set(one.labels.name.tolist())) == 1
        assert np.allclose(one.labels.dimensions, one.labels.dimensions[0], atol=0.011)
    truncated = rows.labels.truncated
    assert set(truncated.tolist()) <= {0.0, 1.0, 2.0}
    assert np.all(truncated[rows.labels.occluded == 3] == 2)


def test_kitti_layout_without_tracking_has_no_label_02(written):
    _, root, _ = written
    assert not (root / 'training' / 'label_02').exists()
