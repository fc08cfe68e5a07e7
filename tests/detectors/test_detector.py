"""The two-stage detector: heads, box coding, loss/predict, missing camera, checkpoints."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mmengine.structures import BaseDataElement

import omnifuse.detectors  # noqa: F401
from omnifuse.detectors import CentreHead, decode_residual, encode_residual, load_weights, save_weights
from omnifuse.errors import FormatError
from omnifuse.registry import MODELS
from omnifuse.structures.det_sample import DetSample, SampleCamera

RANGE = [0.0, -8.0, -3.0, 16.0, 8.0, 1.0]
L2I = [[32.0, -32.0, 0.0, 0.0], [16.0, 0.0, -32.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]


def tiny_model_cfg(*, camera: bool = True, gof: bool = True, lof: bool = True, fda: bool = True) -> dict:
    return dict(
        type='LoGoNetDetector', class_names=['Car', 'Pedestrian'],
        lidar_encoder=dict(type='SecondLidarEncoder', voxel_size=[0.2, 0.2, 0.25], point_range=RANGE,
                           channels=[8, 8, 16, 16], out_channels=16, max_voxels=[8000, 8000]),
        bev_neck=dict(type='BevNeck', layer_nums=[1, 1], layer_strides=[1, 2], num_filters=[16, 16],
                      upsample_strides=[1, 2], out_channels=[16, 16]),
        dense_head=dict(type='CentreHead', head_channels=16, post_max=[16, 8]),
        image_encoder=dict(type='ImageEncoder', stem_channels=8, channels=[8, 16, 16], out_channels=8)
        if camera else None,
        roi_head=dict(type='LoGoRoIHead', level_channels={'x_conv3': 16, 'x_conv4': 16}, bev_channels=32,
                      grid_channels=8, fc_channels=[32, 32], num_rois=8, use_gof=gof, use_lof=lof, use_fda=fda,
                      gof_levels=['x_conv3'] if gof else [], fda_heads=2))


def synthetic_batch(seed: int = 0, *, with_image: bool = True) -> dict:
    """Two samples: a ground plane plus points on the surfaces of one car and one pedestrian box."""
    g = torch.Generator().manual_seed(seed)
    boxes = torch.tensor([[8.0, 2.0, -1.0, 4.0, 1.8, 1.5, 0.3], [5.0, -3.0, -0.9, 0.7, 0.7, 1.7, -1.0]])
    samples, points = [], []
    for b in range(2):
        ground = torch.rand(1500, 3, generator=g) * torch.tensor([16.0, 16.0, 0.05]) + torch.tensor([0, -8, -1.8])
        objs = []
        for box in boxes:
            local = (torch.rand(300, 3, generator=g) - 0.5) * box[3:6]
            c, s = math.cos(float(box[6])), math.sin(float(box[6]))
            xy = torch.stack([local[:, 0] * c - local[:, 1] * s, local[:, 0] * s + local[:, 1] * c], 1)
            objs.append(torch.cat([xy + box[:2], local[:, 2:3] + box[2]], 1))
        xyz = torch.cat([ground] + objs)
        points.append(torch.cat([xyz, torch.rand(len(xyz), 1, generator=g)], 1))
        image = torch.randint(0, 255, (3, 32, 64), dtype=torch.uint8, generator=g)
        cameras = {'camera': {'cam': SampleCamera(image, L2I)} if with_image else {}, 'thermal': {}}
        samples.append(DetSample(frame_id=f'{b:06d}', gt_boxes=boxes.clone(), gt_labels=torch.tensor([0, 1]),
                                 cameras=cameras))
    return {'inputs': {'points': points}, 'data_samples': samples}


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return MODELS.build(tiny_model_cfg())


def test_loss_is_finite_and_reaches_every_branch(model) -> None:
    model.train()
    data = model.data_preprocessor(synthetic_batch(), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_heatmap', 'loss_bbox', 'loss_roi_score', 'loss_roi_reg'}
    assert all(torch.isfinite(v) for v in losses.values())
    model.zero_grad()
    sum(losses.values()).backward()
    for name in ('lidar_encoder', 'bev_neck', 'dense_head', 'image_encoder', 'roi_head.gof', 'roi_head.lof',
                 'roi_head.fda', 'roi_head.reg'):
        grads = [p.grad for n, p in model.named_parameters() if n.startswith(name) and p.grad is not None]
        assert grads and any(float(gr.abs().sum()) > 0 for gr in grads), f'no gradient reaches {name}'


def test_a_few_steps_fit_the_scene(model) -> None:
    torch.manual_seed(1)
    net = MODELS.build(tiny_model_cfg())
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    batch = synthetic_batch(2)
    history = []
    for _ in range(5):
        data = net.data_preprocessor(batch, True)
        losses = net(**data, mode='loss')
        loss = losses['loss_heatmap'] + losses['loss_bbox']
        opt.zero_grad()
        (loss + losses['loss_roi_score'] + losses['loss_roi_reg']).backward()
        opt.step()
        history.append(float(loss))
    assert history[-1] < 0.7 * history[0]


def test_predict_with_and_without_camera(model) -> None:
    model.eval()
    for with_image in (True, False):
        data = model.data_preprocessor(synthetic_batch(3, with_image=with_image), False)
        with torch.no_grad():
            out = model(**data, mode='predict')
        assert len(out) == 2
        for s in out:
            pred = s.pred
            k = len(pred)
            assert pred.boxes.shape == (k, 7) and pred.scores.shape == (k,)
            assert 0 < k <= 8 and torch.isfinite(pred.boxes).all()
            assert set(pred.labels.tolist()) <= {0, 1}
            assert bool((pred.boxes[:, 3:6] > 0).all())


def test_fusion_blocks_switch_off_from_config() -> None:
    net = MODELS.build(tiny_model_cfg(camera=False))
    assert net.image_encoder is None and net.roi_head.lof is None and len(net.roi_head.gof) == 0
    assert net.roi_head.fda is not None
    net = MODELS.build(tiny_model_cfg(gof=False, lof=True, fda=False))
    assert len(net.roi_head.gof) == 0 and net.roi_head.lof is not None and net.roi_head.fda is None
    net.eval()
    data = net.data_preprocessor(synthetic_batch(4), False)
    with torch.no_grad():
        assert len(net(**data, mode='predict')) == 2
    with pytest.raises(ValueError, match='x_conv3'):
        bad = tiny_model_cfg()
        bad['roi_head']['level_channels'] = {'x_conv3': 99}
        MODELS.build(bad)


def test_centre_head_decodes_its_own_targets() -> None:
    head = CentreHead(in_channels=4, num_classes=2, point_range=RANGE, score_thr=0.5, post_max=(10, 10)).eval()
    gt = torch.tensor([[8.13, 2.37, -1.0, 4.0, 1.8, 1.5, 0.3], [5.21, -3.3, -0.9, 0.7, 0.7, 1.7, -2.9]])
    labels = torch.tensor([0, 1])
    H, W = 40, 40
    heat, reg, index, valid = head.targets(gt, labels, H, W)
    assert valid.all() and float(heat.max()) == 1.0
    logits = torch.logit(heat.clamp(1e-4, 1 - 1e-4))[None]
    reg_map = torch.zeros(1, 8, H * W)
    reg_map[0, :, index] = reg.T
    props = head.decode(logits, reg_map.view(1, 8, H, W))
    order = torch.argsort(props.labels)
    torch.testing.assert_close(props.boxes[order], gt, atol=1e-4, rtol=0)
    assert props.labels[order].tolist() == [0, 1]


@settings(max_examples=60, deadline=None)
@given(st.floats(-3.1, 3.1), st.floats(-2, 2), st.floats(-2, 2), st.floats(0.5, 2.0), st.floats(-3.1, 3.1))
def test_residual_round_trip(yaw_roi: float, dx: float, dy: float, scale: float, yaw_box: float) -> None:
    roi = torch.tensor([[10.0, -2.0, -1.0, 4.0, 1.8, 1.5, yaw_roi]], dtype=torch.float64)
    box = torch.tensor([[10.0 + dx, -2.0 + dy, -0.8, 4.0 * scale, 1.8, 1.5 / scale, yaw_box]], dtype=torch.float64)
    back = decode_residual(roi, encode_residual(roi, box))
    torch.testing.assert_close(back[:, :6], box[:, :6])
    # the heading comes back up to a half turn (the same box for IoU)
    d = (back[0, 6] - box[0, 6]) % math.pi
    assert min(float(d), math.pi - float(d)) < 1e-6
    assert abs(float(encode_residual(roi, box)[0, 6])) <= math.pi / 2


def test_checkpoint_round_trip_and_mismatch_messages(model, tmp_path) -> None:
    path = save_weights(model, tmp_path / 'w.pth', meta={'config': 'x = 1'})
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {'state_dict', 'meta'} and raw['meta']['model'] == 'LoGoNetDetector'
    torch.manual_seed(5)
    other = MODELS.build(tiny_model_cfg())
    meta = load_weights(other, path)
    assert meta['config'] == 'x = 1'
    for (n, a), (_, b) in zip(model.state_dict().items(), other.state_dict().items(), strict=True):
        assert torch.equal(a, b), n
    smaller = MODELS.build(tiny_model_cfg(camera=False))
    with pytest.raises(FormatError, match='unexpected keys: .*image_encoder'):
        load_weights(smaller, path)
    cfg = tiny_model_cfg()
    cfg['dense_head']['head_channels'] = 8
    with pytest.raises(FormatError, match='shape mismatch: dense_head'):
        load_weights(MODELS.build(cfg), path)
    evil = tmp_path / 'evil.pth'
    evil.write_bytes(pickle.dumps({'state_dict': {}, 'meta': BaseDataElement()}))
    with pytest.raises(FormatError, match='weights-only'):
        load_weights(other, evil)
    with pytest.raises(FileNotFoundError):
        load_weights(other, tmp_path / 'missing.pth')


def test_sensed_points_follow_the_pipelines_lidar(model, kitti_root) -> None:
    from mmengine.config import ConfigDict

    from omnifuse.apis.detection import Detector
    from omnifuse.datasets.kitti import KittiReader
    from omnifuse.datasets.transforms import BeamSubsample

    points = KittiReader(kitti_root).read('000000').points
    pipeline = [dict(type='PointRangeFilter', point_range=RANGE), dict(type='PackDetInputs')]
    plain = Detector(model, ConfigDict(test_dataloader=dict(dataset=dict(pipeline=pipeline))))
    assert plain.sensed_points(points) is points  # range filtering is the model's business, not the sensor's
    thin = Detector(model, ConfigDict(test_dataloader=dict(dataset=dict(
        pipeline=[dict(type='BeamSubsample', keep_every=4), *pipeline]))))
    seen = thin.sensed_points(points)
    assert 0.12 < len(seen) / len(points) < 0.38
    assert (seen == BeamSubsample(keep_every=4)(dict(points=points.copy()))['points']).all()
