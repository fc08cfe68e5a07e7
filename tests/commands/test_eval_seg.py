"""Frame selection of `omnifuse eval seg` (--condition, --image-set), training crops of RGBXSegDataset and the
shipped CMX checkpoints (the default of `omnifuse segment`)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from omnifuse.cli import main

CONDITIONS = ('day', 'night', 'day', 'fog', 'night', 'night')
K = 4


def _write_split(root: Path, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """semantic_2/ (gt), meta/ (conditions) and a prediction folder; returns {id: (gt, pred, condition)}."""
    rng = np.random.default_rng(seed)
    for sub in ('semantic_2', 'meta', 'pred'):
        (root / sub).mkdir(parents=True, exist_ok=True)
    frames = {}
    for i, cond in enumerate(CONDITIONS):
        fid = f'{i:06d}'
        gt = rng.integers(0, K, (12, 20)).astype(np.uint8)
        gt[0] = 255
        pred = np.where(rng.random(gt.shape) < 0.3 + 0.1 * i, rng.integers(0, K, gt.shape), gt).astype(np.uint8)
        pred[pred == 255] = 0
        cv2.imwrite(str(root / 'semantic_2' / f'{fid}.png'), gt)
        cv2.imwrite(str(root / 'pred' / f'{fid}.png'), pred)
        (root / 'meta' / f'{fid}.json').write_text(json.dumps({'condition': cond, 'frame_id': fid}))
        frames[fid] = (gt, pred, cond)
    return frames


def _miou(pairs: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Independent reference: IoU per class over the pooled pixels (gt != 255), mean over defined classes."""
    gt = np.concatenate([g.reshape(-1) for g, _ in pairs]).astype(np.int64)
    pred = np.concatenate([p.reshape(-1) for _, p in pairs]).astype(np.int64)
    keep = gt != 255
    gt, pred = gt[keep], pred[keep]
    ious = []
    for k in range(K):
        inter = np.sum((gt == k) & (pred == k))
        union = np.sum((gt == k) | (pred == k))
        if union:
            ious.append(inter / union)
    return float(np.mean(ious))


@pytest.mark.parametrize('condition', ['night', 'day'])
def test_eval_seg_condition_scores_only_those_frames(tmp_path: Path, condition: str) -> None:
    frames = _write_split(tmp_path)
    out = tmp_path / f'{condition}.json'
    assert main(['eval', 'seg', '--gt', str(tmp_path / 'semantic_2'), '--pred', str(tmp_path / 'pred'),
                 '--classes', 'a,b,c,d', '--condition', condition, '--json', str(out)]) == 0
    scores = json.loads(out.read_text())
    chosen = [(g, p) for g, p, c in frames.values() if c == condition]
    assert scores['num_images'] == len(chosen)
    assert scores['condition'] == condition
    assert scores['miou'] == pytest.approx(_miou(chosen))
    everything = tmp_path / 'all.json'
    assert main(['eval', 'seg', '--gt', str(tmp_path / 'semantic_2'), '--pred', str(tmp_path / 'pred'),
                 '--classes', 'a,b,c,d', '--json', str(everything)]) == 0
    assert json.loads(everything.read_text())['miou'] == pytest.approx(_miou([(g, p) for g, p, _ in frames.values()]))


def test_eval_seg_image_set_and_condition_combine(tmp_path: Path) -> None:
    frames = _write_split(tmp_path)
    listing = tmp_path / 'subset.txt'
    listing.write_text('000001\n000003\n000004\n')
    out = tmp_path / 's.json'
    assert main(['eval', 'seg', '--gt', str(tmp_path / 'semantic_2'), '--pred', str(tmp_path / 'pred'),
                 '--classes', 'a,b,c,d', '--split', str(listing), '--condition', 'night',
                 '--json', str(out)]) == 0
    scores = json.loads(out.read_text())
    assert scores['num_images'] == 2  # 000001 and 000004 are night, 000003 is fog
    assert scores['miou'] == pytest.approx(_miou([frames['000001'][:2], frames['000004'][:2]]))


def test_eval_seg_selection_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_split(tmp_path)
    base = ['eval', 'seg', '--gt', str(tmp_path / 'semantic_2'), '--pred', str(tmp_path / 'pred'), '--classes',
            'a,b,c,d']
    assert main(base + ['--condition', 'glare']) == 2
    assert 'no frame selected' in capsys.readouterr().err
    listing = tmp_path / 'bad.txt'
    listing.write_text('000001\n999999\n')
    assert main(base + ['--split', str(listing)]) == 2
    assert '999999' in capsys.readouterr().err
    (tmp_path / 'meta' / '000002.json').write_text('{not json')
    assert main(base + ['--condition', 'day']) == 2
    err = capsys.readouterr().err
    assert '000002.json' in err and 'Traceback' not in err


def test_dataset_crop_keeps_rgb_x_label_aligned(tmp_path: Path) -> None:
    from omnifuse.datasets.rgbx_seg import RGBXSegDataset
    from omnifuse.errors import FormatError

    root = tmp_path / 'kitti'
    for sub in ('image_2', 'velodyne', 'calib', 'semantic_2'):
        (root / 'training' / sub).mkdir(parents=True)
    h, w = 40, 90
    yy, xx = np.mgrid[0:h, 0:w]
    label = ((yy * w + xx) % 251).astype(np.uint8)  # every pixel's position encoded in its label
    rgb = np.stack([label, label, label], -1)
    cv2.imwrite(str(root / 'training' / 'image_2' / '000000.png'), rgb)
    cv2.imwrite(str(root / 'training' / 'semantic_2' / '000000.png'), label)
    np.zeros((0, 4), np.float32).tofile(root / 'training' / 'velodyne' / '000000.bin')
    (root / 'training' / 'calib' / '000000.txt').write_text(
        'P2: 50 0 45 0 0 50 20 0 0 0 1 0\nTr_velo_to_cam: 0 -1 0 0 0 0 -1 0 1 0 0 0\nR0_rect: 1 0 0 0 1 0 0 0 1\n')
    data = RGBXSegDataset(str(root), modality='depth', crop_size=(32, 50), seed=3)
    seen = set()
    for _ in range(6):
        item = data[0]
        img = item['inputs']['rgb'].numpy()
        gt = item['data_samples'].gt_sem_seg.numpy()
        assert img.shape == (3, 32, 50) and gt.shape == (32, 50) and item['inputs']['x'].shape == (1, 32, 50)
        assert np.array_equal(img[0].astype(np.int64), gt)
        seen.add(int(gt[0, 0]))
    assert len(seen) > 1  # the crop moves
    whole = RGBXSegDataset(str(root), modality='depth', crop_size=(400, 400))[0]
    assert whole['data_samples'].gt_sem_seg.shape == (h, w)  # a crop larger than the image keeps it whole
    with pytest.raises(FormatError, match='crop_size'):
        RGBXSegDataset(str(root), modality='depth', crop_size=(0, 5))


def test_shipped_cmx_checkpoints_fit_their_configs(repo_root: Path) -> None:
    import torch

    from omnifuse.apis.segmentation import SHIPPED, default_checkpoint
    from omnifuse.segmentation.inference import build_segmentor

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (3, 48, 64)).astype(np.uint8)
    for stem, name in SHIPPED.items():
        config = repo_root / 'configs' / 'cmx' / f'{stem}.py'
        ckpt = default_checkpoint(config)
        assert ckpt is not None and ckpt.name == name
        assert ckpt.stat().st_size < 6e6
        model, _ = build_segmentor(config, checkpoint=ckpt)
        random_model, _ = build_segmentor(config)
        batch = {'rgb': torch.from_numpy(rgb).float()[None], 'x': torch.rand(1, 1, 48, 64),
                 'x_valid': torch.ones(1, dtype=torch.bool)}
        with torch.no_grad():
            assert not torch.allclose(model(batch), random_model(batch))  # the trained weights were loaded
    assert default_checkpoint(repo_root / 'configs' / 'logonet' / 'lidar_only_1xb2-40e_sim.py') is None


def test_segment_defaults_to_the_shipped_rgbt_model(tmp_path: Path, shared_data: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    rgbt = shared_data / 'rgbt' / 'PST900'
    ids = tmp_path / 'ids.png'
    assert main(['segment', '--rgb', str(rgbt / 'sample_rgb.png'), '--x', str(rgbt / 'sample_thermal8.png'),
                 '--labels', str(ids), '--device', 'cpu']) == 0
    assert 'random' not in capsys.readouterr().err
    labels = cv2.imread(str(ids), cv2.IMREAD_UNCHANGED)
    assert labels.shape == (720, 1280) and labels.max() < 13
    assert main(['segment', '--rgb', str(rgbt / 'sample_rgb.png'), '--labels', str(tmp_path / 'r.png'),
                 '--checkpoint', 'none', '--device', 'cpu']) == 0
    assert 'random' in capsys.readouterr().err
