"""Auxiliary image semantics: labels loaded with their image, resized/dropped/packed/padded with it, and the
detector's per-modality aux loss (finite, positive, trainable, absent unless configured, never at inference).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate

import omnifuse.detectors  # noqa: F401
from omnifuse.datasets.det_dataset import KittiDetDataset
from omnifuse.datasets.sim import LidarModel, generate_frame, write_kitti
from omnifuse.datasets.transforms import CAMS_OF_FIELD, ImageResize, PackDetInputs, RandomDropModality
from omnifuse.detectors import DetDataPreprocessor
from omnifuse.registry import MODELS

RANGE = [0.0, -12.8, -3.0, 25.6, 12.8, 1.0]
CLASSES = ['Car', 'Pedestrian', 'Cyclist']
NUM_SEM = 13


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """One torch thread for these small models (on a busy 2-core machine two threads mostly wait)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='module')
def sim_root(tmp_path_factory) -> tuple[Path, list]:
    """A two-frame KITTI-layout folder written by the simulator; frame 000001 has no thermal labels."""
    root = tmp_path_factory.mktemp('sim_kitti')
    frames = [generate_frame(seed, lidar=LidarModel(n_azimuth=500)) for seed in (3, 4)]
    write_kitti(frames, root)
    (root / 'training' / 'semantic_thermal' / '000001.png').unlink()
    return root, frames


def _dataset(root: Path, *, pipeline: list | tuple = (), load_semantics: bool = True) -> KittiDetDataset:
    return KittiDetDataset(data_root=str(root), class_names=CLASSES, pipeline=list(pipeline),
                           use_thermal=True, load_semantics=load_semantics)


def _copy(res: dict) -> dict:
    out = dict(res)
    out['cams'] = {m: {k: dict(v) for k, v in store.items()} for m, store in res['cams'].items()}
    for key in ('images', 'thermal', 'semantics'):
        out[key] = dict(res.get(key, {}))
    return out


def test_semantics_are_loaded_per_camera(sim_root) -> None:
    root, frames = sim_root
    ds = _dataset(root)
    res = ds.get_data_info(0)
    assert res['semantics'].keys() == {'camera', 'thermal'}
    assert set(res['semantics']['camera']) == {'image_2'} and set(res['semantics']['thermal']) == {'thermal'}
    np.testing.assert_array_equal(res['semantics']['camera']['image_2'], frames[0].semantic_2)
    np.testing.assert_array_equal(res['semantics']['thermal']['thermal'], frames[0].semantic_thermal)
    assert res['semantics']['camera']['image_2'].shape == res['images']['image_2'].shape[:2]
    assert res['semantics']['thermal']['thermal'].shape == res['thermal']['thermal'].shape[:2]
    assert all(m.dtype == np.uint8 for store in res['semantics'].values() for m in store.values())
    # a missing label file is no entry, not an error
    second = ds.get_data_info(1)['semantics']
    assert set(second) == {'camera'} and set(second['camera']) == {'image_2'}
    # off by default; and no label for an image that is not loaded
    assert 'semantics' not in _dataset(root, load_semantics=False).get_data_info(0)
    no_thermal = KittiDetDataset(data_root=str(root), class_names=CLASSES, use_thermal=False,
                                 load_semantics=True)
    assert set(no_thermal.get_data_info(0)['semantics']) == {'camera'}


@pytest.mark.parametrize('scale', [0.5, 0.37])
def test_resize_keeps_labels_aligned_and_nearest(sim_root, scale: float) -> None:
    root, _ = sim_root
    src = _dataset(root).get_data_info(0)
    res = ImageResize(scale=scale)(_copy(src))
    for field, name in (('images', 'image_2'), ('thermal', 'thermal')):
        modality = CAMS_OF_FIELD[field]
        sem, img, orig = res['semantics'][modality][name], res[field][name], src['semantics'][modality][name]
        assert sem.shape == img.shape[:2] == tuple(res['cams'][CAMS_OF_FIELD[field]][name]['img_hw'])
        assert sem.dtype == np.uint8
        assert set(np.unique(sem)) <= set(np.unique(orig))  # nearest: no blended ids
        # each label is the source label of a pixel within one source pixel of the mapped position
        h, w = orig.shape
        rows = np.clip(np.floor((np.arange(sem.shape[0]) + 0.5) * h / sem.shape[0]).astype(int), 0, h - 1)
        cols = np.clip(np.floor((np.arange(sem.shape[1]) + 0.5) * w / sem.shape[1]).astype(int), 0, w - 1)
        agree = np.zeros(sem.shape, dtype=bool)
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                r, c = np.clip(rows + dr, 0, h - 1), np.clip(cols + dc, 0, w - 1)
                agree |= orig[np.ix_(r, c)] == sem
        assert agree.all()


def test_drop_removes_only_the_dropped_images_labels(sim_root) -> None:
    root, _ = sim_root
    src = _dataset(root).get_data_info(0)
    res = RandomDropModality(camera_prob=1.0, seed=0)(_copy(src))
    assert res['images'] == {} and set(res['semantics']) == {'thermal'}
    res = RandomDropModality(thermal_prob=1.0, seed=0)(_copy(src))
    assert res['thermal'] == {} and set(res['semantics']) == {'camera'}
    packed = PackDetInputs()(RandomDropModality(camera_prob=1.0, thermal_prob=1.0, seed=0)(_copy(src)))
    assert packed['data_samples'].cameras == {'camera': {}, 'thermal': {}}


def test_colour_and_thermal_cameras_of_one_name_keep_their_own_labels() -> None:
    cams = {m: {'front': {'lidar2img': np.eye(4), 'P': np.eye(4)[:3], 'img_hw': hw}}
            for m, hw in (('camera', (40, 60)), ('thermal', (20, 30)))}
    res = {'images': {'front': np.zeros((40, 60, 3), np.uint8)}, 'thermal': {'front': np.zeros((20, 30), np.float32)},
           'semantics': {'camera': {'front': np.full((40, 60), 1, np.uint8)},
                         'thermal': {'front': np.full((20, 30), 2, np.uint8)}},
           'cams': cams, 'points': np.zeros((1, 4), np.float32)}
    res = ImageResize(scale=0.5)(res)
    assert res['semantics']['camera']['front'].shape == (20, 30)
    assert res['semantics']['thermal']['front'].shape == (10, 15)
    sample = PackDetInputs()(res)['data_samples']
    assert set(sample.cameras['camera']['front'].semantics.unique().tolist()) == {1}
    assert set(sample.cameras['thermal']['front'].semantics.unique().tolist()) == {2}
    dropped = RandomDropModality(thermal_prob=1.0, seed=0)(res)
    assert set(dropped['semantics']) == {'camera'}


def test_pack_and_pad_with_ignore(sim_root) -> None:
    root, _ = sim_root
    ds = _dataset(root, pipeline=[dict(type='ImageResize', scale=0.25), dict(type='PackDetInputs')])
    a, b = ds[0], ds[1]
    sa = a['data_samples']
    assert {(m, n) for m, views in sa.cameras.items() for n in views} == {('camera', 'image_2'),
                                                                           ('thermal', 'thermal')}
    for views in sa.cameras.values():
        for view in views.values():
            assert view.semantics.dtype == torch.int64 and view.semantics.ndim == 2
            assert tuple(view.semantics.shape) == tuple(view.image.shape[1:])
    # give the second sample a smaller camera image so that padding differs between the two
    sb = b['data_samples']
    cam_b = sb.cameras['camera']['image_2']
    small = replace(cam_b, image=cam_b.image[:, :20, :50].contiguous(),
                    semantics=cam_b.semantics[:20, :50].contiguous())
    sb = replace(sb, cameras={**sb.cameras, 'camera': {'image_2': small}})
    b = {**b, 'data_samples': sb}
    pre = DetDataPreprocessor(pad_divisor=32)
    out = pre(pseudo_collate([a, b]), True)['inputs']['images']
    cam, th = out['camera']['image_2'], out['thermal']['thermal']
    for entry in (cam, th):
        assert entry['semantics'].dtype == torch.int64
        assert entry['semantics'].shape == (2, *entry['img'].shape[-2:])
    sem_a = sa.cameras['camera']['image_2'].semantics
    h, w = sem_a.shape
    assert torch.equal(cam['semantics'][0, :h, :w], sem_a)
    assert (cam['semantics'][0, h:] == 255).all() and (cam['semantics'][0, :, w:] == 255).all()
    assert torch.equal(cam['semantics'][1, :20, :50], small.semantics)
    assert (cam['semantics'][1, 20:] == 255).all() and (cam['semantics'][1, :, 50:] == 255).all()
    # sample 1 has a thermal image but no thermal labels: all ignore
    assert sb.cameras['thermal']['thermal'].semantics is None and (th['semantics'][1] == 255).all()
    assert (th['semantics'][0] != 255).any()


def _model_cfg(tiny_detector_cfg, *, image_aux: dict | None) -> dict:
    return tiny_detector_cfg(point_range=RANGE, thermal=True, image_aux=image_aux)


@pytest.fixture(scope='module')
def batch(sim_root) -> dict:
    root, _ = sim_root
    ds = _dataset(root, pipeline=[dict(type='PointRangeFilter', point_range=RANGE),
                                  dict(type='ObjectRangeFilter', point_range=RANGE),
                                  dict(type='ObjectNameFilter', classes=CLASSES),
                                  dict(type='ImageResize', scale=0.25), dict(type='PackDetInputs')])
    return pseudo_collate([ds[0], ds[1]])


def test_aux_loss_is_finite_positive_and_trains(batch, tiny_detector_cfg) -> None:
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg(tiny_detector_cfg, image_aux=dict(num_classes=NUM_SEM, loss_weight=0.5)))
    model.train()
    assert set(model.image_aux_heads) == {'camera', 'thermal'}
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')  # the full training forward reports both aux losses
    for key in ('loss_img_sem_camera', 'loss_img_sem_thermal'):
        assert torch.isfinite(losses[key]) and float(losses[key]) > 0
    model.zero_grad()
    (losses['loss_img_sem_camera'] + losses['loss_img_sem_thermal']).backward()
    for m in ('camera', 'thermal'):  # the aux loss alone reaches both heads and both encoders
        assert float(model.image_aux_heads[m].weight.grad.abs().sum()) > 0
    for enc in (model.image_encoder, model.thermal_encoder):
        assert float(enc.stem[0].weight.grad.abs().sum()) > 0
    # a few SGD steps on the image path alone (encoders + heads, as in forward) lower the aux loss
    params = [p for n, p in model.named_parameters() if n.startswith(('image_encoder', 'thermal_encoder',
                                                                       'image_aux_heads'))]
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    images = data['inputs']['images']
    history = []
    for _ in range(8):
        aux = model.image_aux_loss(images, model._encode_images(images))
        total = aux['loss_img_sem_camera'] + aux['loss_img_sem_thermal']
        opt.zero_grad()
        total.backward()
        opt.step()
        history.append(float(total.detach()))
    assert all(np.isfinite(history)) and history[-1] < 0.7 * history[0], history
    # the loss is weighted: twice the weight, twice the loss on the same features
    heavy = MODELS.build(_model_cfg(tiny_detector_cfg, image_aux=dict(num_classes=NUM_SEM, loss_weight=1.0)))
    heavy.load_state_dict(model.state_dict())
    model.eval()
    heavy.eval()
    with torch.no_grad():
        feats = model._encode_images(data['inputs']['images'])
        a = model.image_aux_loss(data['inputs']['images'], feats)
        b = heavy.image_aux_loss(data['inputs']['images'], feats)
    torch.testing.assert_close(b['loss_img_sem_camera'], 2 * a['loss_img_sem_camera'])


def test_no_labels_gives_a_zero_loss_in_the_graph(batch, tiny_detector_cfg) -> None:
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg(tiny_detector_cfg, image_aux=dict(num_classes=NUM_SEM, loss_weight=0.5)))
    model.train()
    unlabelled = {'inputs': batch['inputs'], 'data_samples': [
        replace(s, cameras={m: {n: replace(v, semantics=None) for n, v in views.items()}
                            for m, views in s.cameras.items()})
        for s in batch['data_samples']]}
    data = model.data_preprocessor(unlabelled, True)
    assert all('semantics' not in cam for mod in data['inputs']['images'].values() for cam in mod.values())
    losses = model(**data, mode='loss')
    for key in ('loss_img_sem_camera', 'loss_img_sem_thermal'):
        assert float(losses[key]) == 0.0 and losses[key].requires_grad
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in model.image_aux_heads.parameters())


def test_without_image_aux_no_head_and_inference_skips_it(batch, tiny_detector_cfg) -> None:
    torch.manual_seed(0)
    plain = MODELS.build(_model_cfg(tiny_detector_cfg, image_aux=None))
    assert plain.image_aux_heads is None
    assert not any('image_aux' in k for k in plain.state_dict())
    aux = MODELS.build(_model_cfg(tiny_detector_cfg, image_aux=dict(num_classes=NUM_SEM)))
    extra = set(aux.state_dict()) - set(plain.state_dict())
    assert extra == {f'image_aux_heads.{m}.{p}' for m in ('camera', 'thermal') for p in ('weight', 'bias')}
    plain.train()
    losses = plain(**plain.data_preprocessor(batch, True), mode='loss')
    assert not any(k.startswith('loss_img_sem') for k in losses)
    # inference never runs the heads, and predicts exactly what the same weights without them predict
    aux.load_state_dict({**plain.state_dict(), **{k: aux.state_dict()[k] for k in extra}})
    calls = []
    for head in aux.image_aux_heads.values():
        head.register_forward_hook(lambda *_: calls.append(1))
    plain.eval()
    aux.eval()
    with torch.no_grad():
        p1 = plain.test_step(batch)
        p2 = aux.test_step(batch)
    assert calls == []
    for s1, s2 in zip(p1, p2, strict=True):
        torch.testing.assert_close(s1.pred.boxes, s2.pred.boxes)


def test_image_aux_config_errors(tiny_detector_cfg) -> None:
    with pytest.raises(ValueError, match='num_classes'):
        MODELS.build(_model_cfg(tiny_detector_cfg, image_aux=dict(loss_weight=0.5)))
    cfg = _model_cfg(tiny_detector_cfg, image_aux=dict(num_classes=NUM_SEM))
    cfg.update(image_encoder=None, thermal_encoder=None, roi_head=None)
    with pytest.raises(ValueError, match='image_encoder'):
        MODELS.build(cfg)


def test_label_of_the_wrong_size_is_a_format_error(tmp_path) -> None:
    import cv2

    from omnifuse.errors import FormatError

    write_kitti([generate_frame(5, lidar=LidarModel(n_azimuth=500))], tmp_path)
    path = tmp_path / 'training' / 'semantic_2' / '000000.png'
    cv2.imwrite(str(path), np.zeros((10, 20), np.uint8))
    with pytest.raises(FormatError, match=r'semantic_2/000000\.png.*differs'):
        _dataset(tmp_path).get_data_info(0)
