"""PerceptionCore with injected models, its params factory, and the geometric ClusterDetector."""

from __future__ import annotations

import numpy as np
import pytest

from omnifuse.errors import OmnifuseError
from omnifuse.ros_nodes.cluster import ClusterDetector
from omnifuse.ros_nodes.core import PerceptionCore
from omnifuse.ros_nodes.params import load_params
from omnifuse.ros_nodes.synthetic import synthetic_frames
from omnifuse.structures import SensorFrame


@pytest.fixture(scope='module')
def frame() -> SensorFrame:
    return synthetic_frames(1, seed=4, n_points=4000)[0]


def test_cluster_detector_finds_the_objects(frame: SensorFrame) -> None:
    found = ClusterDetector()(frame)
    truth = frame.labels
    assert len(found) == len(truth)
    for box, name in zip(truth.boxes.data, truth.names):
        d = np.linalg.norm(found.boxes.data[:, :2] - box[:2], axis=1)
        i = int(d.argmin())
        assert d[i] < 0.3, f'no detection near {name} at {box[:2]}'
        assert found.names[i] == name
        np.testing.assert_allclose(found.boxes.data[i, 3:6], box[3:6], atol=0.35)
        yaw_err = abs((found.boxes.data[i, 6] - box[6] + np.pi / 2) % np.pi - np.pi / 2)  # boxes are symmetric
        assert yaw_err < 0.15 or name == 'Pedestrian'
    assert np.all((found.scores > 0) & (found.scores < 1))
    assert np.all(found.boxes.data[:, 6] >= -np.pi) and np.all(found.boxes.data[:, 6] < np.pi)


def test_cluster_detector_on_nothing() -> None:
    det = ClusterDetector()
    assert len(det(SensorFrame('empty'))) == 0
    flat = np.c_[np.random.default_rng(0).uniform(-20, 20, (500, 2)), np.full(500, -1.7)]
    assert len(det.detect(flat)) == 0  # ground only


def test_cluster_detector_is_deterministic(frame: SensorFrame) -> None:
    a, b = ClusterDetector()(frame), ClusterDetector()(frame)
    np.testing.assert_array_equal(a.boxes.data, b.boxes.data)
    assert a.names == b.names


def test_core_runs_injected_models_and_skips_absent_ones(frame: SensorFrame) -> None:
    seg = np.full((48, 64), 3, np.uint8)
    core = PerceptionCore(detector=ClusterDetector(), segmenter=lambda f: seg, occupancy=None)
    assert core.produces == ('objects', 'segmentation')
    out = core(frame)
    assert out.stamp_ns == frame.stamp_ns
    assert out.objects is not None and len(out.objects) == 3
    np.testing.assert_array_equal(out.segmentation, seg)
    assert out.occupancy is None
    assert set(out.timings_ms) == {'detector', 'segmenter'} and out.model_ms >= 0


def test_core_score_threshold_drops_weak_detections(frame: SensorFrame) -> None:
    all_ = PerceptionCore(detector=ClusterDetector())(frame).objects
    cut = float(np.sort(all_.scores)[1])
    kept = PerceptionCore(detector=ClusterDetector(), score_threshold=cut)(frame).objects
    assert len(kept) == int((all_.scores >= cut).sum()) < len(all_)


def test_from_params_default_config(repo_root) -> None:
    params = load_params(repo_root / 'configs' / 'ros' / 'perception.yaml')
    core = PerceptionCore.from_params(params)
    assert isinstance(core.detector, ClusterDetector) and core.segmenter is None
    # The shipped near-field occupancy model is on by default; its grid is the params' occupancy_grid.
    from omnifuse.apis.occupancy import NearFieldOccupancyPredictor
    assert isinstance(core.occupancy, NearFieldOccupancyPredictor)
    assert core.grid.origin_x == -core.occupancy.grid.extent == params['occupancy_grid']['origin_x']
    assert core.detector.min_points == params['models']['cluster']['min_points']


def test_from_params_checkpoint_missing_corrupt_or_without_builder_is_an_error(tmp_path) -> None:
    ckpt = tmp_path / 'det.pth'
    params = load_params(overrides={'models': {'detector': {'kind': 'checkpoint', 'checkpoint': str(ckpt)}}})
    with pytest.raises(FileNotFoundError):
        PerceptionCore.from_params(params)
    ckpt.write_bytes(b'not a model')
    with pytest.raises(OmnifuseError, match='not a weights-only checkpoint'):
        PerceptionCore.from_params(params)
    seg = load_params(overrides={'models': {'segmenter': {'kind': 'checkpoint', 'checkpoint': str(ckpt)}}})
    with pytest.raises(OmnifuseError, match='build_checkpoint_model'):
        PerceptionCore.from_params(seg)
    bad = load_params(overrides={'models': {'segmenter': {'kind': 'cluster'}}})
    with pytest.raises(OmnifuseError, match="models.segmenter.kind: unknown kind 'cluster'"):
        PerceptionCore.from_params(bad)
