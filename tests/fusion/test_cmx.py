"""CMX blocks (CM-FRM, efficient cross-attention, FFM), the segmentor, its missing-X path and a tiny overfit."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from omnifuse.datasets.rgbt import normalize_thermal, read_pst900
from omnifuse.encoders.image_seg import SegEncoder
from omnifuse.fusion.cmx import CMFRM, FFM, EfficientCrossAttention, efficient_context
from omnifuse.segmentation.rgbx import CMXSegmentor, predict_labels
from omnifuse.structures.seg_sample import SegSample

SMALL = dict(type='SegEncoder', channels=(8, 16, 16, 32), depths=(1, 1, 1, 1), kernel_size=3)


def _model(**kw: object) -> CMXSegmentor:
    torch.manual_seed(0)
    args = dict(num_classes=5, modality='thermal', backbone=SMALL, decoder_dim=16, num_heads=(1, 1, 2, 2))
    args.update(kw)
    return CMXSegmentor(**args)  # type: ignore[arg-type]


def test_cmfrm_matches_the_rectification_formula_with_half_weights() -> None:
    torch.manual_seed(0)
    frm = CMFRM(6, reduction=2).double()
    r, x = torch.randn(2, 6, 5, 7, dtype=torch.float64), torch.randn(2, 6, 5, 7, dtype=torch.float64)
    r_out, x_out = frm(r, x)
    assert r_out.shape == x_out.shape == (2, 6, 5, 7)
    # Direct computation from the parameters.
    cat = torch.cat([r, x], 1)
    pooled = torch.cat([cat.mean((2, 3)), cat.amax((2, 3))], 1)
    l1, l2 = frm.channel_mlp[0], frm.channel_mlp[2]
    wc = torch.sigmoid(l2(torch.relu(pooled @ l1.weight.T + l1.bias)))
    c1, c2 = frm.spatial[0], frm.spatial[2]
    hid = torch.relu(torch.einsum('oc,bchw->bohw', c1.weight[:, :, 0, 0], cat) + c1.bias[None, :, None, None])
    ws = torch.sigmoid(torch.einsum('oc,bchw->bohw', c2.weight[:, :, 0, 0], hid) + c2.bias[None, :, None, None])
    wc_r, wc_x = wc[:, :6, None, None], wc[:, 6:, None, None]
    expect_r = r + 0.5 * wc_x * x + 0.5 * ws[:, 1:2] * x
    expect_x = x + 0.5 * wc_r * r + 0.5 * ws[:, 0:1] * r
    torch.testing.assert_close(r_out, expect_r)
    torch.testing.assert_close(x_out, expect_x)


def test_efficient_context_is_the_explicit_softmax_formula() -> None:
    rng = np.random.default_rng(1)
    k, v = rng.normal(size=(1, 2, 9, 4)), rng.normal(size=(1, 2, 9, 4))
    got = efficient_context(torch.from_numpy(k), torch.from_numpy(v)).numpy()
    for h in range(2):
        s = np.zeros((4, 4))
        for n in range(9):  # K^T V as a sum over pixels
            s += np.outer(k[0, h, n], v[0, h, n])
        s /= math.sqrt(4)
        e = np.exp(s - s.max(0, keepdims=True))
        np.testing.assert_allclose(got[0, h], e / e.sum(0, keepdims=True), rtol=1e-10)


def test_cross_attention_queries_the_other_stream_and_is_pixel_order_equivariant() -> None:
    torch.manual_seed(0)
    att = EfficientCrossAttention(8, num_heads=2).double()
    u_r, u_x = torch.randn(1, 12, 8, dtype=torch.float64), torch.randn(1, 12, 8, dtype=torch.float64)
    v_r, v_x = att(u_r, u_x)
    k_x, val_x = att.kv_x(u_x).chunk(2, -1)
    heads = lambda t: t.reshape(1, 12, 2, 4).transpose(1, 2)  # noqa: E731
    ctx_x = torch.softmax(heads(k_x).transpose(-2, -1) @ heads(val_x) / 2.0, dim=-2)
    torch.testing.assert_close(v_r, (heads(u_r) @ ctx_x).transpose(1, 2).reshape(1, 12, 8))
    perm = torch.randperm(12)
    p_r, p_x = att(u_r[:, perm], u_x[:, perm])
    torch.testing.assert_close(p_r, v_r[:, perm])
    torch.testing.assert_close(p_x, v_x[:, perm])


def test_ffm_exchange_formula_and_output_shape() -> None:
    torch.manual_seed(0)
    ffm = FFM(8, num_heads=2).double().eval()
    r, x = torch.randn(2, 8, 3, 5, dtype=torch.float64), torch.randn(2, 8, 3, 5, dtype=torch.float64)
    assert ffm(r, x).shape == (2, 8, 3, 5)
    t_r, t_x = r.flatten(2).transpose(1, 2), x.flatten(2).transpose(1, 2)
    out_r, _ = ffm.exchange(t_r, t_x)
    y_r, u_r = torch.relu(ffm.proj_rgb(t_r)).chunk(2, -1)
    _, u_x = torch.relu(ffm.proj_x(t_x)).chunk(2, -1)
    v_r, _ = ffm.attn(u_r, u_x)
    expect = F.layer_norm(t_r + ffm.end_rgb(torch.cat([y_r, v_r], -1)), (8,), ffm.norm_rgb.weight, ffm.norm_rgb.bias)
    torch.testing.assert_close(out_r, expect)


def test_encoder_has_four_stages_at_strides_4_to_32() -> None:
    enc = SegEncoder(in_channels=1, channels=(8, 16, 24, 32), depths=(1, 1, 1, 1))
    feats = enc(torch.zeros(1, 1, 64, 96))
    assert [tuple(f.shape) for f in feats] == [(1, 8, 16, 24), (1, 16, 8, 12), (1, 24, 4, 6), (1, 32, 2, 3)]


def test_segmentor_logits_at_input_size_for_odd_sizes() -> None:
    model = _model().eval()
    with torch.no_grad():
        out = model({'rgb': torch.randn(2, 3, 37, 53), 'x': torch.rand(2, 1, 37, 53)})
    assert out.shape == (2, 5, 37, 53)


def test_missing_x_ignores_the_x_input_and_uses_the_learned_fill() -> None:
    model = _model().eval()
    rgb = torch.randn(1, 3, 32, 48)
    off = torch.zeros(1, dtype=torch.bool)
    with torch.no_grad():
        a = model({'rgb': rgb, 'x': torch.rand(1, 1, 32, 48), 'x_valid': off})
        b = model({'rgb': rgb, 'x': torch.rand(1, 1, 32, 48), 'x_valid': off})
        none = model({'rgb': rgb})
        with_x = model({'rgb': rgb, 'x': torch.rand(1, 1, 32, 48)})
        model.x_missing.fill_(0.7)
        filled = model({'rgb': rgb, 'x': torch.full((1, 1, 32, 48), 0.7)})
        missing = model({'rgb': rgb, 'x_valid': off, 'x': torch.zeros(1, 1, 32, 48)})
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, none)
    assert not torch.allclose(a, with_x)
    torch.testing.assert_close(filled, missing)
    labels = predict_labels(model, np.zeros((20, 30, 3), np.uint8), None)
    assert labels.shape == (20, 30)


def test_rgb_only_model_has_no_x_stream_and_ignores_x() -> None:
    model = _model(modality='rgb').eval()
    assert not hasattr(model, 'x_encoder') and not hasattr(model, 'frms')
    rgb = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model({'rgb': rgb, 'x': torch.rand(1, 1, 32, 32)}), model({'rgb': rgb}))


def test_predict_crops_padding_of_mixed_size_batch() -> None:
    model = _model().eval()
    data = {'inputs': {'rgb': [torch.zeros(3, 20, 30, dtype=torch.uint8), torch.zeros(3, 24, 18, dtype=torch.uint8)],
                       'x': [torch.rand(1, 20, 30), None]},
            'data_samples': [SegSample(gt_sem_seg=torch.ones(20, 30, dtype=torch.int64)), SegSample()]}
    batch = model.data_preprocessor(data, False)
    assert batch['inputs']['rgb'].shape == (2, 3, 24, 30)
    assert batch['inputs']['x_valid'].tolist() == [True, False]
    assert (batch['data_samples'][0].gt_sem_seg[20:] == 255).all()
    assert [s.img_shape for s in batch['data_samples']] == [(20, 30), (24, 18)]
    with torch.no_grad():
        out = model(**batch, mode='predict')
    assert out[0].pred.sem_seg.shape == (20, 30) and out[0].gt_sem_seg.shape == (20, 30)
    assert out[1].pred.sem_seg.shape == (24, 18) and out[1].gt_sem_seg is None and not out[1].x_valid


def test_loss_decreases_on_two_real_pst900_crops(shared_data: Path) -> None:
    root = shared_data / 'rgbt' / 'PST900'
    s = read_pst900(root / 'sample_rgb.png', root / 'sample_thermal8.png', root / 'sample_label_ids.png')
    rgb = cv2.resize(s.rgb, (160, 90), interpolation=cv2.INTER_AREA)
    th = cv2.resize(normalize_thermal(s.thermal), (160, 90), interpolation=cv2.INTER_AREA)
    lab = cv2.resize(s.label, (160, 90), interpolation=cv2.INTER_NEAREST)
    items = [(rgb, th, lab), (rgb[:, ::-1], th[:, ::-1], lab[:, ::-1])]
    model = _model(x_drop_prob=0.0)
    data = {'inputs': {'rgb': [torch.from_numpy(r.transpose(2, 0, 1).copy()) for r, _, _ in items],
                       'x': [torch.from_numpy(t[None].copy()) for _, t, _ in items]},
            'data_samples': [SegSample(gt_sem_seg=torch.from_numpy(lb.astype(np.int64).copy())) for _, _, lb in items]}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    losses = []
    for _ in range(14):
        loss = model(**model.data_preprocessor(data, True), mode='loss')['loss_ce']
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-3:]) < 0.6 * losses[0]


def test_loss_mode_requires_labels() -> None:
    model = _model()
    with pytest.raises(ValueError, match='gt_sem_seg'):
        model({'rgb': torch.randn(1, 3, 16, 16)}, [SegSample()], mode='loss')
