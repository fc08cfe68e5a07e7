"""Hostile input on the ROS path, in KITTI calibrations and labels and in occupancy grids: a NaN or singular
camera matrix, a NaN on /tf_static, a PointCloud2 that lists a field twice, an input topic declared with another
type. Each is reported (ERROR in /diagnostics naming the topic, or exit 2 naming the file); the rest goes on."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from omnifuse.cli import main as cli_main
from omnifuse.errors import FormatError
from omnifuse.ros_nodes.bag_io import calibration_transforms
from omnifuse.ros_nodes.cluster import ClusterDetector
from omnifuse.ros_nodes.core import PerceptionCore
from omnifuse.ros_nodes.node import NodeLogic
from omnifuse.ros_nodes.params import load_params
from omnifuse.ros_nodes.synthetic import synthetic_frames
from omnifuse.structures import Calibration, CameraModel

MS = 1_000_000
LIDAR, CAM, INFO = '/sensors/lidar/points', '/sensors/camera/front/image_raw', '/sensors/camera/front/camera_info'


class _CameraDetector(ClusterDetector):
    """The geometric detector, declared as fusing camera 'front' (so the core checks that camera)."""

    camera = 'front'


def _logic() -> NodeLogic:
    params = load_params(overrides={'inputs': {'thermal': [''], 'ultrasonic': ['']}})
    return NodeLogic(params, core=PerceptionCore(detector=_CameraDetector()), distro='jazzy')


def _run(logic: NodeLogic, *, info=None, tf=None, cloud=None, lidar_type='sensor_msgs/msg/PointCloud2'):
    """Three frames: /tf_static, then per frame camera_info + image + LiDAR; returns the diagnostics."""
    codec = logic.codec
    frames = synthetic_frames(3, seed=2, n_points=1500, n_ultrasonic=0)
    f0 = frames[0]
    edges = tf(calibration_transforms(f0, f0.stamp_ns)) if tf else calibration_transforms(f0, f0.stamp_ns)
    out = logic.on_message('/tf_static', 'tf2_msgs/msg/TFMessage', codec.serialize(codec.tf_message(edges)),
                           f0.stamp_ns)
    for f in frames:
        t = f.stamp_ns
        cam_info = codec.camera_info(f.calib.cameras['front'], t, 'camera_front_optical')
        if info:
            info(cam_info)
        out += logic.on_message(INFO, 'sensor_msgs/msg/CameraInfo', codec.serialize(cam_info), t + 1 * MS)
        out += logic.on_message(CAM, 'sensor_msgs/msg/Image',
                                codec.serialize(codec.image(f.images['front'], t, 'camera_front_optical')), t + 2 * MS)
        msg = codec.pointcloud2(f.points, t, 'lidar')
        if cloud:
            cloud(msg)
        out += logic.on_message(LIDAR, lidar_type, codec.serialize(msg), t + 3 * MS)
    out += logic.on_timer(frames[-1].stamp_ns + 500 * MS)
    objects = [t for t, _ in out if t == '/perception/objects']
    diags = [codec.deserialize(raw, 'diagnostic_msgs/msg/DiagnosticArray') for t, raw in out if t == '/diagnostics']
    return objects, diags


def _errors(diags) -> list[str]:
    return [s.message for d in diags for s in d.status[1:] if s.level == 2]


def test_nan_in_camera_info_is_an_error_and_the_detector_says_it_ran_without_the_camera() -> None:
    def nan_p(msg):
        msg.p[0] = float('nan')
    objects, diags = _run(_logic(), info=nan_p)
    assert len(objects) == 3  # every LiDAR frame answered
    errors = _errors(diags)
    assert len(errors) == 3 and all(INFO in e and 'not finite' in e for e in errors)
    assert all("camera 'front' has no calibration yet" in d.status[0].message for d in diags)
    assert all(d.status[0].level == 1 for d in diags)  # WARN: not "ok"


def test_singular_camera_info_is_an_error() -> None:
    def zero_p(msg):
        msg.p[:] = 0.0
        msg.k[:] = 0.0
        msg.k[0] = 1.0  # k present but singular
    _, diags = _run(_logic(), info=zero_p)
    assert _errors(diags) and all('singular' in e for e in _errors(diags))


def test_nan_translation_on_tf_static_is_an_error() -> None:
    def nan_edge(edges):
        edges = copy.deepcopy(edges)
        edges[0].matrix[0, 3] = float('nan')
        return edges
    objects, diags = _run(_logic(), tf=nan_edge)
    assert len(objects) == 3
    assert any('/tf_static' in e and 'NaN' in e for e in _errors(diags))


def test_a_cloud_listing_x_twice_is_refused() -> None:
    def twice(msg):
        msg.fields[1].name = 'x'  # 'y' renamed: x now at two offsets
    objects, diags = _run(_logic(), cloud=twice)
    assert len(objects) == 3
    errors = _errors(diags)
    assert len(errors) == 3 and all("lists field 'x' twice" in e for e in errors)
    assert all(d.status[0].level == 2 for d in diags)  # the LiDAR message itself unusable


def test_a_lidar_topic_declared_with_another_type_is_reported_per_message() -> None:
    logic = _logic()
    codec = logic.codec
    frames = synthetic_frames(2, seed=2, n_points=500, n_ultrasonic=0)
    out = []
    for f in frames:  # a Range message on the LiDAR topic
        raw = codec.serialize(codec.range(1.0, f.stamp_ns, 'us', field_of_view=0.5, min_range=0.1, max_range=4.0))
        out += logic.on_message(LIDAR, 'sensor_msgs/msg/Range', raw, f.stamp_ns)
    out += logic.on_timer(frames[-1].stamp_ns + 500 * MS)
    assert [t for t, _ in out].count('/perception/objects') == 2
    diags = [codec.deserialize(raw, 'diagnostic_msgs/msg/DiagnosticArray') for t, raw in out if t == '/diagnostics']
    assert all('must carry sensor_msgs/msg/PointCloud2' in e for e in _errors(diags)) and len(_errors(diags)) == 2


@pytest.mark.parametrize('p2,word', [('nan', 'NaN or inf'), ('0', 'singular')])
def test_kitti_calib_with_a_nan_or_zero_p2_is_refused_naming_the_file(kitti_root: Path, tmp_path: Path, p2: str,
                                                                      word: str, capsys) -> None:
    calib = (kitti_root / 'training' / 'calib' / '000000.txt').read_text().splitlines()
    bad = [('P2: ' + ' '.join([p2] * 12)) if line.startswith('P2:') else line for line in calib]
    path = tmp_path / '000000.txt'
    path.write_text('\n'.join(bad) + '\n')
    with pytest.raises(FormatError, match=word) as err:
        Calibration.from_kitti_file(path)
    assert str(path) in str(err.value) and "'P2'" in str(err.value)
    root = tmp_path / 'kitti' / 'training'
    for folder in ('velodyne', 'image_2'):
        (root / folder).mkdir(parents=True)
        src = next((kitti_root / 'training' / folder).glob('000000.*'))
        (root / folder / src.name).symlink_to(src)
    (root / 'calib').mkdir()
    (root / 'calib' / '000000.txt').write_text(path.read_text())
    assert cli_main(['detect', '--kitti-root', str(tmp_path / 'kitti'), '--out', str(tmp_path / 'pred')]) == 2
    assert str(root / 'calib' / '000000.txt') in capsys.readouterr().err


def test_camera_model_refuses_nan_and_singular_matrices() -> None:
    P = np.array([[700.0, 0, 600, 0], [0, 700, 180, 0], [0, 0, 1, 0]])
    CameraModel(P, np.eye(4))
    with pytest.raises(FormatError, match='not finite'):
        CameraModel(np.where(P == 700.0, np.nan, P), np.eye(4))
    with pytest.raises(FormatError, match='singular'):
        CameraModel(np.zeros((3, 4)), np.eye(4))
    with pytest.raises(FormatError, match='T_cam_lidar: not finite'):
        CameraModel(P, np.full((4, 4), np.inf))


def test_negative_box_sizes_are_refused_but_dontcare_keeps_its_minus_one() -> None:
    from omnifuse.structures.kitti_labels import parse_kitti_label

    ok = parse_kitti_label('DontCare -1 -1 -10 1 2 3 4 -1 -1 -1 -1000 -1000 -1000 -10\n'
                           'Car 0 0 0 1 2 3 4 1.5 1.6 3.9 1 2 10 0\n', source='lab.txt')
    assert len(ok.name) == 2
    with pytest.raises(FormatError, match=r'lab.txt:1: Car has a negative size'):
        parse_kitti_label('Car 0 0 0 1 2 3 4 1.5 -1.6 3.9 1 2 10 0\n', source='lab.txt')


def test_eval_occupancy_refuses_16_bit_ids_and_a_bad_max_range(tmp_path: Path, capsys) -> None:
    import cv2

    for folder in ('gt', 'pred'):
        (tmp_path / folder).mkdir()
    grid = np.zeros((200, 200), np.uint16)
    grid[:10] = 257  # wraps to 1 in uint8
    cv2.imwrite(str(tmp_path / 'gt' / 'a.png'), grid)
    cv2.imwrite(str(tmp_path / 'pred' / 'a.png'), (grid % 256).astype(np.uint8))
    assert cli_main(['eval', 'occupancy', '--gt', str(tmp_path / 'gt'), '--pred', str(tmp_path / 'pred')]) == 2
    assert 'must be 8-bit' in capsys.readouterr().err
    for bad in ('-3', 'nan'):
        assert cli_main(['eval', 'occupancy', '--gt', str(tmp_path / 'gt'), '--pred', str(tmp_path / 'pred'),
                         '--max-range', bad]) == 2
        assert '--max-range must be a distance' in capsys.readouterr().err


def test_a_bad_lidar_message_keeps_the_frames_segmentation_and_occupancy() -> None:
    seg = np.ones((48, 64), np.uint8)
    grid = np.zeros((200, 200), np.uint8)

    def failing_occupancy(frame):
        raise RuntimeError('broken model')
    params = load_params(overrides={'inputs': {'thermal': [''], 'ultrasonic': ['']}})
    for occupancy in (lambda f: grid, failing_occupancy):
        core = PerceptionCore(detector=_CameraDetector(), segmenter=lambda f: seg, occupancy=occupancy)
        logic = NodeLogic(params, core=core, distro='jazzy')

        def garbage(msg):
            msg.point_step = 3  # smaller than its fields: the cloud is unusable
        objects, diags = _run(logic, cloud=garbage)
        assert len(objects) == 3 and logic.counts['processed'] == 3
        assert all(d.status[0].level == 2 and 'LiDAR message unusable' in d.status[0].message for d in diags)
    # every frame kept its segmentation although its LiDAR message was garbage; a failing model only costs its own
    logic = NodeLogic(params, core=PerceptionCore(detector=_CameraDetector(), segmenter=lambda f: seg,
                                                  occupancy=failing_occupancy), distro='jazzy')
    codec = logic.codec
    f = synthetic_frames(1, seed=2, n_points=500, n_ultrasonic=0)[0]
    msg = codec.pointcloud2(f.points, f.stamp_ns, 'lidar')
    msg.point_step = 3
    out = logic.on_message(CAM, 'sensor_msgs/msg/Image', codec.serialize(codec.image(f.images['front'], f.stamp_ns,
                                                                                        'camera_front_optical')),
                           f.stamp_ns)
    out += logic.on_message(LIDAR, 'sensor_msgs/msg/PointCloud2', codec.serialize(msg), f.stamp_ns + MS)
    out += logic.on_timer(f.stamp_ns + 500 * MS)
    topics = [t for t, _ in out]
    assert topics.count('/perception/objects') == 1 and topics.count('/perception/segmentation') == 1
    assert '/perception/occupancy' not in topics  # the failing model's output only
    diag = next(codec.deserialize(raw, 'diagnostic_msgs/msg/DiagnosticArray') for t, raw in out if t == '/diagnostics')
    assert 'occupancy: RuntimeError: broken model' in diag.status[0].message


def test_params_of_the_wrong_kind_are_refused_naming_file_and_parameter(tmp_path: Path) -> None:
    from omnifuse.ros_nodes.params import check_types

    bad = tmp_path / 'p.yaml'
    bad.write_text('/**:\n  ros__parameters:\n    sync:\n      max_buffer: abc\n')
    with pytest.raises(FormatError, match=r"p.yaml: parameter sync.max_buffer: expected a number, got 'abc'"):
        load_params(bad)
    with pytest.raises(FormatError, match='inputs.cameras: expected a list'):
        check_types({'inputs': {'cameras': 'front'}}, 'node parameters')
    check_types({'sync': {'camera': {'window_ms': 40}}, 'num_threads': 2}, 'ok')  # int for a float is fine
    with pytest.raises(FormatError, match='node parameters: parameter num_threads'):
        NodeLogic({'num_threads': 'two'}, core=PerceptionCore(), distro='jazzy')


@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
def test_a_bag_corrupted_mid_file_is_one_error_and_leaves_no_partial_output(storage: str, tmp_path: Path,
                                                                          capsys) -> None:
    # sqlite3: the database pages are damaged; MCAP: a chunk's records no longer match its CRC.
    from omnifuse.ros_nodes.bag_io import write_frames_to_bag

    bag = tmp_path / 'in'
    write_frames_to_bag(synthetic_frames(6, seed=1, n_points=3000, n_ultrasonic=0), bag, distro='jazzy',
                        storage=storage)
    data_file = next(p for p in bag.iterdir() if p.suffix in ('.db3', '.mcap'))
    raw = bytearray(data_file.read_bytes())
    middle = len(raw) // 2
    if storage == 'mcap':
        raw[middle] ^= 0x01  # one flipped bit inside a chunk (the middle of the file is point data)
    else:
        raw[middle:middle + 4096] = b'\xa5' * 4096  # a damaged stretch in the middle of the file
    data_file.write_bytes(bytes(raw))
    params = tmp_path / 'p.yaml'
    params.write_text('/**:\n  ros__parameters:\n    models:\n      detector: {kind: cluster}\n'
                      '      segmenter: {kind: none}\n      occupancy: {kind: none}\n')
    out = tmp_path / 'out'
    code = cli_main(['replay', str(bag), str(out), '--params', str(params), '--no-progress'])
    err = capsys.readouterr().err
    assert code == 2, err
    assert 'Traceback' not in err and str(bag) in err and 'damaged' in err
    if storage == 'mcap':
        assert 'checksum' in err
    assert not out.exists()


def test_written_mcap_bags_carry_crcs_that_the_mcap_library_validates(tmp_path: Path) -> None:
    from mcap.reader import make_reader

    from omnifuse.ros_nodes.bag_io import write_frames_to_bag

    bag = tmp_path / 'in'
    write_frames_to_bag(synthetic_frames(2, seed=1, n_points=500, n_ultrasonic=0), bag, distro='jazzy')
    data_file = next(bag.glob('*.mcap'))
    with data_file.open('rb') as fh:
        reader = make_reader(fh, validate_crcs=True)
        chunks = [c for c in reader.get_summary().chunk_indexes]
        assert len(list(reader.iter_messages())) > 0
    raw = data_file.read_bytes()
    for index in chunks:  # every chunk's uncompressed_crc field (after three uint64) is set
        crc_at = index.chunk_start_offset + 9 + 24
        assert raw[crc_at:crc_at + 4] != b'\0\0\0\0'


def _copy_frame(src: Path, dst: Path, frame: str = '000000') -> Path:
    import shutil

    for sub in ('velodyne', 'calib', 'image_2', 'label_2'):
        (dst / 'training' / sub).mkdir(parents=True)
        for f in (src / 'training' / sub).glob(f'{frame}.*'):
            shutil.copy(f, dst / 'training' / sub / f.name)
    return dst


def test_inspect_counts_non_finite_points_apart(kitti_root: Path, tmp_path: Path, capsys) -> None:
    import json

    root = _copy_frame(kitti_root, tmp_path / 'k')
    bin_path = root / 'training' / 'velodyne' / '000000.bin'
    points = np.fromfile(bin_path, np.float32).reshape(-1, 4)
    points[:100, 0] = np.nan
    points[100:150, 3] = np.inf
    points.tofile(bin_path)
    assert cli_main(['inspect', 'kitti', '--root', str(root), '--frame', '000000', '--json']) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary['num_points'] == len(points) - 150 and summary['non_finite_points'] == 150


def test_an_empty_calibration_file_is_named(kitti_root: Path, tmp_path: Path, capsys) -> None:
    root = _copy_frame(kitti_root, tmp_path / 'k')
    calib = root / 'training' / 'calib' / '000000.txt'
    calib.write_text('')
    assert cli_main(['detect', '--kitti-root', str(root), '--out', str(tmp_path / 'pred')]) == 2
    err = capsys.readouterr().err
    assert str(calib) in err and 'empty' in err and 'Traceback' not in err


@pytest.mark.parametrize('command', ['seg', 'occupancy'])
def test_seg_and_occupancy_evaluators_say_which_predictions_they_ignored(command: str, tmp_path: Path,
                                                                        capsys) -> None:
    import json

    import cv2

    gt, pred = tmp_path / 'gt', tmp_path / 'pred'
    gt.mkdir()
    pred.mkdir()
    size = 200 if command == 'occupancy' else 16  # the occupancy grid is 200 x 200 cells
    ids = np.random.default_rng(0).integers(0, 5, (size, size)).astype(np.uint8)
    for name in ('000000.png', '000001.png'):
        cv2.imwrite(str(gt / name), ids)
        cv2.imwrite(str(pred / name), ids)
    cv2.imwrite(str(pred / '999999.png'), ids)
    out = tmp_path / 'scores.json'
    assert cli_main(['eval', command, '--gt', str(gt), '--pred', str(pred), '--json', str(out)]) == 0
    printed = capsys.readouterr().out
    assert '1 prediction file(s) for frames without ground truth ignored (999999).' in printed
    assert json.loads(out.read_text())['ignored'] == {'prediction_files_without_ground_truth': ['999999']}
