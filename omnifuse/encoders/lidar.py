"""LiDAR encoder: voxelisation → mean voxel features → SECOND-style spconv backbone → BEV map.

The sparse backbone has four levels at strides 1, 2, 4, 8 (`x_conv1`..`x_conv4`), each a strided
sparse convolution (kernel 3, stride 2, padding 1) followed by submanifold convolutions, then a last
convolution along z that is densified and folded into the BEV channels. The levels are handed on as
`SparseLevel`s for RoI-grid pooling and global fusion.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from omnifuse.ops.features import LidarFeatures, SparseLevel
from omnifuse.ops.spconv_compat import cpu_sparse_threads, import_spconv
from omnifuse.ops.timing import stage
from omnifuse.ops.voxelize import Voxelization, scatter_mean, unique_voxels
from omnifuse.registry import MODELS

__all__ = ['SecondLidarEncoder', 'BevNeck']


def _sparse_block(spconv, cin: int, cout: int, *, key: str, stride: int | tuple[int, int, int] = 1, padding: object = 1,
                  kernel: object = 3, subm: bool = True) -> nn.Module:
    if subm:
        conv = spconv.SubMConv3d(cin, cout, kernel, padding=padding, bias=False, indice_key=key)
    else:
        conv = spconv.SparseConv3d(cin, cout, kernel, stride=stride, padding=padding, bias=False, indice_key=key)
    return spconv.SparseSequential(conv, nn.BatchNorm1d(cout, eps=1e-3, momentum=0.01), nn.ReLU(inplace=True))


def _conv_out(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


@MODELS.register_module()
class SecondLidarEncoder(nn.Module):
    """Voxel LiDAR encoder (SECOND-style sparse 3D backbone, spconv 2.x).

    Args:
        voxel_size: (vx, vy, vz) metres.
        point_range: (x0, y0, z0, x1, y1, z1) metres, LiDAR frame.
        in_channels: point features used (x, y, z, intensity, ...).
        channels: channels of the four levels (strides 1, 2, 4, 8).
        out_channels: channels of the last z-convolution; BEV channels = out_channels · D_out.
        blocks: submanifold convolutions after each level's strided convolution: one number for levels 2-4
            (level 1 then has one), or four numbers (level 1 may have 0: the input convolution only).
        mode: 'hard' or 'dynamic' voxelisation (both give one mean feature per voxel).
        max_points, max_voxels: hard voxelisation budget (see `Voxelization`).

    Shapes:
        points: list of B tensors (N_b, >= in_channels), LiDAR frame.
        return: `LidarFeatures` with bev (B, bev_channels, ceil(H/8), ceil(W/8)).
    """

    def __init__(self, *, voxel_size: Sequence[float], point_range: Sequence[float], in_channels: int = 4,
                 channels: Sequence[int] = (16, 32, 64, 64), out_channels: int = 128,
                 blocks: int | Sequence[int] = 1,
                 mode: str = 'hard', max_points: int = 5, max_voxels: Sequence[int] = (16000, 40000)) -> None:
        super().__init__()
        spconv = import_spconv()

        self.voxelize = Voxelization(voxel_size=voxel_size, point_range=point_range, mode=mode,
                                     max_points=max_points, max_voxels=max_voxels)
        self.in_channels = in_channels
        D, H, W = self.voxelize.grid_shape
        self.sparse_shape = (D + 1, H, W)  # one extra z slice, as SECOND does, so z keeps 2 cells at the end
        c1, c2, c3, c4 = channels
        level_blocks = (1, blocks, blocks, blocks) if isinstance(blocks, int) else tuple(int(b) for b in blocks)
        if len(level_blocks) != 4:
            raise ValueError(f'SecondLidarEncoder.blocks: one number or four, got {blocks!r}')
        # z sizes of the levels: the last strided conv drops the z padding when z is deep enough (as SECOND).
        d = self.sparse_shape[0]
        zpads = []
        for level in range(2, 5):
            zpads.append(0 if (level == 4 and d >= 3) else 1)
            d = _conv_out(d, 3, 2, zpads[-1])
        kz = min(3, d)
        self.conv_input = _sparse_block(spconv, in_channels, c1, key='subm1')
        layers = []
        cin = c1
        for level, cout in enumerate((c1, c2, c3, c4), start=1):
            mods = []
            if level > 1:
                pad = (zpads[level - 2], 1, 1)
                mods.append(_sparse_block(spconv, cin, cout, key=f'spconv{level}', stride=2, padding=pad,
                                          subm=False))
            n = level_blocks[level - 1]
            mods += [_sparse_block(spconv, cout, cout, key=f'subm{level}') for _ in range(n)]
            layers.append(spconv.SparseSequential(*mods) if mods else spconv.SparseSequential(nn.Identity()))
            cin = cout
        self.levels = nn.ModuleList(layers)
        self.conv_out = _sparse_block(spconv, c4, out_channels, key='spconv_down2', stride=(2 if kz == 3 else 1, 1, 1),
                                      padding=0, kernel=(kz, 1, 1), subm=False)
        # Grid geometry of every level (origin = centre of voxel 0, spacing between centres).
        vs = tuple(float(v) for v in voxel_size)
        lo = tuple(float(v) for v in point_range[:3])
        origin = [lo[i] + vs[i] / 2 for i in range(3)]
        spacing = list(vs)
        d, h, w = self.sparse_shape
        self.level_geometry: dict[str, tuple[tuple[float, float, float], tuple[float, float, float],
                                             tuple[int, int, int]]] = {}
        for level in range(1, 5):
            if level > 1:
                pz = zpads[level - 2]
                if pz == 0:
                    origin[2] += spacing[2]
                spacing = [s * 2 for s in spacing]
                d, h, w = _conv_out(d, 3, 2, pz), _conv_out(h, 3, 2, 1), _conv_out(w, 3, 2, 1)
            self.level_geometry[f'x_conv{level}'] = ((origin[0], origin[1], origin[2]),
                                                     (spacing[0], spacing[1], spacing[2]), (d, h, w))
        self.bev_channels = out_channels * _conv_out(d, kz, 2 if kz == 3 else 1, 0)
        self.channels = dict(zip((f'x_conv{i}' for i in range(1, 5)), (c1, c2, c3, c4), strict=True))
        self.point_range = tuple(float(v) for v in point_range)

    def forward(self, points: Sequence[Tensor]) -> LidarFeatures:
        """Encode a batch of point clouds (see the class docstring)."""
        with stage('voxelise'):
            pts = [p[:, :self.in_channels] for p in points]
            if self.voxelize.mode == 'hard':
                voxels, coords, num = self.voxelize(pts)
                feats = voxels.sum(1) / num.clamp(min=1).unsqueeze(1).to(voxels.dtype)  # (M, C) mean VFE
            else:
                flat, pcoords, _ = self.voxelize(pts)
                coords, inverse = unique_voxels(pcoords)
                feats = scatter_mean(flat, inverse, coords.shape[0])
        with stage('lidar_backbone'):
            return self._backbone(feats, coords, len(points))

    def _backbone(self, feats: Tensor, coords: Tensor, B: int) -> LidarFeatures:
        spconv = import_spconv()
        if feats.shape[0] == 0:
            return self._empty_features(feats, B)

        with cpu_sparse_threads(feats.device):
            x = spconv.SparseConvTensor(feats, coords.int(), list(self.sparse_shape), B)
            x = self.conv_input(x)
            levels: dict[str, SparseLevel] = {}
            for i, layer in enumerate(self.levels, start=1):
                x = layer(x)
                origin, spacing, shape = self.level_geometry[f'x_conv{i}']
                levels[f'x_conv{i}'] = SparseLevel(x.features, x.indices.long(), origin, spacing, shape)
            out = self.conv_out(x).dense()  # (B, C, D', H', W')
        bev = out.flatten(1, 2)  # (B, C·D', H', W')
        return LidarFeatures(bev=bev, point_range=self.point_range, levels=levels)


    def _empty_features(self, feats: Tensor, B: int) -> LidarFeatures:
        """What the sparse backbone yields for a batch without any voxel (spconv refuses empty input):
        no active site at any level and an all-zero BEV map."""
        levels = {name: SparseLevel(feats.new_zeros((0, self.channels[name])),
                                    torch.zeros((0, 4), dtype=torch.long, device=feats.device), origin, spacing, shape)
                  for name, (origin, spacing, shape) in self.level_geometry.items()}
        _, h, w = self.level_geometry['x_conv4'][2]
        bev = feats.new_zeros((B, self.bev_channels, h, w))
        return LidarFeatures(bev=bev, point_range=self.point_range, levels=levels)


class _BasicBlock2d(nn.Sequential):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01), nn.ReLU(inplace=True))


@MODELS.register_module()
class BevNeck(nn.Module):
    """2D BEV backbone + FPN (SECOND-FPN style): a few strided conv stages, each upsampled back and concatenated.

    Args:
        in_channels: channels of the input BEV map.
        layer_nums: 3x3 convs per stage after its first (strided) conv.
        layer_strides: stride of each stage's first conv.
        num_filters: channels of each stage.
        upsample_strides: each stage's output is resized by this factor (≥1 transposed conv, <1 strided conv)
            so that all stages meet at the same resolution.
        out_channels: channels of each upsampled stage (concatenated: sum is the output).

    Shapes:
        x: (B, C_in, H, W). return: (B, sum(out_channels), H·u0/s0, W·u0/s0).
    """

    def __init__(self, *, in_channels: int, layer_nums: Sequence[int] = (3, 3),
                 layer_strides: Sequence[int] = (1, 2), num_filters: Sequence[int] = (64, 128),
                 upsample_strides: Sequence[float] = (1, 2), out_channels: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        self.stages = nn.ModuleList()
        self.ups = nn.ModuleList()
        cin = in_channels
        for n, s, c, u, co in zip(layer_nums, layer_strides, num_filters, upsample_strides, out_channels, strict=True):
            self.stages.append(nn.Sequential(_BasicBlock2d(cin, c, s), *[_BasicBlock2d(c, c, 1) for _ in range(n)]))
            if u >= 1:
                up: nn.Module = nn.ConvTranspose2d(c, co, int(u), stride=int(u), bias=False)
            else:
                k = round(1 / u)
                up = nn.Conv2d(c, co, k, stride=k, bias=False)
            self.ups.append(nn.Sequential(up, nn.BatchNorm2d(co, eps=1e-3, momentum=0.01), nn.ReLU(inplace=True)))
            cin = c
        self.out_channels = int(sum(out_channels))
        self.out_stride = float(layer_strides[0]) / float(upsample_strides[0])

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, H, W) -> (B, C_out, H', W')."""
        outs = []
        for block, up in zip(self.stages, self.ups, strict=True):
            x = block(x)
            outs.append(up(x))
        h = min(o.shape[2] for o in outs)
        w = min(o.shape[3] for o in outs)
        return torch.cat([o[:, :, :h, :w] for o in outs], 1)
