"""The restricted unpickler and the mmdet3d v1.x info files (KITTI and Waymo samples)."""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from omnifuse.datasets import InfoReader, KittiReader, load_info_file, load_pickle
from omnifuse.datasets.infos import info_calibration, info_labels
from omnifuse.errors import FormatError, UnsafePickleError


class _RunsCommand:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (self.command,))


class _CallsEval:
    def __reduce__(self):  # noqa: ANN204
        return (eval, ("__import__('pathlib').Path('x').touch()",))


@pytest.mark.parametrize('protocol', [2, 4, 5])
def test_pickle_that_runs_a_command_is_refused_and_never_runs(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / 'pwned'
    bad = tmp_path / 'kitti_infos_evil.pkl'
    bad.write_bytes(pickle.dumps({'data_list': [{'x': _RunsCommand(f'touch {marker}')}]}, protocol=protocol))
    refused = r'kitti_infos_evil\.pkl: refused to load global (posix|os|nt)\.system'
    with pytest.raises(UnsafePickleError, match=refused):
        load_info_file(bad)
    assert not marker.exists()
    # a plain pickle.load of the same file does run it: the test is meaningful
    with bad.open('rb') as f:
        pickle.load(f)  # noqa: S301 - deliberately, to prove the payload is live
    assert marker.exists()


def test_builtins_that_evaluate_code_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / 'evil.pkl'
    bad.write_bytes(pickle.dumps(_CallsEval(), protocol=2))
    with pytest.raises(UnsafePickleError, match=r'builtins\.eval'):
        load_pickle(bad)
    # _codecs.encode is admitted for protocol-2 bytes, but only with latin1
    payload = b'\x80\x02c_codecs\nencode\nq\x00X\x03\x00\x00\x00abcX\x06\x00\x00\x00base64\x86R.'
    bad.write_bytes(payload)
    with pytest.raises(UnsafePickleError, match='base64'):
        load_pickle(bad)
    bad.write_bytes(b'\x80\x02c_codecs\nencode\nq\x00X\x03\x00\x00\x00abcX\x06\x00\x00\x00latin1\x86R.')
    assert load_pickle(bad) == b'abc'


@pytest.mark.parametrize('protocol', [2, 4, 5])
def test_numpy_arrays_dtypes_scalars_and_containers_load(tmp_path: Path, protocol: int) -> None:
    obj = {
        'f32': np.arange(12, dtype=np.float32).reshape(3, 4),
        'i64': np.array([1, -2], dtype=np.int64),
        'bool': np.array([True, False]),
        'rec': np.array([(1, 2.5)], dtype=[('a', '<i4'), ('b', '<f8')]),
        'obj': np.array([{'k': 1}, None], dtype=object),
        'scalar': np.float64(3.25), 'int32': np.int32(7), 'dtype': np.dtype('<f2'),
        'plain': [1, 2.0, 'x', b'y', (None, True), {3, 4}, frozenset({5})],
        'ordered': OrderedDict(a=1),
    }
    path = tmp_path / 'ok.pkl'
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    got = load_pickle(path)
    for key in ('f32', 'i64', 'bool', 'rec'):
        assert got[key].dtype == obj[key].dtype
        np.testing.assert_array_equal(got[key], obj[key])
    assert got['obj'][0] == {'k': 1} and got['obj'][1] is None
    assert got['scalar'] == 3.25 and type(got['scalar']) is np.float64
    assert got['int32'] == 7 and got['dtype'] == np.dtype('<f2')
    assert got['plain'] == obj['plain'] and got['ordered'] == obj['ordered']


def test_non_info_files_give_format_errors(tmp_path: Path, shared_data: Path) -> None:
    v0 = tmp_path / 'v0.pkl'
    v0.write_bytes(pickle.dumps([{'image': {}}]))
    with pytest.raises(FormatError, match='v0.x info list'):
        load_info_file(v0)
    junk = tmp_path / 'junk.pkl'
    junk.write_bytes(b'not a pickle at all')
    with pytest.raises(FormatError, match=r'junk\.pkl: not a readable pickle'):
        load_info_file(junk)
    # a real mmdet3d results pickle holds torch tensors and mmdet3d classes: refused, not executed
    with pytest.raises(UnsafePickleError, match='refused to load global'):
        load_pickle(shared_data / 'kitti' / 'mmdet3d_infos' / 'mono3d_sample_results.pkl')


def test_kitti_info_matches_the_label_file_and_calib_file(kitti_root: Path) -> None:
    info_dir = kitti_root / 'mmdet3d_infos'
    file = load_info_file(info_dir / 'kitti_infos_train.pkl')
    assert file.dataset == 'kitti' and file.classes[:3] == ('Pedestrian', 'Cyclist', 'Car')
    reader = InfoReader(info_dir / 'kitti_infos_train.pkl', data_root=info_dir,
                        camera_dirs={'CAM2': 'training/image_2'})
    assert reader.frame_ids == ('000000',)
    f = reader.read('000000')
    assert f.points.shape == (800, 4) and f.images['CAM2'].shape == (370, 1224, 3)
    ref = KittiReader(kitti_root).read('000000')
    # same pedestrian as label_2/000000.txt; calibration equal up to the info's float32 rounding
    assert f.labels.names == ref.labels.names == ['Pedestrian']
    np.testing.assert_allclose(f.labels.boxes.data, ref.labels.boxes.data, atol=1e-5)
    np.testing.assert_allclose(f.labels.bbox_2d, ref.labels.bbox_2d)
    np.testing.assert_allclose(f.calib.cameras['image_2'].lidar2img, ref.calib.cameras['image_2'].lidar2img,
                               rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(f.calib.T_rect_lidar, ref.calib.T_rect_lidar, atol=1e-6)
    # mmdet3d's own LiDAR box for this pedestrian (bottom centre, l w h, yaw; MANIFEST.md). mmdet3d
    # maps the bottom centre through inv(R0·Tr) while omnifuse maps the geometric centre (DESIGN.md);
    # LiDAR z and camera -y are tilted by ~0.4 degrees, so the two differ by ~1 cm here.
    mm = np.array([8.7314, -1.8559, -1.5997, 1.2, 0.48, 1.89, -1.5808])
    got = f.labels.boxes.data[0].copy()
    got[2] -= got[5] / 2
    np.testing.assert_allclose(got[2:], mm[2:], atol=2e-4)
    np.testing.assert_allclose(got[:2], mm[:2], atol=0.015)
    # cameras without lidar2cam (CAM0/1/3) are rebuilt from R0_rect·Tr_velo_to_cam: lidar2img agrees
    for cam in ('CAM0', 'CAM1', 'CAM3'):
        raw = np.asarray(file.data_list[0]['images'][cam]['lidar2img'])
        np.testing.assert_allclose(f.calib.cameras[cam].lidar2img, raw, rtol=1e-5, atol=1e-3)


def test_dontcare_instances_and_sample_id_key(shared_data: Path) -> None:
    file = load_info_file(shared_data / 'kitti' / 'demo_000008_info.pkl')
    info = file.data_list[0]
    calib = info_calibration(info, str(file.path))
    labels = info_labels(info, calib, classes=file.classes, box_frame='camera')
    raw = [inst['bbox_label_3d'] for inst in info['instances']]
    assert labels.names.count('DontCare') == raw.count(-1) > 0
    assert all(n == 'Car' for n, r in zip(labels.names, raw, strict=True) if r == 2)
    kept = labels.without_dontcare()
    # camera (x y z l h w ry, bottom centre) -> LiDAR: dimensions reorder to (l, w, h)
    cars = [inst for inst in info['instances'] if inst['bbox_label_3d'] != -1]
    np.testing.assert_allclose(kept.boxes.data[:, 3:6], [[b['bbox_3d'][3], b['bbox_3d'][5], b['bbox_3d'][4]]
                                                         for b in cars])


def test_waymo_info_boxes_are_lidar_bottom_centres(shared_data: Path) -> None:
    file = load_info_file(shared_data / 'waymo' / 'kitti_format' / 'waymo_infos_val.pkl')
    assert file.dataset == 'waymo' and file.classes == ('Car', 'Pedestrian', 'Cyclist')
    info = file.data_list[0]
    labels = info_labels(info, info_calibration(info), classes=file.classes, box_frame='lidar')
    raw = np.asarray(info['instances'][0]['bbox_3d'])
    np.testing.assert_allclose(labels.boxes.data[0], [raw[0], raw[1], raw[2] + raw[5] / 2, *raw[3:7]])
    with pytest.raises(FormatError, match=r'bbox_label_3d 5 is outside'):
        bad = dict(info, instances=[dict(info['instances'][0], bbox_label_3d=5)])
        info_labels(bad, info_calibration(info), classes=file.classes, box_frame='lidar')
    with pytest.raises(FormatError, match=r"instances\[0\]: missing field 'bbox_3d'"):
        info_labels(dict(info, instances=[{'bbox_label_3d': 0}]), info_calibration(info),
                    classes=file.classes, box_frame='lidar')
