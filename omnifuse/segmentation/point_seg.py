"""3D point segmentation from LiDAR, optionally with a camera: LiDAR-only, point-to-pixel, BEV area-to-area.

Pipeline (one batch of B point clouds, each with its camera image):

    points ─ voxelise (dynamic, mean) ─ sparse U-Net (spconv) ─ devoxelise + point MLP ─ f3d (N, C3)
    image ─ ImageEncoder (stride s) ─ bilinear sample at each point's projection ─ f2d (N, C2), vis (N,)
    fusion 'none':  3D head on f3d                           (LiDAR-only, no image is read at all)
    fusion 'point': 3D head on [f3d ‖ f2d]                   (point-to-pixel)
    fusion 'area':  3D head on [f3d ‖ BEVAreaFusion(f3d, f2d)] (pillar max-pool of both, handed back)
    2D head on f2d (point-to-pixel and area), trained on the visible points only.

Loss: cross-entropy of the 3D head on every labelled point + `loss_2d_weight` × cross-entropy of the 2D
head on the labelled points that project into the image. Prediction: the 3D head (`predict_head='3d'`,
the default: it sees every point, inside or outside the camera's view, and does not rely on one
point-pixel pair), or the mean of both heads' probabilities inside the view (`predict_head='mean'`).
Points outside the view get zero 2D features and are segmented by the 3D head like the others.

mmengine protocol: `forward(inputs, data_samples, mode)` with mode 'loss' (dict of losses), 'predict' (the
`PointSegSample`s with `pred` = PointSegPredictions: labels (N_b,) int64, labels_2d of the image head) or
'tensor' ((N, K) 3D logits of all points of the batch, concatenated in sample order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor, BaseModel
from torch import Tensor, nn

from omnifuse.encoders.image import ImageEncoder
from omnifuse.fusion.bev_area import BEVAreaFusion
from omnifuse.ops.projection import sample_image_features
from omnifuse.ops.spconv_compat import import_spconv
from omnifuse.ops.voxelize import grid_shape, scatter_mean, unique_voxels
from omnifuse.registry import MODELS
from omnifuse.structures.det_sample import SampleCamera
from omnifuse.structures.seg_sample import PointSegPredictions, PointSegSample

__all__ = ['PointSegDataPreprocessor', 'SparseUNet', 'PointSegmentor', 'FUSIONS']

FUSIONS = ('none', 'point', 'area')


def _mlp(dims: Sequence[int], *, last_act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(pairwise(dims)):
        last = i == len(dims) - 2
        if last and not last_act:
            layers.append(nn.Linear(a, b))
        else:
            layers += [nn.Linear(a, b, bias=False), nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


@MODELS.register_module()
class PointSegDataPreprocessor(BaseDataPreprocessor):
    """Batch point clouds and the (padded, normalised) images of the samples' cameras; move them to the device.

    The model fuses one colour camera: each sample's `cameras['camera']` holds at most one `SampleCamera`
    (image (3, H, W) uint8, lidar2img (4, 4) LiDAR frame -> its pixels); other modalities are not read. A
    sample without one gets a zero image of valid size (0, 0), so none of its points is visible; a batch
    without any gives img None.

    Args:
        mean, std: RGB normalisation in 0..255 units. Defaults to ImageNet's.

    Shapes:
        input: {'inputs': {'points': B (N_b, C) tensors, LiDAR frame}, 'data_samples': B `PointSegSample`s}.
        output inputs['points']: list of B (N_b, C) float32; inputs['img']: (B, 3, H, W) float32 (padded to the
        largest image) or None; inputs['img_hw']: (B, 2) int64 valid (h, w) of each image; inputs['lidar2img']:
        (B, 4, 4) float32 (the identity without a camera).
        output data_samples: the B `PointSegSample`s with gt_pts_seg (N_b,) int64 and in_fov (N_b,) bool on the
        device.
    """

    def __init__(self, *, mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375)) -> None:
        super().__init__()
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(3, 1, 1), persistent=False)

    @staticmethod
    def colour_camera(sample: PointSegSample) -> SampleCamera | None:
        """The sample's one colour camera (`cameras['camera']`), None without one; ValueError for several."""
        cams = sample.cameras.get('camera', {})
        if len(cams) > 1:
            raise ValueError(f'PointSegDataPreprocessor: frame {sample.frame_id!r} has colour cameras '
                             f'{sorted(cams)}; the point segmentor fuses one')
        return next(iter(cams.values()), None)

    def forward(self, data: dict, training: bool = False) -> dict:  # noqa: D102 - mmengine API
        device = self.mean.device
        points = [torch.as_tensor(p).to(device=device, dtype=torch.float32) for p in data['inputs']['points']]
        n = len(points)
        given = data.get('data_samples')
        samples = [PointSegSample() for _ in range(n)] if given is None else list(given)
        if len(samples) != n:
            raise ValueError(f'PointSegDataPreprocessor: {len(samples)} data samples for {n} point clouds')
        cams = [self.colour_camera(s) for s in samples]
        lidar2img = torch.eye(4, device=device).expand(n, 4, 4).clone()
        img = None
        img_hw = torch.zeros((n, 2), dtype=torch.long, device=device)
        if any(c is not None for c in cams):
            h = max(int(c.image.shape[-2]) for c in cams if c is not None)
            w = max(int(c.image.shape[-1]) for c in cams if c is not None)
            batch = []
            for b, cam in enumerate(cams):
                if cam is None:
                    batch.append(torch.zeros((3, h, w), device=device))
                    continue
                im = torch.as_tensor(cam.image).to(device)
                img_hw[b, 0], img_hw[b, 1] = im.shape[-2], im.shape[-1]
                lidar2img[b] = torch.from_numpy(cam.lidar2img).to(device=device, dtype=torch.float32)
                pad = (0, w - im.shape[-1], 0, h - im.shape[-2])
                batch.append(F.pad((im.float() - self.mean) / self.std, pad))
            img = torch.stack(batch)
        out_samples = [s.to(device) for s in samples]
        return {'inputs': {'points': points, 'img': img, 'img_hw': img_hw, 'lidar2img': lidar2img},
                'data_samples': out_samples}


class SparseUNet(nn.Module):
    """A small sparse 3D U-Net (spconv 2.x): strided convs down, inverse convs up, skip concatenation.

    Args:
        in_channels: voxel feature channels.
        channels: channels per level (level 0 at the voxel size, each next one at twice the stride).
        sparse_shape: (D, H, W) of the voxel grid.
        stem_blocks: submanifold convolutions at the voxel size before the first downsampling.

    Shapes:
        feats: (M, in_channels) voxel features; coords: (M, 4) int (b, z, y, x); return: (M, channels[0])
        features of the same voxels in the same order.
    """

    def __init__(self, in_channels: int, channels: Sequence[int], sparse_shape: Sequence[int], *,
                 stem_blocks: int = 1) -> None:
        super().__init__()
        spconv = import_spconv()
        self.sparse_shape = [int(v) for v in sparse_shape]

        def block(cin: int, cout: int, key: str) -> nn.Module:
            conv = spconv.SubMConv3d(cin, cout, 3, padding=1, bias=False, indice_key=key)
            return spconv.SparseSequential(conv, nn.BatchNorm1d(cout), nn.ReLU(inplace=True))

        c = list(channels)
        self.stem = spconv.SparseSequential(block(in_channels, c[0], 'subm0'),
                                            *[block(c[0], c[0], 'subm0') for _ in range(stem_blocks - 1)])
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for i in range(1, len(c)):
            self.down.append(spconv.SparseSequential(
                spconv.SparseConv3d(c[i - 1], c[i], 3, stride=2, padding=1, bias=False,
                                    indice_key=f'down{i}'),
                nn.BatchNorm1d(c[i]), nn.ReLU(inplace=True), block(c[i], c[i], f'subm{i}')))
            self.up.append(spconv.SparseSequential(
                spconv.SparseInverseConv3d(c[i], c[i - 1], 3, bias=False, indice_key=f'down{i}'),
                nn.BatchNorm1d(c[i - 1]), nn.ReLU(inplace=True)))
            self.merge.append(block(2 * c[i - 1], c[i - 1], f'subm{i - 1}'))
        self.out_channels = c[0]

    def forward(self, feats: Tensor, coords: Tensor, batch_size: int) -> Tensor:
        """Voxel features after the U-Net (see the class docstring)."""
        spconv = import_spconv()
        x = self.stem(spconv.SparseConvTensor(feats, coords.int(), self.sparse_shape, batch_size))
        skips = [x]
        for down in self.down:
            x = down(x)
            skips.append(x)
        for i in range(len(self.down) - 1, -1, -1):
            up = self.up[i](x)  # back to the voxels of level i
            skip = skips[i]
            x = up.replace_feature(torch.cat([up.features, skip.features], 1))  # same voxels, same order
            x = self.merge[i](x)
        return x.features


@MODELS.register_module()
class PointSegmentor(BaseModel):
    """Per-point semantic segmentation from LiDAR, with optional camera fusion (see the module docstring).

    Args:
        num_classes: K.
        class_names: K names (metainfo). Defaults to 'class_<i>'.
        fusion: 'none' (LiDAR-only), 'point' (point-to-pixel) or 'area' (BEV area-to-area).
        point_range: (x0, y0, z0, x1, y1, z1) metres of the voxel grid (points outside are clamped to its
            border).
        voxel_size: (vx, vy, vz) metres.
        unet_channels: channels of the sparse U-Net levels.
        point_channels: C3, width of the per-point 3D features.
        image_encoder: config of the image encoder (ImageEncoder); its out_channels is C2.
        pillar_size: (px, py) metres of the area-fusion pillars.
        area_channels: width of the area-fusion output (None: the raw C3 + C2 pooled vector).
        head_channels: hidden width of the heads.
        loss_2d_weight: weight of the 2D head's loss.
        predict_head: '3d' or 'mean' (see the module docstring).
        ignore_index: label not scored. Defaults to 255.
        class_weight: optional K loss weights.
        data_preprocessor: config or module. Defaults to PointSegDataPreprocessor.

    Shapes:
        inputs: see `PointSegDataPreprocessor`. 'tensor' output: (N, K) 3D logits.
    """

    def __init__(self, *, num_classes: int, class_names: Sequence[str] | None = None, fusion: str = 'area',
                 point_range: Sequence[float] = (-20.0, -20.0, -3.0, 40.0, 20.0, 3.0),
                 voxel_size: Sequence[float] = (0.2, 0.2, 0.2), unet_channels: Sequence[int] = (16, 32, 64),
                 point_channels: int = 64, image_encoder: Mapping[str, Any] | None = None,
                 pillar_size: Sequence[float] = (1.0, 1.0), area_channels: int | None = 64,
                 head_channels: int = 64,
                 loss_2d_weight: float = 1.0, predict_head: str = '3d', ignore_index: int = 255,
                 class_weight: Sequence[float] | None = None,
                 data_preprocessor: Mapping[str, Any] | nn.Module | None = None,
                 init_cfg: Mapping[str, Any] | None = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='PointSegDataPreprocessor')
        if isinstance(data_preprocessor, Mapping):
            data_preprocessor = MODELS.build(dict(data_preprocessor))
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if fusion not in FUSIONS:
            raise ValueError(f'PointSegmentor: fusion must be one of {FUSIONS}, got {fusion!r}')
        if predict_head not in ('3d', 'mean'):
            raise ValueError(f"PointSegmentor: predict_head must be '3d' or 'mean', got {predict_head!r}")
        self.num_classes = num_classes
        self.class_names = tuple(class_names) if class_names is not None else tuple(
            f'class_{i}' for i in range(num_classes))
        if len(self.class_names) != num_classes:
            raise ValueError(f'PointSegmentor: {len(self.class_names)} class names for {num_classes} classes')
        self.fusion = fusion
        self.point_range = tuple(float(v) for v in point_range)
        self.voxel_size = tuple(float(v) for v in voxel_size)
        self.grid = grid_shape(self.point_range, self.voxel_size)  # (D, H, W)
        self.loss_2d_weight = float(loss_2d_weight)
        self.predict_head = predict_head
        self.ignore_index = ignore_index
        # 3D branch: voxel mean (x, y, z, intensity) -> U-Net -> per point with its offset in the voxel.
        self.unet = SparseUNet(4, unet_channels, self.grid)
        self.point_mlp = _mlp([self.unet.out_channels + 5, point_channels, point_channels])
        head_in = point_channels
        self.use_image = fusion != 'none'
        if self.use_image:
            enc_cfg = dict(type='ImageEncoder', in_channels=3, out_channels=32, out_stride=4)
            enc_cfg.update(image_encoder or {})
            self.image_encoder: ImageEncoder = MODELS.build(enc_cfg)
            c2 = self.image_encoder.out_channels
            self.head_2d = _mlp([c2, head_channels, num_classes], last_act=False)
            if fusion == 'point':
                head_in += c2
            else:
                self.area = BEVAreaFusion(point_channels, c2, pillar_size=pillar_size,
                                          origin=self.point_range[:2], out_channels=area_channels)
                head_in += self.area.out_channels
        self.head_3d = _mlp([head_in, head_channels, num_classes], last_act=False)
        if class_weight is not None:
            weight = torch.tensor(class_weight, dtype=torch.float32)
            self.register_buffer('class_weight', weight, persistent=False)
        else:
            self.class_weight = None

    # ---- features ----
    def point_features_3d(self, points: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        """Per-point LiDAR features of a batch.

        Shapes:
            points: B tensors (N_b, >=4) x y z intensity, LiDAR frame.
            return: f3d (N, C3) and batch index (N,) int64, points in sample order.
        """
        pts = torch.cat([p[:, :4] for p in points])  # (N, 4)
        batch_idx = torch.cat([torch.full((p.shape[0],), b, dtype=torch.long, device=pts.device)
                               for b, p in enumerate(points)])
        lo = pts.new_tensor(self.point_range[:3])
        vs = pts.new_tensor(self.voxel_size)
        D, H, W = self.grid
        cell = torch.floor((pts[:, :3] - lo) / vs).long()
        top = torch.tensor([W - 1, H - 1, D - 1], device=pts.device)
        cell = torch.minimum(cell.clamp(min=0), top)  # (N, 3) x y z inside the grid
        coords = torch.cat([batch_idx.view(-1, 1), cell.flip(1)], 1)  # (N, 4) b z y x
        voxels, inverse = unique_voxels(coords)
        vox_mean = scatter_mean(pts, inverse, voxels.shape[0])  # (M, 4)
        vox_feat = self.unet(vox_mean, voxels, len(points))  # (M, C)
        offset = (pts[:, :3] - vox_mean[inverse, :3]) / vs  # position inside the voxel, in voxels
        rel_z = ((pts[:, 2:3] - lo[2]) / (self.point_range[5] - self.point_range[2]))
        f3d = self.point_mlp(torch.cat([vox_feat[inverse], offset, pts[:, 3:4], rel_z], 1))  # (N, C3)
        return f3d, batch_idx

    def point_features_2d(self, inputs: Mapping[str, Any], xyz: Tensor, batch_idx: Tensor
                          ) -> tuple[Tensor, Tensor]:
        """Image features at each point's projection: (N, C2) (0 where not visible) and (N,) bool visible."""
        img = inputs.get('img')
        c2 = self.image_encoder.out_channels
        if img is None:  # the camera is missing: every point is outside the view
            none = torch.zeros(xyz.shape[0], dtype=torch.bool, device=xyz.device)
            return xyz.new_zeros((xyz.shape[0], c2)), none
        feats = self.image_encoder(img)  # (B, C2, H/s, W/s)
        return sample_image_features(feats, xyz, batch_idx, inputs['lidar2img'], inputs['img_hw'],
                                     stride=self.image_encoder.out_stride)

    def logits(self, inputs: Mapping[str, Any]) -> tuple[Tensor, Tensor | None, Tensor, Tensor]:
        """3D logits (N, K), 2D logits (N, K) or None, visibility (N,) bool and batch index (N,)."""
        points = inputs['points']
        f3d, batch_idx = self.point_features_3d(points)
        xyz = torch.cat([p[:, :3] for p in points])
        if not self.use_image:
            vis = torch.zeros(xyz.shape[0], dtype=torch.bool, device=xyz.device)
            return self.head_3d(f3d), None, vis, batch_idx
        f2d, vis = self.point_features_2d(inputs, xyz, batch_idx)
        if self.fusion == 'point':
            fused = torch.cat([f3d, f2d], 1)
        else:
            fused = torch.cat([f3d, self.area(f3d, f2d, xyz, batch_idx, vis)], 1)
        logits_2d = xyz.new_zeros((xyz.shape[0], self.num_classes))
        if int(vis.sum()) > (1 if self.training else 0):  # BatchNorm needs two rows in training
            logits_2d[vis] = self.head_2d(f2d[vis])
        return self.head_3d(fused), logits_2d, vis, batch_idx

    # ---- mmengine entry point ----
    def forward(self, inputs: Mapping[str, Any], data_samples: Sequence[PointSegSample] | None = None,
                mode: str = 'tensor') -> Any:
        """See the module docstring for the three modes."""
        logits_3d, logits_2d, vis, batch_idx = self.logits(inputs)
        if mode == 'tensor':
            return logits_3d
        if mode == 'loss':
            if not data_samples or any(s.gt_pts_seg is None for s in data_samples):
                raise ValueError('PointSegmentor: mode="loss" needs a gt_pts_seg in every data sample')
            gt = torch.cat([torch.as_tensor(s.gt_pts_seg).to(logits_3d.device).long()
                            for s in data_samples])
            if gt.shape[0] != logits_3d.shape[0]:
                raise ValueError(f'PointSegmentor: {gt.shape[0]} labels for {logits_3d.shape[0]} points')
            losses = {'loss_3d': self._ce(logits_3d, gt)}
            if logits_2d is not None:
                scored = vis & (gt != self.ignore_index)
                if scored.any():
                    losses['loss_2d'] = self.loss_2d_weight * self._ce(logits_2d[scored], gt[scored])
                else:  # keep the 2D head in the graph (DDP needs every parameter used)
                    losses['loss_2d'] = logits_2d.sum() * 0.0
            return losses
        if mode == 'predict':
            probs = logits_3d.softmax(1)
            if self.predict_head == 'mean' and logits_2d is not None:
                probs = torch.where(vis.unsqueeze(1), 0.5 * (probs + logits_2d.softmax(1)), probs)
            pred = probs.argmax(1)
            out = []
            samples = data_samples or [PointSegSample()
                                       for _ in range(int(batch_idx.max()) + 1 if len(batch_idx) else 0)]
            for b, sample in enumerate(samples):
                sel = batch_idx == b
                labels_2d = None
                if logits_2d is not None:
                    labels_2d = torch.where(vis[sel], logits_2d[sel].argmax(1), torch.full_like(pred[sel], -1))
                out.append(sample.with_predictions(PointSegPredictions(pred[sel], labels_2d)))
            return out
        raise ValueError(f'PointSegmentor: unknown mode {mode!r} (loss, predict or tensor)')

    def _ce(self, logits: Tensor, gt: Tensor) -> Tensor:
        if bool((gt != self.ignore_index).any()):
            return F.cross_entropy(logits, gt, weight=self.class_weight, ignore_index=self.ignore_index)
        return logits.sum() * 0.0
