"""End to end on the real shared KITTI frames: train, resume, test --out, detect; and 2-process DDP on CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from omnifuse.cli import main

SMALL = """
_base_ = ['{repo}/configs/logonet/fast_lidar-cam_1xb2-40e_kitti.py']
point_range = [0, -16, -3, 32, 16, 1]
model = dict(
    lidar_encoder=dict(point_range=point_range, voxel_size=[0.2, 0.2, 0.25], channels=[8, 8, 16, 16], out_channels=16),
    bev_neck=dict(layer_nums=[1, 1], num_filters=[16, 16], out_channels=[16, 16]),
    dense_head=dict(head_channels=16, post_max=[16, 8]),
    image_encoder=dict(stem_channels=8, channels=[8, 16, 16], out_channels=8),
    roi_head=dict(level_channels=dict(x_conv3=16, x_conv4=16), bev_channels=32, grid_channels=8, fc_channels=[32, 32],
                  num_rois=8, fda_heads=2))
pipe = [dict(type='ImageResize', scale=0.25), dict(type='PointRangeFilter', point_range=point_range),
        dict(type='ObjectNameFilter', classes=['Car', 'Pedestrian', 'Cyclist']), dict(type='PackDetInputs')]
loader = dict(num_workers=0, persistent_workers=False,
              dataset=dict(data_root='{kitti}', image_set=None, pipeline=pipe))
train_dataloader = dict(batch_size={batch}, **loader)
val_dataloader = dict(**loader)
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
randomness = dict(seed=0)
"""


def _write_config(tmp_path: Path, repo_root: Path, kitti_root: Path, batch: int) -> Path:
    path = tmp_path / f'small_b{batch}.py'
    path.write_text(SMALL.format(repo=repo_root, kitti=kitti_root, batch=batch))
    return path


def test_train_resume_test_detect(tmp_path, repo_root, kitti_root, capsys) -> None:
    cfg = _write_config(tmp_path, repo_root, kitti_root, batch=2)
    wd = tmp_path / 'wd'
    assert main(['train', str(cfg), '--work-dir', str(wd), '--no-progress']) == 0
    assert (wd / 'epoch_1.pth').is_file()
    weights = torch.load(wd / 'weights.pth', weights_only=True)
    assert weights['meta']['epoch'] == 1 and 'LoGoNetDetector' in weights['meta']['config']
    out = capsys.readouterr().out
    assert 'weights-only checkpoint' in out

    # resume: one more epoch, continuing from epoch_1
    assert main(['train', str(cfg), '--work-dir', str(wd), '--resume', '--no-progress',
                 '--cfg-options', 'train_cfg.max_epochs=2']) == 0
    assert (wd / 'epoch_2.pth').is_file()
    assert torch.load(wd / 'weights.pth', weights_only=True)['meta']['iter'] == 2

    # test with the exported weights: KittiMetric runs, labels written
    preds = tmp_path / 'preds'
    assert main(['test', str(cfg), str(wd / 'weights.pth'), '--out', str(preds), '--work-dir', str(wd)]) == 0
    out = capsys.readouterr().out
    assert 'kitti/Car_3d_moderate_AP40' in out
    for frame in ('000000', '000002'):
        lines = (preds / f'{frame}.txt').read_text().splitlines()
        assert all(len(line.split()) == 16 for line in lines)

    # detect: the checkpoint carries its config
    det = tmp_path / 'det'
    assert main(['detect', '--kitti-root', str(kitti_root), '--frame', '000002', '--checkpoint',
                 str(wd / 'weights.pth'), '--out', str(det / 'pred'), '--png-dir', str(det / 'png'),
                 '--score-thr', '0']) == 0
    assert (det / 'png' / '000002.png').stat().st_size > 10_000
    assert all(len(line.split()) == 16 for line in (det / 'pred' / '000002.txt').read_text().splitlines())

    # a checkpoint of another model is refused with the mismatching keys named
    code = main(['detect', '--kitti-root', str(kitti_root), '--frame', '000002', '--checkpoint',
                 str(wd / 'weights.pth'), '--config',
                 str(repo_root / 'configs/logonet/lidar_only_1xb2-40e_sim.py')])
    err = capsys.readouterr().err
    assert code == 2 and 'does not match the model' in err and 'image_encoder' in err


def test_ddp_two_cpu_processes_agree(tmp_path, repo_root, kitti_root) -> None:
    cfg = _write_config(tmp_path, repo_root, kitti_root, batch=1)
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(repo_root))
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', '29533',
           '-m', 'omnifuse', 'train', str(cfg), '--launcher', 'pytorch', '--work-dir', str(tmp_path / 'ddp'),
           '--no-progress', '--cfg-options', 'train_cfg.max_epochs=2', 'train_cfg.val_interval=100']
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith('DDP check'))
    assert '2 ranks' in line and 'max difference 0' in line
    assert (tmp_path / 'ddp' / 'epoch_2.pth').is_file()
    # 2 frames on 2 ranks with batch 1: one iteration per epoch
    assert torch.load(tmp_path / 'ddp' / 'weights.pth', weights_only=True)['meta']['iter'] == 2


if __name__ == '__main__':
    pytest.main([__file__])
