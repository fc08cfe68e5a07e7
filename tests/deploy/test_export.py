"""`omnifuse export` and the torch-free runtime (omnifuse.deploy): the exported CMX segmenter and near-field
occupancy model against PyTorch on a simulated frame and a real MFNet pair, the metadata in the file, the
commands with torch blocked from import (the detector: test_export_detector.py)."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip('onnx', reason='needs the deploy extras: pip install .[deploy]')
pytest.importorskip('onnxruntime', reason='needs the deploy extras: pip install .[deploy]')

from omnifuse.apis.occupancy import NearFieldOccupancyPredictor  # noqa: E402
from omnifuse.apis.segmentation import FrameSegmenter  # noqa: E402
from omnifuse.cli import main  # noqa: E402
from omnifuse.datasets.rgbx_seg import scale_rgbx  # noqa: E402
from omnifuse.datasets.sim import LidarModel, generate_frame, write_kitti  # noqa: E402
from omnifuse.deploy.export import export_model  # noqa: E402
from omnifuse.deploy.runtime import ExportedModel, ExportedOccupancy, ExportedSegmentor  # noqa: E402
from omnifuse.segmentation.rgbx import preprocessed_pair  # noqa: E402
from tests.no_torch import run_cli_without_torch  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
HAVE_OPENVINO = importlib.util.find_spec('openvino') is not None

# Parity: class ids equal except at near-ties, logits / probabilities within 1e-3.
MIN_EQUAL = 0.999
MAX_DIFF = 1e-3


@pytest.fixture(scope='module')
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The shipped RGB-thermal CMX and near-field models as .onnx (and OpenVINO .xml when installed)."""
    out = tmp_path_factory.mktemp('exported')
    files = {}
    for name, config in (('seg', 'configs/cmx/rgbt_cmx.py'), ('occ', 'configs/occupancy/nearfield_fused_sim.py')):
        result = export_model(REPO / config, None, out / f'{name}.onnx')
        assert result.labels_equal == 1.0 and result.max_abs_diff < 1e-4, result
        files[name] = out / f'{name}.onnx'
        if HAVE_OPENVINO:
            export_model(REPO / config, None, out / f'{name}.xml', fmt='openvino')
            files[f'{name}_xml'] = out / f'{name}.xml'
    return files


def _backends(exported: dict[str, Path], name: str) -> list[Path]:
    return [exported[name]] + ([exported[f'{name}_xml']] if f'{name}_xml' in exported else [])


def _torch_logits(model, rgb: np.ndarray, x: np.ndarray | None) -> np.ndarray:  # type: ignore[no-untyped-def]
    """(K, h, w) logits of the PyTorch path (data preprocessor + model) for the shared numpy batch."""
    with torch.no_grad():
        return model(**preprocessed_pair(model, rgb, x), mode='tensor')[0].numpy()


def _assert_segmentation_parity(torch_seg: FrameSegmenter, path: Path, rgb: np.ndarray,
                                x: np.ndarray | None) -> None:
    runtime = ExportedSegmentor(path)
    want_labels = torch_seg.predict_labels(rgb, x)
    got = runtime.outputs(rgb, x)
    assert got['labels'].shape == (1, *rgb.shape[:2])
    equal = float(np.mean(got['labels'][0] == want_labels))
    diff = float(np.abs(got['logits'][0] - _torch_logits(torch_seg.model, rgb, x)).max())
    assert equal >= MIN_EQUAL and diff < MAX_DIFF, (path.suffix, x is None, equal, diff)


def test_the_file_carries_what_the_runtime_needs(exported: dict[str, Path]) -> None:
    seg = ExportedSegmentor(exported['seg'])
    assert seg.model.backend == 'onnxruntime'
    assert (seg.modality, seg.scale, seg.x_channels, len(seg.class_names)) == ('thermal', 0.5, 1, 13)
    assert seg.model.metadata['normalization']['mean'] == pytest.approx([123.675, 116.28, 103.53])
    assert set(seg.model.input_names) == {'rgb', 'x', 'x_valid'}
    occ = ExportedOccupancy(exported['occ'])
    assert (occ.image_scale, occ.grid.resolution, occ.grid.extent) == (0.4, 0.1, 10.0)
    assert occ.occupied_classes == ('vehicle', 'pedestrian', 'cyclist', 'static')
    if 'seg_xml' in exported:
        xml = ExportedSegmentor(exported['seg_xml'])
        assert xml.model.backend == 'openvino' and xml.model.metadata == seg.model.metadata


@pytest.fixture(scope='module')
def torch_segmenter() -> FrameSegmenter:
    return FrameSegmenter()  # the shipped RGB-thermal model


def test_segmentation_parity_on_a_simulated_night_frame(exported: dict[str, Path],
                                                       torch_segmenter: FrameSegmenter) -> None:
    frame = generate_frame(5, condition='night', lidar=LidarModel(n_azimuth=1000))
    inputs = torch_segmenter.inputs(frame)
    assert inputs.x is not None
    for path in _backends(exported, 'seg'):
        _assert_segmentation_parity(torch_segmenter, path, inputs.rgb, inputs.x)
        _assert_segmentation_parity(torch_segmenter, path, inputs.rgb, None)  # thermal missing
        # the frame-level API gives the same full-size labels with either backend
        runtime = FrameSegmenter(checkpoint=path)
        assert runtime.backend == ('openvino' if path.suffix == '.xml' else 'onnxruntime')
        assert np.mean(runtime(frame) == torch_segmenter(frame)) >= MIN_EQUAL
        assert runtime(dataclasses.replace(frame, images={})) is None


def test_segmentation_parity_on_a_real_mfnet_pair(exported: dict[str, Path], torch_segmenter: FrameSegmenter,
                                                  shared_data: Path) -> None:
    from omnifuse.datasets.rgbt import normalize_thermal, read_mfnet

    path = shared_data / 'rgbt' / 'MFNet' / '01234N.png'
    sample = read_mfnet(path)
    x = normalize_thermal(sample.thermal, valid=sample.thermal > 0)
    rgb, x = scale_rgbx(sample.rgb, x, 0.5)  # the config's image scale, as `omnifuse segment --rgb`
    for model_path in _backends(exported, 'seg'):
        _assert_segmentation_parity(torch_segmenter, model_path, rgb, x)


def test_occupancy_parity_on_a_simulated_parking_frame(exported: dict[str, Path]) -> None:
    frame = generate_frame(424242, scenario='parking', condition='night')
    torch_pred = NearFieldOccupancyPredictor()
    for path in _backends(exported, 'occ'):
        runtime = NearFieldOccupancyPredictor(checkpoint=path)
        assert (runtime.image_scale, runtime.grid) == (torch_pred.image_scale, torch_pred.grid)
        for f in (frame, dataclasses.replace(frame, images={})):  # with and without the camera
            want, want_prob = torch_pred.predict(f)
            got, got_prob = runtime.predict(f)
            assert got.shape == want.shape == (200, 200) and got.dtype == want.dtype
            assert np.mean(got == want) >= MIN_EQUAL, (path.suffix, np.mean(got == want))
            assert np.abs(got_prob - want_prob).max() < MAX_DIFF
        assert (runtime.predict(frame)[0] > 0).any()  # the parked car's surroundings are not all free


def test_the_backend_follows_the_file_unless_forced(exported: dict[str, Path]) -> None:
    from omnifuse.errors import FormatError

    if HAVE_OPENVINO:  # OpenVINO reads the .onnx file itself too (metadata from its metadata_props)
        assert ExportedModel(exported['seg'], backend='openvino').metadata['modality'] == 'thermal'
        with pytest.raises(FormatError, match='--backend openvino'):
            ExportedModel(exported['seg_xml'], backend='onnxruntime')
    with pytest.raises(FormatError, match='exported model runs with onnxruntime or openvino'):
        FrameSegmenter(checkpoint=exported['seg'], backend='torch')
    with pytest.raises(FormatError, match='an exported occupancy model, not a segmentation model'):
        FrameSegmenter(checkpoint=exported['occ'])


def test_segment_and_occupancy_commands_run_an_export_without_torch(exported: dict[str, Path],
                                                                    tmp_path: Path) -> None:
    frame = generate_frame(424242, scenario='parking', condition='night', lidar=LidarModel(n_azimuth=1000))
    write_kitti([frame], tmp_path / 'sim')
    models = [exported['seg']] + ([exported['seg_xml']] if 'seg_xml' in exported else [])
    for i, model in enumerate(models):
        done = run_cli_without_torch('segment', '--kitti-root', str(tmp_path / 'sim'), '--out',
                                  str(tmp_path / f'seg{i}'), '--checkpoint', str(model))
        assert done.returncode == 0, done.stderr
    assert main(['segment', '--kitti-root', str(tmp_path / 'sim'), '--out', str(tmp_path / 'seg_torch')]) == 0
    want = cv2.imread(str(tmp_path / 'seg_torch' / '000000.png'), cv2.IMREAD_UNCHANGED)
    for i in range(len(models)):
        got = cv2.imread(str(tmp_path / f'seg{i}' / '000000.png'), cv2.IMREAD_UNCHANGED)
        assert np.mean(got == want) >= MIN_EQUAL

    rgb_png = tmp_path / 'rgb.png'
    cv2.imwrite(str(rgb_png), cv2.cvtColor(frame.images['image_2'], cv2.COLOR_RGB2BGR))
    done = run_cli_without_torch('segment', '--rgb', str(rgb_png), '--labels', str(tmp_path / 'one.png'),
                              '--checkpoint', str(exported['seg']))  # no --x: thermal missing
    assert done.returncode == 0 and 'X missing' in done.stdout, done.stderr

    done = run_cli_without_torch('occupancy', '--kitti-root', str(tmp_path / 'sim'), '--out', str(tmp_path / 'occ'),
                              '--checkpoint', str(exported['occ']))
    assert done.returncode == 0, done.stderr
    assert main(['occupancy', '--kitti-root', str(tmp_path / 'sim'), '--out', str(tmp_path / 'occ_torch')]) == 0
    got = cv2.imread(str(tmp_path / 'occ' / '000000.png'), cv2.IMREAD_UNCHANGED)
    want = cv2.imread(str(tmp_path / 'occ_torch' / '000000.png'), cv2.IMREAD_UNCHANGED)
    assert got.shape == (200, 200) and np.mean(got == want) >= MIN_EQUAL

    done = run_cli_without_torch('segment', '--rgb', str(rgb_png), '--labels', str(tmp_path / 'x.png'))
    assert done.returncode != 0  # the torch path really is blocked here
