"""Every detection config builds on CPU; the KITTI and Waymo configs load the shared samples, train a step
and infer end to end."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

import omnifuse.datasets.det_dataset  # noqa: F401
import omnifuse.detectors  # noqa: F401
from omnifuse.registry import DATASETS, MODELS

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / 'configs' / 'logonet').glob('*.py'))


def test_the_variants_exist() -> None:
    names = {p.name for p in CONFIGS}
    for variant in ('lidar_only', 'logonet', 'logonet_thermal'):
        for dataset in ('sim', 'kitti'):
            assert f'{variant}_1xb2-40e_{dataset}.py' in names
    assert 'fast_lidar-cam_1xb2-40e_kitti.py' in names and 'logonet_1xb1-40e_waymo.py' in names


@pytest.mark.parametrize('path', CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_builds_on_cpu(path: Path) -> None:
    cfg = Config.fromfile(path)
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 100_000
    assert all(p.device.type == 'cpu' for p in model.parameters())
    has_camera = 'lidar_only' not in path.name and not re.match(r'fast_lidar\d*_', path.name)  # fast_lidar16_: 16 beams
    assert (model.image_encoder is not None) == has_camera
    assert (model.thermal_encoder is not None) == ('thermal' in path.name)
    if has_camera:
        assert len(model.roi_head.gof) == 1 and model.roi_head.lof is not None
    assert model.roi_head.fda is not None
    loader = cfg.train_dataloader
    # a training set made of several (mmengine's ConcatDataset): each part is checked
    parts = loader.dataset.datasets if loader.dataset.type == 'ConcatDataset' else [loader.dataset]
    assert len(parts) >= 1
    for part in parts:
        assert part.type in ('KittiDetDataset', 'WaymoDetDataset')
        assert list(part.class_names) == list(model.class_names)


def _one_step_and_predict(cfg: Config, root: Path, *, image_set_none: bool, train: bool = True) -> None:
    torch.manual_seed(0)
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.data_root = str(root)
    if image_set_none:
        ds_cfg.image_set = None
    dataset = DATASETS.build(ds_cfg)
    model = MODELS.build(cfg.model)
    model.train()
    batch = pseudo_collate([dataset[0]])
    if train:
        opt = torch.optim.SGD(model.parameters(), lr=1e-4)
        losses = model.train_step(batch, _Wrapper(opt))
        assert all(torch.isfinite(v) for v in losses.values())
    model.eval()
    pred = model.test_step(batch)[0].pred
    assert pred.boxes.shape[1] == 7 and len(pred) > 0


class _Wrapper:
    """The smallest optimizer wrapper BaseModel.train_step needs."""

    def __init__(self, opt: torch.optim.Optimizer) -> None:
        self.opt = opt

    def optim_context(self, model):  # noqa: ANN001
        import contextlib
        return contextlib.nullcontext()

    def update_params(self, loss: torch.Tensor) -> None:
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()


def test_fast_kitti_config_infers_on_a_full_real_kitti_scan(kitti_root) -> None:
    # (training steps of the KITTI config on the real frames: tests/commands/test_train_smoke.py)
    _one_step_and_predict(Config.fromfile(REPO / 'configs/logonet/fast_lidar-cam_1xb2-40e_kitti.py'), kitti_root,
                          image_set_none=True, train=False)


@pytest.mark.parametrize('variant', ['lidar_only', 'logonet', 'logonet_thermal'])
def test_kitti_config_trains_a_step_and_infers_on_real_kitti(variant: str, kitti_root) -> None:
    # The shared KITTI frames have no thermal image: the thermal variant runs with that modality missing.
    _one_step_and_predict(Config.fromfile(REPO / f'configs/logonet/{variant}_1xb2-40e_kitti.py'), kitti_root,
                          image_set_none=True)


def test_waymo_config_trains_a_step_and_infers_on_real_waymo(shared_data) -> None:
    _one_step_and_predict(Config.fromfile(REPO / 'configs/logonet/logonet_1xb1-40e_waymo.py'),
                          shared_data / 'waymo' / 'kitti_format', image_set_none=False)
