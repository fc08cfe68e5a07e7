"""The two-stage detector cut into exportable graphs (torch modules traced by `torch.onnx.export`).

    points ─ [numpy: voxels, index tables] ─ FirstStageGraph ─ top-k proposals, BEV map, sparse levels
    image  ─ [numpy: resize, normalise, pad] ─ ImageGraph ─ feature map (skipped without a camera)
    proposals ─ [numpy: NMS, RoI grid points, voxel neighbours, GoF voxels, cell statistics] ─ RoIGraph
              ─ score logits, residuals ─ [numpy: decode, NMS] ─ boxes, scores, labels

The numpy steps live in `omnifuse.deploy.detector_np` (no torch). Each graph computes what the PyTorch
model computes, from the same weights (batch norm folded by the exporter's constant folding); the gathers
that replace spconv are in `omnifuse.deploy.sparse_graph`. Batch of one; one camera per image modality.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnifuse.deploy.sparse_graph import GatherBackbone
from omnifuse.errors import OmnifuseError
from omnifuse.ops.roi_grid import roi_grid_unit

__all__ = ['FirstStageGraph', 'ImageGraph', 'RoIGraph', 'detector_spec', 'check_exportable', 'regression_at']


def check_exportable(model: Any) -> None:
    """Refuse detectors whose parts the graphs do not cover (with the part named)."""
    from omnifuse.encoders.lidar import SecondLidarEncoder

    if not isinstance(model.lidar_encoder, SecondLidarEncoder):
        raise OmnifuseError(f'export: the LiDAR encoder {type(model.lidar_encoder).__name__} is not exportable '
                            '(SecondLidarEncoder is)')
    if model.lidar_encoder.voxelize.mode != 'hard':
        raise OmnifuseError("export: only 'hard' voxelisation is exportable")
    if model.image_bev is not None:
        raise OmnifuseError('export: image_bev (image features in the first stage) is not exportable yet')


def detector_spec(model: Any) -> dict[str, Any]:
    """What the numpy steps need to know about the model (JSON-able)."""
    enc = model.lidar_encoder
    vox = enc.voxelize
    head = model.dense_head
    spec: dict[str, Any] = {
        'class_names': list(model.class_names),
        'voxel_size': list(vox.voxel_size), 'point_range': list(vox.point_range),
        'in_channels': int(enc.in_channels), 'max_points': int(vox.max_points), 'max_voxels': int(vox.max_voxels[1]),
        'backbone': GatherBackbone(enc).spec,
        'level_geometry': {name: {'origin': list(o), 'spacing': list(s), 'shape': list(sh)}
                           for name, (o, s, sh) in enc.level_geometry.items()},
        'proposals': {'score_thr': float(head.score_thr), 'nms_iou': float(head.nms_iou),
                      'post_max': int(head.post_max[1]), 'pre_max': int(head.pre_max)},
        'image_modalities': {m: {'channels': c} for m, c in sorted(model.image_channels.items())},
    }
    roi = model.roi_head
    if roi is not None:
        spec['roi'] = {'levels': list(roi.level_channels), 'gof_levels': list(roi.gof_levels),
                       'grid_size': int(roi.grid_size), 'bev': bool(roi.bev_channels),
                       'score_mode': roi.score_mode, 'nms_iou': float(roi.nms_iou), 'score_thr': float(roi.score_thr)}
    for modality, encoder in (('camera', model.image_encoder), ('thermal', model.thermal_encoder)):
        if encoder is not None:
            spec['image_modalities'][modality].update(stride=int(encoder.out_stride),
                                                      in_channels=int(encoder.in_channels))
    return spec


def regression_at(head: Any, bev: Tensor, iy: Tensor, ix: Tensor) -> Tensor:
    """A `CentreHead`'s regression branch (3x3 conv, batch norm, ReLU, 1x1 conv) at the k cells (iy, ix) only:
    (1, C, H, W) map -> (k, 8). The same arithmetic as the branch over the whole map, at the peaks that decoding
    reads (k = pre_max of H·W cells: about a seventeenth of the branch's work on KITTI's grid)."""
    conv, norm, _, out = head.reg
    _, C, H, W = bev.shape
    # channel-last before the padding: OpenVINO's convolutions already hold the map so and drop the transpose
    # (padding first made it two copies of the map, ~1 ms)
    cells = F.pad(bev.permute(0, 2, 3, 1), (0, 0, 1, 1, 1, 1)).reshape((H + 2) * (W + 2), C)
    taps = torch.tensor([dy * (W + 2) + dx for dy in range(3) for dx in range(3)], dtype=iy.dtype)
    window = cells[(iy * (W + 2) + ix)[:, None] + taps[None, :]]  # (k, 9, C): the 3x3 around each cell
    weight = conv.weight.permute(0, 2, 3, 1).reshape(conv.out_channels, 9 * C)  # (out, 9·C), taps then C
    hidden = window.reshape(-1, 9 * C) @ weight.T
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    hidden = torch.relu(hidden * scale + (norm.bias - norm.running_mean * scale))
    return hidden @ out.weight.reshape(out.out_channels, -1).T + out.bias


class FirstStageGraph(nn.Module):
    """Voxel features and index tables -> the dense head's top-k peaks as boxes, and the RoI head's inputs.

    forward(columns, *tables, bev_rows) -> (boxes (k, 7), scores (k,), labels (k,) int64, bev (1, C, H, W),
    *levels): `columns` the first convolution's gathered input (see `GatherBackbone`), k = min(pre_max,
    classes·H·W) peaks before NMS (CentreHead.decode's first half), `bev` the
    neck's map and `levels` the features of the RoI head's pooled levels (site order of the tables).
    """

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.backbone = GatherBackbone(model.lidar_encoder)
        self.neck = model.bev_neck
        self.head = model.dense_head
        pooled = list(model.roi_head.level_channels) if model.roi_head is not None else []
        self.level_index = [self.backbone.level_names.index(n) for n in pooled]
        self.level_names = pooled
        self.eval()

    def forward(self, features: Tensor, *rest: Tensor) -> tuple[Tensor, ...]:
        """See the class docstring."""
        bev_lidar, *levels = self.backbone(features, *rest)
        bev = self.neck(bev_lidar)
        heat_logits = self.head.heatmap(bev)
        _, K, H, W = heat_logits.shape
        x0, y0, _, x1, y1, _ = self.head.point_range
        sx, sy = (x1 - x0) / W, (y1 - y0) / H
        heat = torch.sigmoid(heat_logits)
        peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat).to(heat.dtype)
        scores, idx = peaks.reshape(-1).topk(min(self.head.pre_max, K * H * W))
        labels = idx // (H * W)
        cell = idx % (H * W)
        iy, ix = cell // W, cell % W
        r = regression_at(self.head, bev, iy, ix)  # (k, 8)
        x = (ix.to(r.dtype) + r[:, 0]) * sx + x0
        y = (iy.to(r.dtype) + r[:, 1]) * sy + y0
        dims = torch.exp(r[:, 3:6].clamp(max=5))
        yaw = torch.atan2(r[:, 6], r[:, 7])
        boxes = torch.cat([x[:, None], y[:, None], r[:, 2:3], dims, yaw[:, None]], 1)
        return (boxes, scores, labels, bev, *(levels[i] for i in self.level_index))


class ImageGraph(nn.Module):
    """(1, C_in, H, W) normalised, padded image -> (1, C, H/s, W/s) features (one image encoder)."""

    def __init__(self, encoder: Any) -> None:
        super().__init__()
        self.encoder = encoder
        self.eval()

    def forward(self, image: Tensor) -> Tensor:
        """See the class docstring."""
        return self.encoder(image)


def _sample_camera(fmap: Tensor, xyz: Tensor, lidar2img: Tensor, img_hw: Tensor, valid: Tensor,
                   stride: int) -> Tensor:
    """[features, seen] (N, C + 1) of one camera at (N, 3) points, as `sample_modalities` with one camera."""
    _, C, h, w = fmap.shape
    hom = torch.cat([xyz, torch.ones_like(xyz[:, :1])], 1)
    cam = hom @ lidar2img.T
    depth = cam[:, 2]
    uv = cam[:, :2] / depth.clamp(min=0.1).unsqueeze(1)
    vis = ((depth > 0.1) & (uv[:, 0] >= 0) & (uv[:, 1] >= 0) & (uv[:, 0] < img_hw[1]) & (uv[:, 1] < img_hw[0])
           & valid)
    gx = uv[:, 0] / (stride * w) * 2 - 1
    gy = uv[:, 1] / (stride * h) * 2 - 1
    grid = torch.stack([gx, gy], 1).clamp(-2, 2).view(1, 1, -1, 2)
    sampled = F.grid_sample(fmap, grid, mode='bilinear', padding_mode='zeros', align_corners=False)
    sampled = sampled.view(C, -1).T * vis.unsqueeze(1).to(fmap.dtype)
    return torch.cat([sampled, vis.unsqueeze(1).to(fmap.dtype)], 1)


def _interpolate(features: Tensor, rows: Tensor, weights: Tensor) -> Tensor:
    """`omnifuse.ops.voxel_query.interpolate` with rows >= 0 (empty neighbours weigh 0), one neighbour after the
    other: a (P, K, C) product summed over K ran 3x longer in OpenVINO (its reduction over a middle axis)."""
    total = weights.sum(1)
    acc = features[rows[:, 0]] * weights[:, 0:1]
    for k in range(1, rows.shape[1]):
        acc = acc + features[rows[:, k]] * weights[:, k:k + 1]
    return acc / total.clamp(min=1e-6).unsqueeze(-1)


class RoIGraph(nn.Module):
    """The second stage (LoGoRoIHead) from its numpy-prepared inputs to score logits and residuals.

    forward(rois (R, 7), grid_xyz (R, G³, 3), count (R, G³), centroid (R, G³, 3),
            then per pooled level: features (M, C), rows (R·G³, K) int64, weights (R·G³, K)
                                   [+ for a GoF level: used (U,) int64 rows of its voxels, xyz (U, 3) centroids;
                                    its rows then index `used`],
            bev (1, C, H, W) when sampled,
            then per image modality (sorted): features (1, C, h, w), lidar2img (4, 4), img_hw (2,), valid (1,) bool)
    -> (score_logits (R,), residual (R, 7)).
    """

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.roi = model.roi_head
        self.modalities = sorted(self.roi.image_channels)
        self.strides = {m: int(enc.out_stride) for m, enc in (('camera', model.image_encoder),
                                                                ('thermal', model.thermal_encoder))
                        if enc is not None}
        self.point_range = tuple(model.lidar_encoder.point_range)
        self.eval()

    def input_names(self) -> list[str]:
        """The graph's inputs in forward's order (see the class docstring)."""
        names = ['rois', 'grid_xyz', 'count', 'centroid']
        for level in self.roi.level_channels:
            names += [f'{level}_features', f'{level}_rows', f'{level}_weights']
            if level in self.roi.gof:
                names += [f'{level}_used', f'{level}_xyz']
        if self.roi.bev_channels:
            names.append('bev')
        for m in self.modalities:
            names += [f'{m}_features', f'{m}_lidar2img', f'{m}_img_hw', f'{m}_valid']
        return names

    def _images(self, xyz: Tensor, images: dict[str, list[Tensor]]) -> Tensor:
        parts = [_sample_camera(images[m][0], xyz, images[m][1], images[m][2], images[m][3], self.strides[m])
                 for m in self.modalities]
        return torch.cat(parts, 1)

    def forward(self, *inputs: Tensor) -> tuple[Tensor, Tensor]:
        """See the class docstring (inputs in `input_names` order)."""
        named = dict(zip(self.input_names(), inputs, strict=True))
        rois, grid_xyz, count, centroid = named['rois'], named['grid_xyz'], named['count'], named['centroid']
        images = {m: [named[f'{m}_{k}'] for k in ('features', 'lidar2img', 'img_hw', 'valid')]
                  for m in self.modalities}
        R = rois.shape[0]
        G3 = self.roi.grid_size ** 3
        flat = grid_xyz.reshape(-1, 3)
        parts = []
        for level in self.roi.level_channels:
            feats = named[f'{level}_features']
            if level in self.roi.gof:
                used = feats[named[f'{level}_used']]
                img = self._images(named[f'{level}_xyz'], images)
                feats = self.roi.gof[level].fuse(torch.cat([used, img], 1))
            parts.append(_interpolate(feats, named[f'{level}_rows'], named[f'{level}_weights']))
        if self.roi.bev_channels:
            x0, y0, _, x1, y1, _ = self.point_range
            gx = (flat[:, 0] - x0) / (x1 - x0) * 2 - 1
            gy = (flat[:, 1] - y0) / (y1 - y0) * 2 - 1
            grid = torch.stack([gx, gy], 1).view(1, 1, -1, 2)
            bev = named['bev']
            parts.append(F.grid_sample(bev, grid, align_corners=False).view(bev.shape[1], -1).T)
        x = self.roi.reduce(torch.cat(parts, 1)).view(R, G3, -1)
        density = torch.log1p(count).unsqueeze(-1)
        unit = roi_grid_unit(self.roi.grid_size, dtype=rois.dtype).unsqueeze(0).expand(R, G3, 3)
        if self.roi.lof is not None:
            lof = self.roi.lof
            descriptor = torch.cat([unit, density, centroid], -1).reshape(R * G3, -1)
            img = self._images(flat, images)
            pos = lof.pos(descriptor)
            x = x + lof.out(torch.cat([pos, lof.lift(img)], 1)).view(R, G3, -1)
        if self.roi.fda is not None:
            empty = count == 0
            mask = empty & ~empty.all(1, keepdim=True)
            fda = self.roi.fda
            x = fda.layer(x + fda.pos_embed(torch.cat([unit, density], -1)), src_key_padding_mask=mask)
        h = self.roi.shared(x.reshape(R, -1))
        return self.roi.score(h).squeeze(1), self.roi.reg(h)
