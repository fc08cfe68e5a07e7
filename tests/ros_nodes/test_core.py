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
    for box, name in zip(truth.boxes.data, truth.names, strict=True):
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


def test_detector_score_threshold_drops_weak_detections(frame: SensorFrame) -> None:
    all_ = PerceptionCore(detector=ClusterDetector())(frame).objects
    cut = float(np.sort(all_.scores)[1])
    kept = PerceptionCore(detector=ClusterDetector(score_threshold=cut))(frame).objects
    assert len(kept) == int((all_.scores >= cut).sum()) < len(all_)
    np.testing.assert_array_equal(kept.scores, all_.scores[all_.scores >= cut])


def test_from_params_default_config(repo_root) -> None:
    """The shipped params: the three shipped learned models, all on the ROS contract's 'front' camera."""
    from omnifuse.apis.detection import FrameDetector
    from omnifuse.apis.occupancy import NearFieldOccupancyPredictor
    from omnifuse.apis.segmentation import FrameSegmenter

    params = load_params(repo_root / 'configs' / 'ros' / 'perception.yaml')
    core = PerceptionCore.from_params(params)
    assert core.produces == ('objects', 'tracks', 'segmentation', 'occupancy')
    assert isinstance(core.detector, FrameDetector) and core.detector.camera == 'front'
    assert isinstance(core.segmenter, FrameSegmenter) and (core.segmenter.camera, core.segmenter.thermal) == (
        'front', 'front')
    assert core.segmenter.model.modality == 'thermal' and core.segmentation_camera == 'front'
    assert isinstance(core.occupancy, NearFieldOccupancyPredictor) and core.occupancy.camera == 'front'
    # the occupancy grid published is the model's grid
    assert core.grid.origin_x == -core.occupancy.grid.extent == params['occupancy_grid']['origin_x']
    assert core.detector.score_threshold == params['models']['detector']['score_threshold'] > 0
    # kind: cluster still gives the geometric detector with the params' settings
    cluster = PerceptionCore.from_params(load_params(overrides={'models': {
        'detector': {'kind': 'cluster'}, 'segmenter': {'kind': 'none'}, 'occupancy': {'kind': 'none'},
        'cluster': {'min_points': 5}}}))
    assert isinstance(cluster.detector, ClusterDetector) and cluster.detector.min_points == 5
    assert cluster.detector.score_threshold == params['models']['detector']['score_threshold']
    assert cluster.produces == ('objects', 'tracks')
    off = PerceptionCore.from_params(load_params(overrides={'tracking': {'enabled': False}, 'models': {
        'detector': {'kind': 'cluster'}, 'segmenter': {'kind': 'none'}, 'occupancy': {'kind': 'none'}}}))
    assert off.produces == ('objects',) and off.tracker is None


def test_core_says_which_configured_camera_a_frame_lacks(frame: SensorFrame) -> None:
    """A missing camera is noted (for /diagnostics); the model never falls back to another camera."""
    import dataclasses

    from omnifuse.apis.segmentation import FrameSegmenter

    seg = FrameSegmenter(camera='front', thermal='front')
    core = PerceptionCore(detector=ClusterDetector(), segmenter=seg)
    full = core(frame)
    assert full.notes == [] and full.segmentation.shape == frame.images['front'].shape[:2]
    no_thermal = core(dataclasses.replace(frame, thermal={}))
    assert no_thermal.notes == ["segmenter: thermal camera 'front' missing: ran on the colour image alone"]
    assert no_thermal.segmentation is not None and no_thermal.objects is not None
    other = dataclasses.replace(frame, images={'rear': frame.images['front']})
    out = core(other)
    assert out.segmentation is None and len(out.objects) == len(full.objects)
    assert out.notes == ["segmenter: camera 'front' missing (the frame has rear): no segmentation"]
    calib = dataclasses.replace(frame.calib, cameras={})
    out = core(dataclasses.replace(frame, calib=calib))
    assert out.notes[0].startswith("segmenter: camera 'front' has no calibration yet")


def test_from_params_checkpoint_missing_or_corrupt_is_an_error(tmp_path) -> None:
    ckpt = tmp_path / 'det.pth'
    params = load_params(overrides={'models': {'detector': {'kind': 'checkpoint', 'checkpoint': str(ckpt)}}})
    with pytest.raises(FileNotFoundError):
        PerceptionCore.from_params(params)
    ckpt.write_bytes(b'not a model')
    with pytest.raises(OmnifuseError, match='not a weights-only checkpoint'):
        PerceptionCore.from_params(params)
    seg = load_params(overrides={'models': {'segmenter': {'kind': 'checkpoint', 'checkpoint': str(ckpt)},
                                            'detector': {'kind': 'none'}, 'occupancy': {'kind': 'none'}}})
    with pytest.raises(OmnifuseError, match='not a weights-only checkpoint'):
        PerceptionCore.from_params(seg)
    # the occupancy weights are no segmentor: the error names the mismatch instead of loading garbage
    from omnifuse.checkpoint import CHECKPOINT_DIR
    occupancy_weights = str(CHECKPOINT_DIR / 'nearfield_fused_sim.pth')
    wrong = load_params(overrides={'models': {'segmenter': {'checkpoint': occupancy_weights},
                                              'detector': {'kind': 'none'}, 'occupancy': {'kind': 'none'}}})
    with pytest.raises(OmnifuseError):
        PerceptionCore.from_params(wrong)
    bad = load_params(overrides={'models': {'segmenter': {'kind': 'cluster'}}})
    with pytest.raises(OmnifuseError, match="models.segmenter.kind: unknown kind 'cluster'"):
        PerceptionCore.from_params(bad)
    from omnifuse.ros_nodes.core import build_checkpoint_model
    with pytest.raises(OmnifuseError, match='no builder for tracker'):
        build_checkpoint_model('tracker', checkpoint=str(ckpt))
