"""First stage: a BEV centre-heatmap head (CenterPoint-style) giving proposals after rotated NMS.

The head sees a BEV map covering `point_range` in x (columns) and y (rows); a cell (row i, column j)
is [x0 + j·sx, x0 + (j+1)·sx) × [y0 + i·sy, ...). Per class, a heatmap peaks at object centres
(Gaussian splat, CenterNet radius); at each centre cell the head regresses the sub-cell offset, z,
log(dx, dy, dz) and (sin, cos) of the yaw.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnifuse.registry import MODELS

__all__ = ['CentreHead', 'gaussian_radius', 'Proposals']


def gaussian_radius(length: Tensor, width: Tensor, min_overlap: float = 0.1) -> Tensor:
    """CenterNet's Gaussian radius [cells] for boxes of (length, width) cells: the smallest of three cases."""
    b1 = length + width
    c1 = width * length * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + torch.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2 = 2 * (length + width)
    c2 = (1 - min_overlap) * width * length
    r2 = (b2 + torch.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (length + width)
    c3 = (min_overlap - 1) * width * length
    r3 = (b3 + torch.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return torch.minimum(torch.minimum(r1, r2), r3)


class Proposals:
    """First-stage output of one batch, flattened over samples.

    Attributes:
        boxes: (R, 7) boxes, LiDAR frame. scores: (R,). labels: (R,) int64 class index. batch: (R,) int64.
    """

    def __init__(self, boxes: Tensor, scores: Tensor, labels: Tensor, batch: Tensor) -> None:
        self.boxes, self.scores, self.labels, self.batch = boxes, scores, labels, batch

    def __len__(self) -> int:
        return int(self.boxes.shape[0])


def _head(cin: int, mid: int, cout: int, bias: float = 0.0) -> nn.Sequential:
    seq = nn.Sequential(nn.Conv2d(cin, mid, 3, padding=1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
                        nn.Conv2d(mid, cout, 1))
    last = seq[-1]
    assert isinstance(last, nn.Conv2d) and last.bias is not None
    nn.init.constant_(last.bias, bias)
    return seq


@MODELS.register_module()
class CentreHead(nn.Module):
    """Centre-heatmap BEV head.

    Args:
        in_channels: channels of the BEV map.
        num_classes: number of classes (heatmap channels).
        point_range: (x0, y0, z0, x1, y1, z1) metres covered by the BEV map.
        head_channels: hidden channels of each branch.
        min_radius: smallest Gaussian radius [cells].
        min_overlap: CenterNet overlap of the radius formula.
        reg_weight: weight of the L1 regression loss relative to the focal loss.
        pre_max: peaks kept before NMS (per sample).
        score_thr: peaks below are dropped.
        nms_iou: rotated BEV IoU threshold of the (class-aware) NMS.
        post_max: (training, inference) proposals kept per sample after NMS.

    Shapes:
        bev: (B, C, H, W). forward returns heatmap logits (B, K, H, W) and regression (B, 8, H, W).
    """

    def __init__(self, *, in_channels: int, num_classes: int, point_range: Sequence[float], head_channels: int = 64,
                 min_radius: int = 2, min_overlap: float = 0.1, reg_weight: float = 1.0, pre_max: int = 500,
                 score_thr: float = 0.05, nms_iou: float = 0.1, post_max: Sequence[int] = (128, 100)) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.point_range = tuple(float(v) for v in point_range)
        self.heatmap = _head(in_channels, head_channels, num_classes, bias=-2.19)
        self.reg = _head(in_channels, head_channels, 8)
        self.min_radius = min_radius
        self.min_overlap = min_overlap
        self.reg_weight = reg_weight
        self.pre_max = pre_max
        self.score_thr = score_thr
        self.nms_iou = nms_iou
        self.post_max = tuple(int(v) for v in post_max)

    def forward(self, bev: Tensor) -> tuple[Tensor, Tensor]:
        """(B, C, H, W) -> heatmap logits (B, K, H, W), regression (B, 8, H, W)."""
        return self.heatmap(bev), self.reg(bev)

    def _cell(self, H: int, W: int) -> tuple[float, float]:
        x0, y0, _, x1, y1, _ = self.point_range
        return (x1 - x0) / W, (y1 - y0) / H

    # ---- training ----
    def targets(self, gt_boxes: Tensor, gt_labels: Tensor, H: int, W: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Heatmap (K, H, W), regression targets (M, 8), centre cell index (M,) and validity (M,) of one sample."""
        sx, sy = self._cell(H, W)
        x0, y0 = self.point_range[0], self.point_range[1]
        heat = gt_boxes.new_zeros((self.num_classes, H, W))
        cx = (gt_boxes[:, 0] - x0) / sx
        cy = (gt_boxes[:, 1] - y0) / sy
        ix, iy = cx.floor().long(), cy.floor().long()
        valid = (ix >= 0) & (ix < W) & (iy >= 0) & (iy < H) & (gt_labels >= 0) & (gt_labels < self.num_classes)
        radius = gaussian_radius(gt_boxes[:, 3] / sx, gt_boxes[:, 4] / sy, self.min_overlap)
        radius = radius.floor().clamp(min=self.min_radius).long()
        for m in valid.nonzero(as_tuple=True)[0].tolist():
            r = int(radius[m])
            ys = torch.arange(max(0, int(iy[m]) - r), min(H, int(iy[m]) + r + 1), device=heat.device)
            xs = torch.arange(max(0, int(ix[m]) - r), min(W, int(ix[m]) + r + 1), device=heat.device)
            sigma = (2 * r + 1) / 6
            g = torch.exp(-((ys[:, None] - iy[m]) ** 2 + (xs[None, :] - ix[m]) ** 2).to(heat.dtype) / (2 * sigma ** 2))
            c = int(gt_labels[m])
            heat[c, ys[:, None], xs[None, :]] = torch.maximum(heat[c, ys[:, None], xs[None, :]], g)
        reg = torch.stack([cx - ix, cy - iy, gt_boxes[:, 2], torch.log(gt_boxes[:, 3].clamp(min=1e-3)),
                           torch.log(gt_boxes[:, 4].clamp(min=1e-3)), torch.log(gt_boxes[:, 5].clamp(min=1e-3)),
                           torch.sin(gt_boxes[:, 6]), torch.cos(gt_boxes[:, 6])], 1)
        index = iy.clamp(0, H - 1) * W + ix.clamp(0, W - 1)
        return heat, reg, index, valid

    def loss(self, heat_logits: Tensor, reg: Tensor, gt_boxes: Sequence[Tensor], gt_labels: Sequence[Tensor]
             ) -> dict[str, Tensor]:
        """Gaussian focal loss on the heatmap + L1 on the regression at the centre cells."""
        B, K, H, W = heat_logits.shape
        heats, regs, preds, n_obj = [], [], [], 0
        for b in range(B):
            heat, target, index, valid = self.targets(gt_boxes[b].to(reg.dtype), gt_labels[b], H, W)
            heats.append(heat)
            regs.append(target[valid])
            preds.append(reg[b].flatten(1).T[index[valid]])
            n_obj += int(valid.sum())
        heat = torch.stack(heats)
        p = torch.sigmoid(heat_logits.float()).clamp(1e-4, 1 - 1e-4)
        pos = heat.eq(1).float()
        neg_w = torch.pow(1 - heat, 4)
        pos_loss = (torch.log(p) * torch.pow(1 - p, 2) * pos).sum()
        neg_loss = (torch.log(1 - p) * torch.pow(p, 2) * neg_w * (1 - pos)).sum()
        norm = max(n_obj, 1)
        loss_heat = -(pos_loss + neg_loss) / norm
        pred = torch.cat(preds) if preds else reg.new_zeros((0, 8))
        target = torch.cat(regs) if regs else reg.new_zeros((0, 8))
        loss_reg = F.l1_loss(pred, target, reduction='sum') / norm * self.reg_weight
        return {'loss_heatmap': loss_heat, 'loss_bbox': loss_reg}

    # ---- inference ----
    @torch.no_grad()
    def decode(self, heat_logits: Tensor, reg: Tensor) -> Proposals:
        """Peaks -> boxes -> class-aware rotated NMS; keeps `post_max` per sample (see the class docstring)."""
        from omnifuse.structures.geometry_torch import nms_bev_torch

        B, K, H, W = heat_logits.shape
        sx, sy = self._cell(H, W)
        heat = torch.sigmoid(heat_logits)
        peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat)
        scores, idx = peaks.flatten(1).topk(min(self.pre_max, K * H * W), dim=1)  # (B, k)
        labels = idx // (H * W)
        cell = idx % (H * W)
        iy, ix = cell // W, cell % W
        r = reg.flatten(2).gather(2, cell.unsqueeze(1).expand(-1, 8, -1)).transpose(1, 2)  # (B, k, 8)
        x = (ix.to(r.dtype) + r[..., 0]) * sx + self.point_range[0]
        y = (iy.to(r.dtype) + r[..., 1]) * sy + self.point_range[1]
        dims = torch.exp(r[..., 3:6].clamp(max=5))
        yaw = torch.atan2(r[..., 6], r[..., 7])
        boxes = torch.cat([x.unsqueeze(-1), y.unsqueeze(-1), r[..., 2:3], dims, yaw.unsqueeze(-1)], -1)
        limit = self.post_max[0] if self.training else self.post_max[1]
        out_b, out_s, out_l, out_i = [], [], [], []
        for b in range(B):
            keep = scores[b] >= self.score_thr
            if int(keep.sum()) == 0:  # keep a few proposals so that the second stage always has work
                keep = torch.zeros_like(keep)
                keep[:min(limit, 8)] = True
            bx, sc, lb = boxes[b][keep], scores[b][keep], labels[b][keep]
            shifted = bx.clone()
            shifted[:, 0] += lb.to(bx.dtype) * 1000.0  # class-aware NMS in one call
            sel = nms_bev_torch(shifted.double(), sc.double(), self.nms_iou, max_out=limit)
            out_b.append(bx[sel])
            out_s.append(sc[sel])
            out_l.append(lb[sel])
            out_i.append(torch.full_like(lb[sel], b))
        return Proposals(torch.cat(out_b), torch.cat(out_s), torch.cat(out_l), torch.cat(out_i))
