"""KittiReader and the KITTI label text I/O, on the real frames in ../shared/data/kitti."""

from __future__ import annotations

import builtins
import io
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from omnifuse.datasets import (
    KittiReader,
    kitti_to_object_labels,
    object_labels_to_kitti,
    read_object_labels,
    write_object_labels,
)
from omnifuse.datasets.kitti import read_ultrasonic_file
from omnifuse.errors import FormatError
from omnifuse.structures import Boxes3D, Calibration, CameraModel, KittiLabels, ObjectLabels
from omnifuse.structures.kitti_labels import format_kitti_label, parse_kitti_label
from tests.kitti_text import raw_calib

FRAMES = ('000000', '000002')


def _raw_label_lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize('frame', FRAMES)
def test_reader_reads_points_image_calib_and_every_label_field(kitti_root: Path, frame: str) -> None:
    reader = KittiReader(kitti_root)
    assert reader.frame_ids == FRAMES
    f = reader.read(frame)
    train = kitti_root / 'training'
    raw = np.fromfile(train / 'velodyne' / f'{frame}.bin', dtype=np.float32).reshape(-1, 4)
    assert f.points.dtype == np.float32 and f.points.shape == raw.shape
    np.testing.assert_array_equal(f.points, raw)
    bgr = cv2.imread(str(train / 'image_2' / f'{frame}.png'))
    img = f.images['image_2']
    assert img.dtype == np.uint8 and img.shape == bgr.shape
    np.testing.assert_array_equal(img, bgr[:, :, ::-1])  # RGB in memory
    cam = f.calib.cameras['image_2']
    assert (cam.width, cam.height) == (bgr.shape[1], bgr.shape[0])

    lines = _raw_label_lines(train / 'label_2' / f'{frame}.txt')
    labels = f.labels
    assert labels.names == [parts[0] for parts in lines]
    for i, parts in enumerate(lines):
        v = [float(x) for x in parts[1:]]
        assert labels.truncated[i] == v[0]
        assert labels.occluded[i] == int(v[1])
        assert labels.alpha[i] == v[2]
        np.testing.assert_array_equal(labels.bbox_2d[i], v[3:7])
        h, w, length = v[7:10]
        np.testing.assert_allclose(labels.boxes.data[i, 3:6], [length, w, h])
    assert labels.scores is None


@pytest.mark.parametrize('frame', FRAMES)
def test_label_boxes_match_an_independent_computation(kitti_root: Path, frame: str) -> None:
    """Centres, yaws and points-in-box counts computed here from the raw label fields and calib matrices.

    The LiDAR-frame box (DESIGN.md: centre = inv(R0·Tr)·(x, y - h/2, z), yaw = -ry - pi/2, z up) is
    rebuilt by hand and the points are moved into its local frame. The same count taken in the
    rectified camera frame (the box upright along camera -y) differs by a few boundary points only,
    because LiDAR z and camera -y are tilted by about half a degree.
    """
    from omnifuse.structures.geometry import points_in_boxes

    train = kitti_root / 'training'
    c = raw_calib(train / 'calib' / f'{frame}.txt')
    R0 = c['R0_rect'].reshape(3, 3)
    Tr = c['Tr_velo_to_cam'].reshape(3, 4)
    f = KittiReader(kitti_root).read(frame)
    xyz = f.points[:, :3].astype(np.float64)
    rect = (R0 @ (Tr[:, :3] @ xyz.T + Tr[:, 3:4])).T  # (N, 3) rectified camera frame
    for i, parts in enumerate(_raw_label_lines(train / 'label_2' / f'{frame}.txt')):
        v = [float(x) for x in parts[1:]]
        h, w, length = v[7:10]
        loc = np.array(v[10:13])
        ry = v[13]
        # geometric centre, taken back to the LiDAR frame by solving the two affine maps
        centre_rect = loc - np.array([0.0, h / 2, 0.0])
        centre = np.linalg.solve(Tr[:, :3], np.linalg.solve(R0, centre_rect) - Tr[:, 3])
        yaw = -ry - np.pi / 2
        np.testing.assert_allclose(f.labels.boxes.data[i, :3], centre, atol=1e-9)
        assert np.isclose(np.cos(f.labels.boxes.data[i, 6]), np.cos(yaw))
        assert np.isclose(np.sin(f.labels.boxes.data[i, 6]), np.sin(yaw))
        # LiDAR frame: heading (cos yaw, sin yaw) is local x, z is up
        d = xyz - centre
        along = d[:, 0] * np.cos(yaw) + d[:, 1] * np.sin(yaw)
        across = -d[:, 0] * np.sin(yaw) + d[:, 1] * np.cos(yaw)
        inside = (np.abs(along) <= length / 2) & (np.abs(across) <= w / 2) & (np.abs(d[:, 2]) <= h / 2)
        count = points_in_boxes(f.points, f.labels.boxes.data[i:i + 1])[:, 0].sum()
        assert count == inside.sum() > 0
        # rectified camera frame: rotate by -ry about camera y around the bottom centre
        dc = rect - loc
        lx = np.cos(ry) * dc[:, 0] - np.sin(ry) * dc[:, 2]
        lz = np.sin(ry) * dc[:, 0] + np.cos(ry) * dc[:, 2]
        in_cam = (np.abs(lx) <= length / 2) & (np.abs(lz) <= w / 2) & (dc[:, 1] <= 0) & (dc[:, 1] >= -h)
        assert abs(int(in_cam.sum()) - int(count)) <= 0.01 * count + 2


def test_pedestrian_count_matches_mmdet3d_num_lidar_pts(kitti_root: Path) -> None:
    """mmdet3d's info for frame 000000 records 377 LiDAR points in the pedestrian."""
    from omnifuse.datasets import load_info_file
    from omnifuse.structures.geometry import points_in_boxes

    info = load_info_file(kitti_root / 'mmdet3d_infos' / 'kitti_infos_train.pkl').data_list[0]
    f = KittiReader(kitti_root).read('000000')
    assert points_in_boxes(f.points, f.labels.boxes.data).sum() == info['instances'][0]['num_lidar_pts']


def test_root_may_be_the_split_folder_and_image_sets_select_frames(kitti_root: Path) -> None:
    assert KittiReader(kitti_root / 'training').frame_ids == FRAMES
    val = KittiReader(kitti_root, image_set='val')
    expected = [x for x in (kitti_root / 'ImageSets' / 'val.txt').read_text().split()]
    assert list(val.frame_ids) == expected and len(val) == 3769
    assert '000002' in val and '000000' not in val
    assert val.read('000002').labels.names == ['Misc', 'Car']
    with pytest.raises(FormatError, match=r'velodyne/000001\.bin'):
        val.read('000001')  # listed, but the sample does not hold it
    train = KittiReader(kitti_root / 'training', image_set='train')
    assert len(train) == 3712 and train.frame_ids[0] == '000000'
    with pytest.raises(FileNotFoundError):
        KittiReader(kitti_root, image_set='nope')


def test_listing_7481_frames_reads_no_frame_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    velodyne = tmp_path / 'training' / 'velodyne'
    velodyne.mkdir(parents=True)
    for i in range(7481):
        (velodyne / f'{i:06d}.bin').touch()
    calls = {'stat': 0, 'open': 0, 'fromfile': 0}
    real_stat, real_open, real_io_open, real_fromfile = os.stat, builtins.open, io.open, np.fromfile

    def counting(name, fn):  # noqa: ANN001, ANN202
        def wrapper(*a, **k):  # noqa: ANN002, ANN003, ANN202
            calls[name] += 1
            return fn(*a, **k)
        return wrapper

    monkeypatch.setattr(os, 'stat', counting('stat', real_stat))
    monkeypatch.setattr(builtins, 'open', counting('open', real_open))
    monkeypatch.setattr(io, 'open', counting('open', real_io_open))
    monkeypatch.setattr(np, 'fromfile', counting('fromfile', real_fromfile))
    reader = KittiReader(tmp_path)
    assert len(reader) == 7481
    assert reader.frame_ids[0] == '000000' and reader.frame_ids[-1] == '007480'
    assert calls['open'] == 0 and calls['fromfile'] == 0
    assert calls['stat'] < 10  # a few is_dir checks of the layout, none per frame
    monkeypatch.undo()
    with pytest.raises(FormatError, match=r'calib/000007\.txt'):
        reader.read('000007')


def _write_frame(root: Path, frame: str, calib: Calibration, points: np.ndarray) -> None:
    for sub in ('velodyne', 'calib'):
        (root / 'training' / sub).mkdir(parents=True, exist_ok=True)
    points.astype(np.float32).tofile(root / 'training' / 'velodyne' / f'{frame}.bin')
    (root / 'training' / 'calib' / f'{frame}.txt').write_text(calib.to_kitti_text())


def _sim_calib() -> Calibration:
    P = np.array([[500.0, 0, 320, 0], [0, 500, 240, 0], [0, 0, 1, 0]])
    T = np.array([[0.0, -1, 0, 0], [0, 0, -1, 0.1], [1, 0, 0, -0.2]])
    calib = Calibration(cameras={'image_2': CameraModel(P, T, 640, 480)},
                        thermal={'thermal': CameraModel(P, T)})
    return Calibration.from_kitti_text(calib.to_kitti_text())


def test_thermal_and_ultrasonic_streams_of_the_simulator_layout(tmp_path: Path) -> None:
    calib = _sim_calib()
    rng = np.random.default_rng(0)
    _write_frame(tmp_path, '000003', calib, rng.normal(size=(50, 4)))
    (tmp_path / 'training' / 'thermal').mkdir()
    thermal = rng.integers(0, 65535, size=(48, 64), dtype=np.uint16)
    assert cv2.imwrite(str(tmp_path / 'training' / 'thermal' / '000003.png'), thermal)
    (tmp_path / 'training' / 'ultrasonic').mkdir()
    (tmp_path / 'training' / 'ultrasonic' / '000003.txt').write_text('front_left 1.25\nfront_right nan\n')
    (tmp_path / 'training' / 'meta').mkdir()
    (tmp_path / 'training' / 'meta' / '000003.json').write_text(
        '{"stamp_ns": 1700000000100000000, "stamps_ns": {"lidar": 1700000000100000000, '
        '"image_2": 1700000000090000000}, "condition": "night"}')
    f = KittiReader(tmp_path).read('000003')
    assert f.stamp_ns == 1700000000100000000 and f.stamps_ns['image_2'] == 1700000000090000000
    assert f.meta['condition'] == 'night'
    assert f.thermal['thermal'].dtype == np.uint16
    np.testing.assert_array_equal(f.thermal['thermal'], thermal)
    assert f.calib.thermal['thermal'].width == 64 and f.calib.thermal['thermal'].height == 48
    assert f.ultrasonic['front_left'] == 1.25 and np.isnan(f.ultrasonic['front_right'])
    assert f.labels is None and f.images == {}  # no label_2/ or image_2/ folder: streams absent
    assert f.points.shape == (50, 4)


def test_missing_stream_file_and_bad_files_raise_format_errors(tmp_path: Path) -> None:
    calib = _sim_calib()
    _write_frame(tmp_path, '000001', calib, np.zeros((3, 4)))
    (tmp_path / 'training' / 'image_2').mkdir()
    with pytest.raises(FormatError, match=r'image_2/000001\.png'):
        KittiReader(tmp_path).read('000001')
    (tmp_path / 'training' / 'image_2').rmdir()
    (tmp_path / 'training' / 'velodyne' / '000001.bin').write_bytes(b'\0' * 20)
    with pytest.raises(FormatError, match=r'20 bytes is not a multiple of 16'):
        KittiReader(tmp_path).read('000001')
    bad = tmp_path / 'us.txt'
    bad.write_text('a 1.0\nb one\n')
    with pytest.raises(FormatError, match=r'us\.txt:2'):
        read_ultrasonic_file(bad)
    with pytest.raises(FormatError, match='not a KITTI object layout'):
        KittiReader(tmp_path / 'training' / 'calib')


def test_malformed_label_line_names_file_line_and_field(tmp_path: Path) -> None:
    calib = _sim_calib()
    path = tmp_path / '000000.txt'
    path.write_text('Car 0.00 0 -1.5 1 2 3 4 1.5 1.6 3.9 1 1.7 6 1.2\nCar 0.00 0 -1.5 1 2 3 4 1.5 1.6\n')
    with pytest.raises(FormatError, match=r'000000\.txt:2: expected 15 columns .*got 10'):
        read_object_labels(path, calib)
    path.write_text('Car 0.00 0 -1.5 1 2 3 4 1.5 1.6 3.9 1 1.7 six 1.2\n')
    with pytest.raises(FormatError,
                       match=r"000000\.txt:1: field \"z\" \(column 14\) must be a number, got 'six'"):
        read_object_labels(path, calib)
    path.write_text('Car 0.00 1.5 -1.5 1 2 3 4 1.5 1.6 3.9 1 1.7 6 1.2\n')
    with pytest.raises(FormatError, match=r'000000\.txt:1: field "occluded"'):
        read_object_labels(path, calib)


def test_label_file_mixing_15_and_16_columns_is_refused_as_object_labels(tmp_path: Path) -> None:
    calib = _sim_calib()
    path = tmp_path / '000007.txt'
    path.write_text('Car 0 0 -1.5 1 2 3 4 1.5 1.6 3.9 1 1.7 6 1.2 0.9\n'
                    'Car 0 0 -1.5 1 2 3 4 1.5 1.6 3.9 1 1.7 9 1.2\n')
    with pytest.raises(FormatError, match=r'000007\.txt: some lines have a 16th score column and others'):
        read_object_labels(path, calib)
    path.write_text('Car 0 0 -1.5 1 2 3 4 1.5 1.6 3.9 1 1.7 6 1.2 0.9\n'
                    'Car 0 0 -1.5 1 2 3 4 1.5 1.6 3.9 1 1.7 9 1.2 0.25\n')
    np.testing.assert_array_equal(read_object_labels(path, calib).scores, [0.9, 0.25])
    path.write_text('')
    empty = read_object_labels(path, calib)
    assert len(empty) == 0 and empty.scores is None and empty.boxes.data.shape == (0, 7)


def test_label_text_round_trips_with_dontcare_and_scores(kitti_root: Path) -> None:
    calib = Calibration.from_kitti_file(kitti_root / 'training' / 'calib' / '000002.txt')
    text = (kitti_root / 'training' / 'label_2' / '000002.txt').read_text()
    text += 'DontCare -1 -1 -10 503.89 169.71 590.61 190.13 -1 -1 -1 -1000 -1000 -1000 -10\n'
    parsed = parse_kitti_label(text)
    labels = kitti_to_object_labels(parsed, calib)
    assert labels.names == ['Misc', 'Car', 'DontCare'] and labels.scores is None
    assert len(labels.without_dontcare()) == 2
    kitti = object_labels_to_kitti(labels, calib)
    out = format_kitti_label(kitti, decimals=2)
    assert out.splitlines()[2] == ('DontCare -1.00 -1 -10.00 503.89 169.71 590.61 190.13 '
                                   '-1.00 -1.00 -1.00 -1000.00 -1000.00 -1000.00 -10.00')
    again = parse_kitti_label(out)
    assert again.name.tolist() == parsed.name.tolist()
    np.testing.assert_array_equal(again.occluded, parsed.occluded)
    assert np.isnan(again.score).all()
    for key in ('truncated', 'alpha', 'bbox', 'dimensions', 'location', 'rotation_y'):
        np.testing.assert_allclose(getattr(again, key), getattr(parsed, key), atol=0.0051, err_msg=key)
    scored = ObjectLabels(labels.boxes, labels.names, labels.truncated, labels.occluded, labels.alpha,
                          labels.bbox_2d, scores=np.array([0.9, 0.5, 0.1]))
    written = format_kitti_label(object_labels_to_kitti(scored, calib), decimals=6)
    assert all(len(line.split()) == 16 for line in written.splitlines())
    back = kitti_to_object_labels(parse_kitti_label(written), calib)
    np.testing.assert_array_equal(back.scores, [0.9, 0.5, 0.1])
    np.testing.assert_allclose(back.boxes.data[:2], labels.boxes.data[:2], atol=2e-6)


def test_written_label_file_has_two_decimals_like_kitti_and_refuses_unwritable_fields(tmp_path: Path) -> None:
    calib = _sim_calib()
    boxes = Boxes3D(np.array([[10.0, 2.0, -0.5, 4.0, 1.8, 1.5, 0.3], [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0]]))
    labels = ObjectLabels(boxes, ['Car', 'DontCare'], np.array([0.3, 0.0]), np.array([1, 0]),
                          np.array([0.1, -10.0]), np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]))
    path = tmp_path / '000005.txt'
    write_object_labels(path, labels, calib)
    lines = [line.split() for line in path.read_text().splitlines()]
    assert [len(parts) for parts in lines] == [15, 15]
    assert lines[0][:4] == ['Car', '0.30', '1', '0.10'] and lines[1][0] == 'DontCare'
    floats = [tok for parts in lines for tok in parts[1:2] + parts[3:]]  # every column but type, occluded
    assert len(floats) == 26 and all(len(tok.split('.')[1]) == 2 for tok in floats)
    assert lines[1][8:] == ['-1.00', '-1.00', '-1.00', '-1000.00', '-1000.00', '-1000.00', '-10.00']
    camera = boxes.to_kitti_camera(calib.T_rect_lidar)[0]
    np.testing.assert_allclose([float(t) for t in lines[0][8:]], camera, atol=0.005)
    bad_alpha = ObjectLabels(boxes, ['Car', 'DontCare'], labels.truncated, labels.occluded,
                             np.array([np.nan, 0.0]), labels.bbox_2d)
    with pytest.raises(FormatError, match=r'000005\.txt: .*object 0 \(Car\): field "alpha" is nan'):
        write_object_labels(path, bad_alpha, calib)
    bad_score = ObjectLabels(boxes, ['Car', 'DontCare'], labels.truncated, labels.occluded, labels.alpha,
                             labels.bbox_2d, scores=np.array([0.5, np.inf]))
    with pytest.raises(FormatError, match=r'object 1 \(DontCare\): field "score" is inf'):
        write_object_labels(path, bad_score, calib)
    two_words = ObjectLabels(boxes, ['Car', 'Police car'], labels.truncated, labels.occluded, labels.alpha,
                             labels.bbox_2d)
    with pytest.raises(FormatError, match=r"object 1: class name 'Police car' must be one word"):
        write_object_labels(path, two_words, calib)
    assert isinstance(object_labels_to_kitti(ObjectLabels.empty(), calib), KittiLabels)
    assert format_kitti_label(object_labels_to_kitti(ObjectLabels.empty(), calib)) == ''


def test_write_kitti_label_file_reads_back_through_the_reader(tmp_path: Path) -> None:
    calib = _sim_calib()
    boxes = Boxes3D(np.array([[10.0, 2.0, -0.5, 4.0, 1.8, 1.5, 0.3], [6.0, -3.0, -0.8, 0.6, 0.6, 1.7, -2.0]]))
    labels = ObjectLabels(boxes, ['Car', 'Pedestrian'], np.array([0.0, 0.1]), np.array([0, 2]),
                          np.array([0.1, -1.2]), np.array([[1, 2, 3, 4], [5, 6, 7, 8]]))
    _write_frame(tmp_path, '000004', calib, np.zeros((1, 4)))
    (tmp_path / 'training' / 'label_2').mkdir()
    write_object_labels(tmp_path / 'training' / 'label_2' / '000004.txt', labels, calib, decimals=6)
    got = KittiReader(tmp_path).read('000004').labels
    assert got.names == ['Car', 'Pedestrian']
    np.testing.assert_allclose(got.boxes.data, boxes.data, atol=2e-6)
    np.testing.assert_array_equal(got.occluded, [0, 2])
