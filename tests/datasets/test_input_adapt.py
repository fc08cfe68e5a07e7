"""Input normalisation of real scans for sim-trained models (the model's config asks for it; `omnifuse detect`
overrides it) and --image-size."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from omnifuse.cli import main
from omnifuse.datasets.input_adapt import InputAdapter, ground_alignment
from omnifuse.errors import FormatError
from omnifuse.structures.kitti_labels import read_kitti_label


def _tilted_scan(pitch_deg: float, roll_deg: float, height: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xy = rng.uniform([-40, -40], [40, 40], (30000, 2))
    z = math.tan(math.radians(pitch_deg)) * xy[:, 0] + math.tan(math.radians(roll_deg)) * xy[:, 1] - height
    z += rng.normal(0, 0.01, len(z))
    return np.c_[xy, z, rng.uniform(0, 1, len(z))].astype(np.float32)


def test_ground_alignment_levels_the_scan_and_boxes_come_back() -> None:
    pts = _tilted_scan(0.8, -0.5, 1.80)
    adapted, T = InputAdapter(align_ground=True, intensity_scale=0.5)(pts)
    # the ground is now horizontal at -1.73 (the simulator's), the intensity halved
    assert np.median(adapted[:, 2]) == pytest.approx(-1.73, abs=0.01)
    assert np.polyfit(adapted[:, 0], adapted[:, 2], 1)[0] == pytest.approx(0.0, abs=2e-4)
    assert np.allclose(adapted[:, 3], pts[:, 3] * 0.5, atol=1e-6)
    assert np.allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-9)
    # a box standing on the adapted ground maps back onto the tilted ground, heading kept within the tilt
    box = np.array([[20.0, 5.0, -1.73 + 0.75, 4.0, 1.8, 1.5, 0.3]])
    back = InputAdapter.boxes_to_sensor(box, T)
    ground_z = math.tan(math.radians(0.8)) * back[0, 0] + math.tan(math.radians(-0.5)) * back[0, 1] - 1.80
    assert back[0, 2] - 0.75 == pytest.approx(ground_z, abs=0.02)
    assert back[0, 6] == pytest.approx(0.3, abs=0.01)
    assert back[0, 3:6] == pytest.approx(box[0, 3:6])
    # nothing asked: nothing changed
    same, T0 = InputAdapter()(pts)
    assert np.array_equal(same, pts) and np.array_equal(T0, np.eye(4))
    assert not InputAdapter().active
    assert np.array_equal(ground_alignment(pts[:10]), np.eye(4))  # too few points: identity
    # a plane that cannot be this mounting's ground (a roof 3 m up, a 10 deg slope) is not levelled
    roof = pts.copy()
    roof[:, 2] += 3.0
    assert np.array_equal(ground_alignment(roof), np.eye(4))
    assert np.array_equal(ground_alignment(_tilted_scan(10.0, 0.0, 1.73)), np.eye(4))
    assert not np.array_equal(ground_alignment(_tilted_scan(3.0, 0.0, 1.73)), np.eye(4))


def test_adapt_frame_moves_the_cameras_with_the_points() -> None:
    """A levelled frame's cameras follow its points: every point projects onto the pixel it had."""
    from omnifuse.structures.calibration import Calibration, CameraModel
    from omnifuse.structures.frame import SensorFrame

    pts = _tilted_scan(1.2, -0.7, 1.75)
    P = np.array([[700.0, 0, 620, 0], [0, 700, 190, 0], [0, 0, 1, 0]])
    T_cam = np.array([[0.0, -1, 0, 0], [0, 0, -1, -0.08], [1, 0, 0, -0.27], [0, 0, 0, 1]])
    cam = CameraModel(P=P, T_cam_lidar=T_cam, width=1242, height=375)
    frame = SensorFrame('x', points=pts, calib=Calibration(cameras={'image_2': cam}, thermal={'front': cam}))
    moved, T = InputAdapter(align_ground=True).adapt_frame(frame)
    assert not np.allclose(T, np.eye(4)) and frame.points is pts  # the input frame is untouched

    def pixels(points: np.ndarray, model: CameraModel) -> np.ndarray:
        uvw = np.c_[points[:, :3], np.ones(len(points))] @ model.lidar2img.T
        return uvw[:, :2] / uvw[:, 2:3]

    ahead = pts[:, 0] > 5
    for store in ('cameras', 'thermal'):
        before = pixels(pts[ahead].astype(np.float64), getattr(frame.calib, store)['image_2' if store == 'cameras'
                                                                                   else 'front'])
        after = pixels(moved.points[ahead].astype(np.float64), getattr(moved.calib, store)['image_2' if store ==
                                                                                         'cameras' else 'front'])
        assert np.abs(after - before).max() < 0.05  # px (float32 points)


def test_input_adapter_from_config() -> None:
    assert InputAdapter.from_config(None) == InputAdapter()
    adapter = InputAdapter.from_config({'align_ground': True, 'sensor_height': 1.8})
    assert adapter.active and adapter.sensor_height == 1.8
    assert InputAdapter.from_config(adapter.as_dict()) == adapter
    with pytest.raises(FormatError, match=r"det\.onnx: input_adapter has unknown key\(s\) \['level'\]"):
        InputAdapter.from_config({'level': True}, source='det.onnx')


def test_shipped_detectors_level_real_scans_by_default(shared_data: Path, tmp_path: Path) -> None:
    """The shipped 64-beam detectors carry `input_adapter` in their config: `omnifuse detect` levels a real scan
    without being asked (the same boxes as --align-ground), and --no-align-ground turns it off."""
    root = shared_data / 'kitti_real' / 'seq0000_val'
    ckpt = Path(__file__).resolve().parents[2] / 'omnifuse' / 'checkpoints' / 'fast_lidar_sim.pth'
    base = ['detect', '--kitti-root', str(root), '--frame', '000030', '--checkpoint', str(ckpt)]
    runs = {}
    for name, extra in (('default', []), ('align', ['--align-ground']), ('plain', ['--no-align-ground'])):
        assert main([*base, '--out', str(tmp_path / name), *extra]) == 0
        runs[name] = (tmp_path / name / '000030.txt').read_text()
    assert runs['default'] == runs['align']
    assert runs['default'] != runs['plain']


def test_detect_image_size_and_align_ground(shared_data: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """On a real scan without an image, the 2D boxes are cut to KITTI's image size (said on stderr), or to
    --image-size: the detections in view get real 2D boxes, so the KITTI evaluation can score them."""
    root = shared_data / 'kitti_real' / 'seq0000_val'
    base = ['detect', '--kitti-root', str(root), '--frame', '000020', '--checkpoint',
            str(Path(__file__).resolve().parents[2] / 'omnifuse' / 'checkpoints' / 'fast_lidar_sim.pth')]
    assert main([*base, '--out', str(tmp_path / 'plain'), '--no-align-ground']) == 0
    assert "cut to KITTI's 1242 x 375 image" in capsys.readouterr().err  # the assumption is said
    plain = read_kitti_label(tmp_path / 'plain' / '000020.txt', require_score=True)
    assert main([*base, '--out', str(tmp_path / 'sized'), '--image-size', '1242', '375', '--no-align-ground']) == 0
    assert 'note' not in capsys.readouterr().err
    sized = read_kitti_label(tmp_path / 'sized' / '000020.txt', require_score=True)
    heights = sized.bbox[:, 3] - sized.bbox[:, 1]
    assert len(sized) == len(plain) and (heights >= 25).sum() >= 3
    np.testing.assert_allclose(plain.bbox, sized.bbox)
    assert main([*base, '--out', str(tmp_path / 'small'), '--image-size', '600', '375', '--no-align-ground']) == 0
    assert len(read_kitti_label(tmp_path / 'small' / '000020.txt', require_score=True)) < len(sized)
    assert main([*base, '--out', str(tmp_path / 'aligned'), '--image-size', '1242', '375', '--align-ground']) == 0
    aligned = read_kitti_label(tmp_path / 'aligned' / '000020.txt', require_score=True)
    assert len(aligned) > 0
    # the cyclist 6-8 m ahead (KITTI camera z) is found in both runs
    for labels in (sized, aligned):
        assert any(n == 'Cyclist' and 4 < loc[2] < 10 for n, loc in zip(labels.name, labels.location, strict=True))
