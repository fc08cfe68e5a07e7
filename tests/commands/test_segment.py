"""`omnifuse segment`, `omnifuse eval seg` and the mmengine training path of the CMX configs.

A tiny KITTI-layout folder (2 frames, camera + thermal of another resolution and pose + LiDAR +
semantic_2) is written in a temporary directory, in the form the simulator writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from omnifuse.cli import main
from omnifuse.structures import Calibration, CameraModel

H, W = 64, 160
T_CAM_LIDAR = np.array([[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64)


def _calib() -> Calibration:
    P = np.array([[80.0, 0, W / 2, 0], [0, 80.0, H / 2, 0], [0, 0, 1, 0]])
    T_th = T_CAM_LIDAR.copy()
    T_th[0, 3] = -0.1  # thermal camera 0.1 m to the left (LiDAR +y)
    P_th = np.array([[60.0, 0, 60, 0], [0, 60.0, 24, 0], [0, 0, 1, 0]])
    calib = Calibration(cameras={'image_2': CameraModel(P, T_CAM_LIDAR, W, H)},
                        thermal={'thermal': CameraModel(P_th, T_th, 120, 48)})
    return calib


def make_layout(root: Path, n: int = 2, seed: int = 0) -> Path:
    """Write `n` frames: image_2, thermal (uint16), velodyne, calib, semantic_2 (ids 0..3, 255 border)."""
    rng = np.random.default_rng(seed)
    text = _calib().to_kitti_text()
    for sub in ('image_2', 'thermal', 'velodyne', 'calib', 'semantic_2'):
        (root / 'training' / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        fid = f'{i:06d}'
        label = np.zeros((H, W), np.uint8)
        label[H // 2:] = 1  # road below the horizon
        label[20:44, 30 + 20 * i:70 + 20 * i] = 2  # a warm object
        label[:4] = 255
        rgb = np.zeros((H, W, 3), np.uint8)
        rgb[label == 0] = (90, 120, 200)
        rgb[label == 1] = (80, 80, 80)
        rgb[label == 2] = (200, 40, 40)
        rgb = np.clip(rgb + rng.integers(0, 20, rgb.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(root / 'training' / 'image_2' / f'{fid}.png'), rgb[..., ::-1])
        thermal = (29000 + rng.integers(0, 200, (48, 120))).astype(np.uint16)
        thermal[14:34, 20:60] += 3000
        cv2.imwrite(str(root / 'training' / 'thermal' / f'{fid}.png'), thermal)
        pts = np.stack([rng.uniform(3, 30, 2000), rng.uniform(-10, 10, 2000), rng.uniform(-1.5, 1, 2000),
                        rng.uniform(0, 1, 2000)], 1).astype(np.float32)
        pts.tofile(root / 'training' / 'velodyne' / f'{fid}.bin')
        (root / 'training' / 'calib' / f'{fid}.txt').write_text(text)
        cv2.imwrite(str(root / 'training' / 'semantic_2' / f'{fid}.png'), label)
    return root


@pytest.fixture(scope='module')
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_layout(tmp_path_factory.mktemp('sim_seg'))


@pytest.fixture(scope='module')
def checkpoint(layout: Path, repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train configs/cmx/rgbt_cmx.py for a few iterations with mmengine's Runner on the tiny layout."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    work = tmp_path_factory.mktemp('work')
    cfg = Config.fromfile(str(repo_root / 'configs' / 'cmx' / 'rgbt_cmx.py'))
    cfg.work_dir = str(work)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = str(layout)
        cfg[loader].dataset.image_set = None
        cfg[loader].batch_size = 2
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=4, val_interval=4)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=4, save_best='seg/miou',
                                        rule='greater')
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    assert 0.0 <= metrics['seg/miou'] <= 1.0
    assert 'seg/iou_road' in metrics
    ckpt = work / 'iter_4.pth'
    assert ckpt.is_file()
    return ckpt


def test_training_path_logs_decreasing_loss_and_saves_checkpoint(checkpoint: Path) -> None:
    logs = list(checkpoint.parent.rglob('*.json'))
    losses = [json.loads(line)['loss'] for f in logs for line in f.read_text().splitlines()
              if '"loss"' in line]
    assert len(losses) >= 4
    assert losses[-1] < losses[0]


def test_segment_folder_then_eval_seg_json(layout: Path, checkpoint: Path, repo_root: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    pred = tmp_path / 'pred'
    code = main(['segment', '--kitti-root', str(layout), '--out', str(pred), '--checkpoint', str(checkpoint),
                 '--png-dir', str(tmp_path / 'overlays'),
                 '--config', str(repo_root / 'configs' / 'cmx' / 'rgbt_cmx.py'), '--device', 'cpu'])
    assert code == 0
    files = sorted(pred.glob('*.png'))
    assert [f.stem for f in files] == ['000000', '000001']
    labels = cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED)
    assert labels.shape == (H, W) and labels.dtype == np.uint8 and labels.max() < 13
    # overlay (scaled image) above the registered X image
    assert cv2.imread(str(tmp_path / 'overlays' / '000000.png')).shape == (2 * H // 2, W // 2, 3)
    out_json = tmp_path / 'scores.json'
    code = main(['eval', 'seg', '--gt', str(layout / 'training' / 'semantic_2'), '--pred', str(pred),
                 '--json', str(out_json)])
    assert code == 0
    scores = json.loads(out_json.read_text())
    assert 0.0 <= scores['miou'] <= 1.0
    from omnifuse.datasets.sim.classes import SEMANTIC_CLASSES
    assert list(scores['per_class_iou']) == list(SEMANTIC_CLASSES)
    assert scores['num_images'] == 2
    valid = [v for v in scores['per_class_iou'].values() if v is not None]
    assert scores['miou'] == pytest.approx(sum(valid) / len(valid))
    assert 'mIoU' in capsys.readouterr().out


def test_segment_one_pair_writes_overlay_and_labels(tmp_path: Path, shared_data: Path, repo_root: Path) -> None:
    rgbt = shared_data / 'rgbt' / 'PST900'
    png, ids = tmp_path / 'over.png', tmp_path / 'ids.png'
    code = main(['segment', '--rgb', str(rgbt / 'sample_rgb.png'), '--x', str(rgbt / 'sample_thermal8.png'),
                 '--png', str(png), '--labels', str(ids), '--device', 'cpu',
                 '--config', str(repo_root / 'configs' / 'cmx' / 'rgbt_cmx.py')])
    assert code == 0
    over = cv2.imread(str(png))
    assert over.shape == (720, 1280, 3)
    assert cv2.imread(str(ids), cv2.IMREAD_UNCHANGED).shape == (720, 1280)


def _error_lines(err: str) -> list[str]:
    """The error lines on stderr (tqdm progress lines aside); never a traceback."""
    assert 'Traceback' not in err
    return [line for line in err.splitlines() if line.startswith('omnifuse: error')]


def test_eval_seg_bad_file_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt, pred = tmp_path / 'gt', tmp_path / 'pred'
    gt.mkdir()
    pred.mkdir()
    cv2.imwrite(str(gt / 'a.png'), np.zeros((4, 4), np.uint8))
    (pred / 'a.png').write_bytes(b'not a png')
    assert main(['eval', 'seg', '--gt', str(gt), '--pred', str(pred)]) == 2
    err = _error_lines(capsys.readouterr().err)
    assert len(err) == 1 and 'a.png' in err[0]


def test_eval_seg_missing_prediction_and_bad_ids_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt, pred = tmp_path / 'gt', tmp_path / 'pred'
    gt.mkdir()
    pred.mkdir()
    cv2.imwrite(str(gt / 'a.png'), np.zeros((4, 4), np.uint8))
    assert main(['eval', 'seg', '--gt', str(gt), '--pred', str(pred)]) == 2
    assert "'a'" in capsys.readouterr().err
    cv2.imwrite(str(pred / 'a.png'), np.full((4, 4), 7, np.uint8))
    assert main(['eval', 'seg', '--gt', str(gt), '--pred', str(pred), '--classes', 'pst900']) == 2
    err = _error_lines(capsys.readouterr().err)
    assert len(err) == 1 and 'class id 7' in err[0]


def test_segment_bad_inputs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], shared_data: Path) -> None:
    assert main(['segment', '--rgb', str(tmp_path / 'nope.png'), '--png', str(tmp_path / 'o.png')]) == 2
    assert 'nope.png' in capsys.readouterr().err
    ckpt = tmp_path / 'bad.pth'
    ckpt.write_bytes(b'garbage')
    rgb = shared_data / 'rgbt' / 'MFNet' / '01477D.png'
    assert main(['segment', '--rgb', str(rgb), '--png', str(tmp_path / 'o.png'), '--checkpoint', str(ckpt)]) == 2
    err = _error_lines(capsys.readouterr().err)
    assert len(err) == 1 and 'bad.pth' in err[0]
    torch.save({'state_dict': {'rgb_encoder.stem.0.0.weight': torch.zeros(1)}}, ckpt)
    assert main(['segment', '--rgb', str(rgb), '--png', str(tmp_path / 'o.png'), '--checkpoint', str(ckpt)]) == 2
    assert 'does not match' in capsys.readouterr().err


def test_dataset_registers_thermal_and_depth_into_camera(layout: Path) -> None:
    from omnifuse.datasets.rgbx_seg import RGBXSegDataset

    thermal = RGBXSegDataset(str(layout), modality='thermal', class_names=('a', 'b', 'c', 'd'))
    item = thermal[0]
    x = item['inputs']['x'].numpy()[0]
    assert item['inputs']['rgb'].shape == (3, H, W) and x.shape == (H, W)
    assert item['data_samples'].x_valid and set(np.unique(item['data_samples'].gt_sem_seg)) <= {0, 1, 2, 255}
    # The warm thermal blob is seen at the red object's place in the camera (label 2 at rows 20..44).
    label = item['data_samples'].gt_sem_seg.numpy()
    assert x[label == 2].mean() > x[label == 0].mean() + 0.3
    depth = RGBXSegDataset(str(layout), modality='depth', class_names=('a',), scale=0.5)[1]
    d = depth['inputs']['x'].numpy()[0]
    assert d.shape == (H // 2, W // 2) and (d > 0).any() and d.max() <= 1.0
    assert depth['data_samples'].gt_sem_seg.shape == (H // 2, W // 2)
