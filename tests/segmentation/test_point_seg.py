"""Point segmentation: the sim dataset (FOV mask, calibration error, augmentation), the three fusion variants,
the metric, a tiny overfit and one mmengine Runner round trip on configs/pointseg."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from omnifuse.datasets.point_seg_dataset import PointSegDataset, perturb_extrinsics, read_point_labels
from omnifuse.errors import FormatError
from omnifuse.evaluation.point_seg_metric import PointSegMetric
from omnifuse.segmentation.point_seg import PointSegmentor
from omnifuse.structures.det_sample import SampleCamera, empty_cameras
from omnifuse.structures.seg_sample import PointSegPredictions, PointSegSample

RANGE = (-20.0, -20.0, -3.0, 40.0, 20.0, 3.0)
TINY = dict(num_classes=13, point_range=RANGE, voxel_size=(0.4, 0.4, 0.4), unet_channels=(8, 16),
            point_channels=16, area_channels=16, head_channels=16,
            image_encoder=dict(stem_channels=8, channels=(8, 16), blocks=(1, 1), out_channels=8,
                               out_stride=4))


@pytest.fixture(autouse=True)
def one_thread():
    """One CPU thread: spconv's multi-threaded CPU scatter is not bit-reproducible (~1e-5), and on a busy
    2-core machine two OpenMP threads spin-wait for each other (10x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def sim_root(tmp_path_factory) -> Path:
    """Two simulated frames (two worlds) in the KITTI layout, with per-point labels."""
    from omnifuse.datasets.sim.generate import generate_frame
    from omnifuse.datasets.sim.writer_kitti import write_kitti

    root = tmp_path_factory.mktemp('sim_pointseg')
    write_kitti([generate_frame(11, condition='day'), generate_frame(12, condition='night')], root)
    return root


def _dataset(root: Path, **kw) -> PointSegDataset:
    args = dict(point_range=RANGE, max_points=3000, image_scale=0.25)
    args.update(kw)
    return PointSegDataset(str(root), **args)


# ---- dataset ----
def test_dataset_item_is_cropped_subsampled_and_labelled(sim_root):
    ds = _dataset(sim_root)
    item = ds.load(0)
    pts = item['points']
    assert pts.shape == (3000, 4) and item['labels'].shape == (3000,) and item['in_fov'].shape == (3000,)
    assert np.all(pts[:, 0] >= RANGE[0]) and np.all(pts[:, 0] < RANGE[3])
    assert 0 not in item['labels']  # 'unlabeled' becomes the ignore index
    assert item['image'].shape == (94, 310, 3)  # 375 x 1242 at 0.25
    assert item['condition'] == 'day'
    # in_fov: the points that project into the (true) camera image; the scaled lidar2img agrees.
    hom = np.c_[pts[:, :3], np.ones(len(pts))] @ item['lidar2img'].T
    uv = hom[:, :2] / hom[:, 2:3]
    inside = (hom[:, 2] > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < 310.5) & (uv[:, 1] >= 0) & (uv[:, 1] < 93.75)
    assert 0.05 < item['in_fov'].mean() < 0.6
    assert (inside == item['in_fov']).mean() > 0.995
    assert np.array_equal(ds.load(0)['points'], pts)  # deterministic outside training


def test_dataset_getitem_gives_the_camera_on_the_sample(sim_root):
    item = _dataset(sim_root).load(0)
    got = _dataset(sim_root)[0]
    assert set(got['inputs']) == {'points'}
    sample = got['data_samples']
    assert sample.camera_names('camera') == ['image_2'] and sample.camera_names('thermal') == []
    cam = sample.cameras['camera']['image_2']
    assert cam.image.dtype == torch.uint8 and tuple(cam.image.shape) == (3, 94, 310)
    assert np.array_equal(cam.image.permute(1, 2, 0).numpy(), item['image'])
    assert cam.lidar2img.dtype == np.float64 and np.array_equal(cam.lidar2img, item['lidar2img'])
    assert np.array_equal(got['inputs']['points'].numpy(), item['points'])
    assert np.array_equal(sample.gt_pts_seg.numpy(), item['labels'])
    lidar_only = _dataset(sim_root, load_image=False)[0]['data_samples']
    assert lidar_only.cameras == {'camera': {}, 'thermal': {}}


def test_dataset_calib_error_changes_only_the_model_camera(sim_root):
    clean, noisy = _dataset(sim_root).load(1), _dataset(sim_root, calib_error=(1.0, 0.2)).load(1)
    assert np.array_equal(clean['in_fov'], noisy['in_fov'])
    assert not np.allclose(clean['lidar2img'], noisy['lidar2img'])
    hom_c = np.c_[clean['points'][:, :3], np.ones(3000)] @ clean['lidar2img'].T
    hom_n = np.c_[clean['points'][:, :3], np.ones(3000)] @ noisy['lidar2img'].T
    fov = clean['in_fov']
    shift = np.linalg.norm(hom_c[fov, :2] / hom_c[fov, 2:3] - hom_n[fov, :2] / hom_n[fov, 2:3], axis=1)
    assert 0.5 < np.median(shift) < 30  # pixels of the quarter-size image


def test_perturb_extrinsics_has_exactly_the_requested_magnitudes():
    rng = np.random.default_rng(3)
    T = np.eye(4)
    T[:3, 3] = (0.1, -0.2, 0.3)
    out = perturb_extrinsics(T, 1.0, 0.2, rng)
    dT = out @ np.linalg.inv(T)
    angle = math.degrees(math.acos((np.trace(dT[:3, :3]) - 1) / 2))
    assert angle == pytest.approx(1.0, abs=1e-6)
    assert np.linalg.norm(dT[:3, 3]) == pytest.approx(0.2, abs=1e-9)


def test_augmentation_keeps_points_and_pixels_registered(sim_root):
    ds = _dataset(sim_root, augment=True, seed=5)
    item = _dataset(sim_root).load(0)
    for _ in range(3):
        pts, l2i = ds._augment(item['points'], item['lidar2img'], ds._rng)
        assert not np.allclose(pts[:, :3], item['points'][:, :3])
        before = np.c_[item['points'][:, :3], np.ones(3000)] @ item['lidar2img'].T
        after = np.c_[pts[:, :3], np.ones(3000)] @ l2i.T
        front = before[:, 2] > 1.0  # in front of the camera (behind it the pixels are meaningless)
        np.testing.assert_allclose(after[front, 2], before[front, 2], rtol=1e-5)
        uv_after = after[front, :2] / after[front, 2:3]
        np.testing.assert_allclose(uv_after, before[front, :2] / before[front, 2:3], atol=1e-2)


def test_label_file_with_the_wrong_length_is_a_format_error(tmp_path):
    path = tmp_path / '000000.bin'
    np.zeros(5, np.uint8).tofile(path)
    assert read_point_labels(path, 5).shape == (5,)
    with pytest.raises(FormatError, match='5 labels for 6 points'):
        read_point_labels(path, 6)


# ---- model variants ----
def _batch(seed: int = 0, img: bool = True) -> dict:
    from omnifuse.datasets.point_seg_dataset import scaled_lidar2img
    from omnifuse.datasets.sim.rig import default_calibration

    g = torch.Generator().manual_seed(seed)
    pts = torch.rand(1500, 4, generator=g)
    pts[:, 0] = pts[:, 0] * 60 - 20
    pts[:, 1] = pts[:, 1] * 40 - 20
    pts[:, 2] = pts[:, 2] * 4 - 2
    camera = default_calibration().cameras['image_2']
    cameras = empty_cameras()
    if img:
        image = torch.randint(0, 256, (3, 94, 310), generator=g, dtype=torch.uint8)
        cameras['camera']['image_2'] = SampleCamera(image, scaled_lidar2img(camera, 0.25))
    sample = PointSegSample(gt_pts_seg=torch.randint(1, 13, (1500,), generator=g), cameras=cameras)
    return {'inputs': {'points': [pts]}, 'data_samples': [sample]}


def _with_image(batch: dict, image: torch.Tensor) -> dict:
    """The batch with its first sample's colour image replaced (same points, camera matrix and labels)."""
    sample = batch['data_samples'][0]
    cam = sample.cameras['camera']['image_2']
    cameras = {'camera': {'image_2': SampleCamera(image, cam.lidar2img)}, 'thermal': {}}
    return {'inputs': batch['inputs'], 'data_samples': [dataclasses.replace(sample, cameras=cameras)]}


def _logits(model: PointSegmentor, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    data = model.data_preprocessor(batch, False)
    with torch.no_grad():
        logits_3d, _, vis, _ = model.logits(data['inputs'])
    return logits_3d, vis


def test_preprocessor_batches_the_sample_cameras():
    from omnifuse.segmentation.point_seg import PointSegDataPreprocessor

    pre = PointSegDataPreprocessor()
    a, b = _batch(0), _batch(1, img=False)
    small = a['data_samples'][0].cameras['camera']['image_2'].image[:, :50, :200]
    a = _with_image(a, small)
    batch = {'inputs': {'points': a['inputs']['points'] + b['inputs']['points']},
             'data_samples': a['data_samples'] + b['data_samples']}
    out = pre(batch, False)['inputs']
    assert tuple(out['img'].shape) == (2, 3, 50, 200)
    assert out['img_hw'].tolist() == [[50, 200], [0, 0]]  # the sample without a camera sees nothing
    l2i = a['data_samples'][0].cameras['camera']['image_2'].lidar2img
    assert out['lidar2img'].dtype == torch.float32
    assert torch.equal(out['lidar2img'][0], torch.from_numpy(l2i.astype(np.float32)))
    assert torch.equal(out['lidar2img'][1], torch.eye(4))
    assert not out['img'][1].any()
    none = pre(b, False)['inputs']
    assert none['img'] is None and torch.equal(none['lidar2img'], torch.eye(4).unsqueeze(0))


def test_preprocessor_refuses_two_colour_cameras():
    from omnifuse.segmentation.point_seg import PointSegDataPreprocessor

    batch = _batch(0)
    sample = batch['data_samples'][0]
    cam = sample.cameras['camera']['image_2']
    two = dataclasses.replace(sample, frame_id='9', cameras={'camera': {'image_2': cam, 'image_3': cam}})
    with pytest.raises(ValueError, match=r"frame '9' has colour cameras \['image_2', 'image_3'\]"):
        PointSegDataPreprocessor()({'inputs': batch['inputs'], 'data_samples': [two]}, False)


@pytest.mark.parametrize('fusion', ['none', 'point', 'area'])
def test_variant_switches_build_the_right_parts(fusion):
    model = PointSegmentor(fusion=fusion, **TINY)
    assert hasattr(model, 'image_encoder') == (fusion != 'none')
    assert hasattr(model, 'head_2d') == (fusion != 'none')
    assert hasattr(model, 'area') == (fusion == 'area')
    head_in = model.head_3d[0].in_features
    assert head_in == {'none': 16, 'point': 16 + 8, 'area': 16 + 16}[fusion]
    with pytest.raises(ValueError, match='fusion'):
        PointSegmentor(fusion='late', **TINY)


def test_image_reaches_points_as_each_variant_says():
    torch.manual_seed(0)
    a = _batch(0)
    b = _with_image(a, 255 - a['data_samples'][0].cameras['camera']['image_2'].image)  # another image, same camera
    changed = {}
    assert torch.get_num_threads() == 1  # bit-reproducible spconv (fixture one_thread)
    for fusion in ('none', 'point', 'area'):
        model = PointSegmentor(fusion=fusion, **TINY).eval()
        la, vis = _logits(model, a)
        lb, _ = _logits(model, b)
        changed[fusion] = (la - lb).abs().amax(1) > 1e-6
    assert 10 < int(vis.sum()) < 1400  # some points in the view, many outside
    assert not changed['none'].any()
    assert torch.equal(changed['point'], vis)  # point-to-pixel: exactly the visible points
    # Area fusion: visible points, and invisible points sharing a pillar with a visible one.
    from omnifuse.fusion.bev_area import pillar_index

    xyz = a['inputs']['points'][0][:, :3]
    batch0 = torch.zeros(1500, dtype=torch.long)
    inverse, pillars = pillar_index(xyz, batch0, pillar_size=(1.0, 1.0), origin=RANGE[:2])
    pillar_seen = torch.zeros(pillars.shape[0], dtype=torch.bool)
    pillar_seen[inverse[vis]] = True
    assert torch.equal(changed['area'], pillar_seen[inverse])
    assert (changed['area'] & ~vis).any()


def test_points_outside_the_view_and_a_missing_camera_are_still_segmented():
    torch.manual_seed(0)
    model = PointSegmentor(fusion='area', **TINY).eval()
    for batch in (_batch(1), _batch(1, img=False)):
        data = model.data_preprocessor(batch, False)
        with torch.no_grad():
            out = model(**data, mode='predict')
        pred = out[0].pred.labels
        assert pred.shape == (1500,) and int(pred.min()) >= 0 and int(pred.max()) < 13
    # Without an image nothing is visible: the 2D head predicts nothing (-1) and the 2D features are zero.
    assert torch.all(out[0].pred.labels_2d == -1)
    f2d, vis = model.point_features_2d({'img': None}, torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))
    assert not vis.any() and not f2d.any()


def test_tiny_overfit_loss_decreases(sim_root):
    torch.manual_seed(0)
    ds = _dataset(sim_root, max_points=2000)
    from mmengine.dataset import pseudo_collate

    batch = pseudo_collate([ds[0]])
    model = PointSegmentor(fusion='area', **TINY)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(20):
        data = model.data_preprocessor(batch, True)
        loss = model(**data, mode='loss')
        total = loss['loss_3d'] + loss['loss_2d']
        opt.zero_grad()
        total.backward()
        opt.step()
        losses.append(float(total.detach()))
    assert set(loss) == {'loss_3d', 'loss_2d'}
    assert losses[-1] < 0.5 * losses[0]


# ---- metric ----
def test_point_seg_metric_scores_in_and_out_of_the_view():
    metric = PointSegMetric(('a', 'b', 'c'), ignore_index=255)
    gt = torch.tensor([0, 0, 1, 1, 2, 255])
    pred = torch.tensor([0, 1, 1, 1, 0, 2])
    fov = torch.tensor([True, True, True, False, False, False])
    metric.process({}, [PointSegSample(condition='night', gt_pts_seg=gt, in_fov=fov, pred=PointSegPredictions(pred))])
    out = metric.compute_metrics(metric.results)
    # overall: a IoU 1/3 (TP 1, FN 1, FP 1), b 2/3, c 0 -> mean 1/3
    assert out['iou_a'] == pytest.approx(1 / 3) and out['iou_b'] == pytest.approx(2 / 3) and out['iou_c'] == 0
    assert out['miou'] == pytest.approx(1 / 3)
    assert out['miou_fov'] == pytest.approx((1 / 2 + 1 / 2) / 2)  # a: 1/2, b: 1/2, c absent
    assert out['miou_out_fov'] == pytest.approx((0 + 1 + 0) / 3)  # gt c predicted a: a 0, b 1, c 0
    assert out['miou_night'] == pytest.approx(out['miou'])
    assert out['accuracy'] == pytest.approx(3 / 5)


# ---- configs and the mmengine Runner ----
@pytest.mark.parametrize('name', ['lidar_only', 'point_to_pixel', 'bev_area', 'lidar_pillar_context'])
def test_configs_build(repo_root, name):
    from mmengine.config import Config

    from omnifuse.registry import MODELS

    cfg = Config.fromfile(str(repo_root / 'configs' / 'pointseg' / f'{name}.py'))
    model = MODELS.build(cfg.model)
    fusion = {'lidar_only': 'none', 'point_to_pixel': 'point', 'bev_area': 'area',
              'lidar_pillar_context': 'area'}
    assert model.fusion == fusion[name]
    assert cfg.train_dataloader.dataset.load_image == (name in ('point_to_pixel', 'bev_area'))
    assert cfg.test_dataloader.dataset.calib_error is None


def test_runner_trains_and_evaluates_a_config(repo_root, sim_root, tmp_path):
    from mmengine.config import Config
    from mmengine.runner import Runner

    cfg = Config.fromfile(str(repo_root / 'configs' / 'pointseg' / 'bev_area.py'))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.model.update(TINY)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.update(data_root=str(sim_root), max_points=2000, image_scale=0.25, image_set=None)
        cfg[loader].update(num_workers=0, persistent_workers=False, batch_size=2)
    cfg.test_dataloader.dataset.calib_error = (1.0, 0.2)
    cfg.train_cfg.update(max_iters=2, val_interval=2)
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
    cfg.default_hooks.checkpoint.update(interval=2)
    cfg.default_hooks.logger.update(interval=1)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert (tmp_path / 'work' / 'iter_2.pth').is_file()
    metrics = runner.test()
    assert 0.0 <= metrics['pointseg/miou'] <= 1.0
    expected = {'pointseg/miou_fov', 'pointseg/miou_out_fov', 'pointseg/miou_day', 'pointseg/miou_night'}
    assert expected <= set(metrics)
