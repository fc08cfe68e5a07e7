"""Second stage: RoI-grid pooling (G×G×G) with LoGoNet's GoF, LoF and FDA, an IoU-aware score and a residual.

Per RoI, G³ grid points (omnifuse.ops.roi_grid) pool the LiDAR features around them: trilinear
interpolation over the non-empty voxels of each configured sparse level (after GoF when enabled) and
bilinear sampling of the BEV map. LoF adds image-aware position features; FDA lets the grid points attend
to each other; the flattened grid goes through an MLP to an IoU-aware score and a 7-dof residual
(omnifuse.detectors.box_coder). Every fusion block is a config switch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnifuse.detectors.box_coder import decode_residual, encode_residual
from omnifuse.detectors.centre_head import Proposals
from omnifuse.fusion.logonet import FeatureDynamicAggregation, GlobalFusion, LocalFusion
from omnifuse.ops.features import ImageFeatures, LidarFeatures, SparseLevel
from omnifuse.ops.roi_grid import roi_cell_stats, roi_grid_points, roi_grid_unit
from omnifuse.ops.timing import stage
from omnifuse.ops.voxel_query import interpolate, trilinear_neighbours
from omnifuse.registry import MODELS

__all__ = ['LoGoRoIHead', 'sample_bev']


def sample_bev(bev: Tensor, point_range: Sequence[float], xyz: Tensor, batch_idx: Tensor) -> Tensor:
    """Bilinear samples of a (B, C, H, W) BEV map over `point_range` at (P, 3) points -> (P, C)."""
    B, C, H, W = bev.shape
    x0, y0, _, x1, y1, _ = point_range
    gx = (xyz[:, 0] - x0) / (x1 - x0) * 2 - 1
    gy = (xyz[:, 1] - y0) / (y1 - y0) * 2 - 1
    grid = torch.stack([gx, gy], 1)
    out = bev.new_zeros((xyz.shape[0], C))
    for b in range(B):
        sel = (batch_idx == b).nonzero(as_tuple=True)[0]
        if sel.numel():
            s = F.grid_sample(bev[b:b + 1], grid[sel].view(1, 1, -1, 2).to(bev.dtype), align_corners=False)
            out[sel] = s.view(C, -1).T
    return out


def _fc(dims: Sequence[int], dropout: float) -> nn.Sequential:
    mods: list[nn.Module] = []
    for a, b in pairwise(dims):
        mods += [nn.Linear(a, b, bias=False), nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
        if dropout > 0:
            mods.append(nn.Dropout(dropout))
    return nn.Sequential(*mods)


@MODELS.register_module()
class LoGoRoIHead(nn.Module):
    """RoI-grid refinement head with switchable LoGoNet fusion.

    Args:
        level_channels: sparse levels to pool and their channels, e.g. {'x_conv3': 64, 'x_conv4': 64}.
        bev_channels: channels of the BEV map also sampled at the grid points (0: not sampled).
        image_channels: per image modality ('camera', 'thermal'), its feature channels ({} = LiDAR only).
        grid_size: G (6 in LoGoNet).
        grid_channels: C of each grid point's feature.
        use_gof, use_lof, use_fda: switch the fusion blocks (GoF/LoF need image_channels).
        gof_levels: the levels GoF fuses (must be pooled levels).
        fda_heads: attention heads of FDA.
        fc_channels: the shared MLP after flattening the grid.
        dropout: dropout of the shared MLP.
        num_rois: RoIs sampled per training sample.
        fg_ratio: share of foreground among them.
        fg_iou: 3D IoU from which a RoI regresses its box.
        score_iou: (low, high) IoUs mapped to score targets 0 and 1 (linear in between).
        gt_jitter: add two jittered copies of each true box to the training RoIs.
        reg_weight, score_weight: loss weights.
        score_mode: 'iou' (the IoU-aware score) or 'sqrt' (geometric mean with the proposal score).
        nms_iou: final class-aware rotated NMS threshold; score_thr: final score threshold.
    """

    def __init__(self, *, level_channels: Mapping[str, int], bev_channels: int = 0,
                 image_channels: Mapping[str, int] | None = None, grid_size: int = 6, grid_channels: int = 32,
                 use_gof: bool = True, use_lof: bool = True, use_fda: bool = True,
                 gof_levels: Sequence[str] = (), fda_heads: int = 4, fc_channels: Sequence[int] = (256, 256),
                 dropout: float = 0.3, num_rois: int = 64, fg_ratio: float = 0.5, fg_iou: float = 0.55,
                 score_iou: Sequence[float] = (0.25, 0.75), gt_jitter: bool = True, reg_weight: float = 1.0,
                 score_weight: float = 1.0, score_mode: str = 'sqrt', nms_iou: float = 0.1,
                 score_thr: float = 0.05) -> None:
        super().__init__()
        self.level_channels = dict(level_channels)
        self.image_channels = dict(image_channels or {})
        has_images = bool(self.image_channels)
        self.use_gof = use_gof and has_images
        self.use_lof = use_lof and has_images
        self.use_fda = use_fda
        self.gof_levels = tuple(gof_levels) if self.use_gof else ()
        for name in self.gof_levels:
            if name not in self.level_channels:
                raise ValueError(f'LoGoRoIHead: gof level {name!r} is not a pooled level {sorted(self.level_channels)}')
        self.gof = nn.ModuleDict({name: GlobalFusion(voxel_channels=self.level_channels[name],
                                                     image_channels=self.image_channels)
                                  for name in self.gof_levels})
        self.bev_channels = bev_channels
        pooled = sum(self.level_channels.values()) + bev_channels
        self.grid_size = grid_size
        self.reduce = nn.Sequential(nn.Linear(pooled, grid_channels, bias=False), nn.BatchNorm1d(grid_channels),
                                    nn.ReLU(inplace=True))
        self.lof = LocalFusion(image_channels=self.image_channels, out_channels=grid_channels) if self.use_lof else None
        self.fda = (FeatureDynamicAggregation(channels=grid_channels, heads=fda_heads, ffn_channels=2 * grid_channels)
                    if use_fda else None)
        self.shared = _fc([grid_channels * grid_size ** 3, *fc_channels], dropout)
        self.score = nn.Linear(fc_channels[-1], 1)
        self.reg = nn.Linear(fc_channels[-1], 7)
        nn.init.normal_(self.reg.weight, std=0.001)
        nn.init.zeros_(self.reg.bias)
        self.num_rois = num_rois
        self.fg_ratio = fg_ratio
        self.fg_iou = fg_iou
        self.score_iou = tuple(score_iou)
        self.gt_jitter = gt_jitter
        self.reg_weight = reg_weight
        self.score_weight = score_weight
        self.score_mode = score_mode
        self.nms_iou = nms_iou
        self.score_thr = score_thr

    # ---- features ----
    def forward(self, rois: Tensor, rois_batch: Tensor, lidar: LidarFeatures, bev: Tensor | None,
                points: Tensor, points_batch: Tensor, images: Mapping[str, ImageFeatures | None]
                ) -> tuple[Tensor, Tensor]:
        """Score logits (R,) and residuals (R, 7) of the RoIs.

        Args:
            rois: (R, 7) boxes.
            rois_batch: (R,) sample index of each RoI.
            lidar: the LiDAR encoder's output (sparse levels).
            bev: (B, C, H, W) map over lidar.point_range, or None.
            points: (N, >=3) raw points.
            points_batch: (N,) sample index of each point.
            images: per modality its features (None or absent when missing).
        """
        R = rois.shape[0]
        G3 = self.grid_size ** 3
        grid_xyz, _ = roi_grid_points(rois, self.grid_size)  # (R, G³, 3)
        flat = grid_xyz.reshape(-1, 3)
        gbatch = rois_batch.view(-1, 1).expand(R, G3).reshape(-1)
        parts = []
        for name in self.level_channels:
            level = lidar.levels[name]
            rows, weights = trilinear_neighbours(level, flat, gbatch)
            feats = level.features
            # fuse only the voxels the grid points read (LoGoNet: the RoIs' vicinity)
            if name in self.gof and feats.shape[0] > 0:
                with stage('fusion'):
                    used, rows = torch.unique(rows.clamp(min=0), return_inverse=True)
                    sub = SparseLevel(level.features[used], level.coords[used], level.origin, level.spacing,
                                      level.shape)
                    feats = self.gof[name](sub, points, points_batch, images).features
            parts.append(interpolate(feats, rows, weights)[0])
        if self.bev_channels:
            if bev is None:
                raise ValueError(f'{type(self).__name__}: bev_channels={self.bev_channels} but no BEV map given')
            parts.append(sample_bev(bev, lidar.point_range, flat, gbatch))
        x = self.reduce(torch.cat(parts, 1)).view(R, G3, -1)  # (R, G³, C)
        count, centroid = roi_cell_stats(points, points_batch, rois.detach(), rois_batch, self.grid_size)
        density = torch.log1p(count).unsqueeze(-1)  # (R, G³, 1)
        unit = roi_grid_unit(self.grid_size, device=rois.device, dtype=rois.dtype).expand(R, G3, 3)
        with stage('fusion'):
            if self.lof is not None:
                descriptor = torch.cat([unit, density, centroid], -1)  # (R, G³, 7)
                x = x + self.lof(grid_xyz, rois_batch, descriptor, images)
            if self.fda is not None:
                x = self.fda(x, torch.cat([unit, density], -1), count == 0)
        h = self.shared(x.reshape(R, -1))
        return self.score(h).squeeze(1), self.reg(h)

    # ---- training ----
    def sample_rois(self, proposals: Proposals, gt_boxes: Sequence[Tensor], gt_labels: Sequence[Tensor]
                    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Training RoIs with their targets.

        Returns:
            rois (R, 7), rois_batch (R,), labels (R,), best IoU with a true box (R,), matched true box (R, 7).
        """
        from omnifuse.structures.geometry_torch import box_iou_3d_torch

        out: tuple[list[Tensor], ...] = ([], [], [], [], [])
        for b, (gt, gl) in enumerate(zip(gt_boxes, gt_labels, strict=True)):
            sel = proposals.batch == b
            rois, labels = proposals.boxes[sel].detach(), proposals.labels[sel]
            gt = gt.to(rois.dtype)
            if self.gt_jitter and gt.shape[0]:
                jit = gt.repeat(2, 1)
                noise = torch.randn_like(jit)
                jit[:, :3] += noise[:, :3] * 0.1 * jit[:, 3:6]
                jit[:, 3:6] *= torch.exp(noise[:, 3:6] * 0.1)
                jit[:, 6] += noise[:, 6] * 0.15
                rois = torch.cat([rois, jit])
                labels = torch.cat([labels, gl.repeat(2)])
            if gt.shape[0]:
                iou = box_iou_3d_torch(rois.double(), gt.double()).to(rois.dtype)
                best, arg = iou.max(1)
                matched = gt[arg]
            else:
                best = rois.new_zeros(rois.shape[0])
                matched = rois.clone()
            fg = (best >= self.fg_iou).nonzero(as_tuple=True)[0]
            bg = (best < self.fg_iou).nonzero(as_tuple=True)[0]
            n_fg = min(fg.numel(), int(self.num_rois * self.fg_ratio))
            n_bg = min(bg.numel(), self.num_rois - n_fg)
            pick = torch.cat([fg[torch.randperm(fg.numel(), device=fg.device)[:n_fg]],
                              bg[torch.randperm(bg.numel(), device=bg.device)[:n_bg]]])
            picked = (rois[pick], torch.full_like(pick, b), labels[pick], best[pick], matched[pick])
            for lst, v in zip(out, picked, strict=True):
                lst.append(v)
        all_rois, all_batch, all_labels, all_best, all_matched = (torch.cat(v) for v in out)
        return all_rois, all_batch, all_labels, all_best, all_matched

    def loss(self, score_logits: Tensor, residual: Tensor, rois: Tensor, ious: Tensor, matched: Tensor
             ) -> dict[str, Tensor]:
        """IoU-aware score (BCE against the IoU mapped to [0, 1]) + smooth-L1 residual on foreground RoIs."""
        lo, hi = self.score_iou
        target = ((ious - lo) / (hi - lo)).clamp(0, 1)
        loss_score = F.binary_cross_entropy_with_logits(score_logits, target.to(score_logits.dtype))
        fg = ious >= self.fg_iou
        if int(fg.sum()) > 0:
            t = encode_residual(rois[fg], matched[fg])
            loss_reg = F.smooth_l1_loss(residual[fg], t, beta=1 / 9, reduction='sum') / fg.sum()
        else:
            loss_reg = residual.sum() * 0.0
        return {'loss_roi_score': loss_score * self.score_weight, 'loss_roi_reg': loss_reg * self.reg_weight}

    # ---- inference ----
    @torch.no_grad()
    def refine(self, proposals: Proposals, score_logits: Tensor, residual: Tensor) -> Proposals:
        """Decode, score and NMS the refined boxes (class-aware)."""
        from omnifuse.structures.geometry_torch import nms_bev_torch

        boxes = decode_residual(proposals.boxes, residual)
        iou_score = torch.sigmoid(score_logits)
        scores = torch.sqrt(iou_score * proposals.scores) if self.score_mode == 'sqrt' else iou_score
        keep_all = []
        for b in torch.unique(proposals.batch).tolist():
            idx = ((proposals.batch == b) & (scores >= self.score_thr)).nonzero(as_tuple=True)[0]
            if idx.numel() == 0:
                continue
            shifted = boxes[idx].clone()
            shifted[:, 0] += proposals.labels[idx].to(boxes.dtype) * 1000.0
            keep_all.append(idx[nms_bev_torch(shifted.double(), scores[idx].double(), self.nms_iou)])
        keep = torch.cat(keep_all) if keep_all else proposals.batch.new_zeros(0)
        return Proposals(boxes[keep], scores[keep], proposals.labels[keep], proposals.batch[keep])
