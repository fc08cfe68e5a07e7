"""A trained spconv LiDAR backbone rewritten as gathers and matrix products (exportable, no spconv).

`backbone_spec(encoder)` describes the backbone of a `SecondLidarEncoder` as plain data (JSON): every
sparse convolution in order, with its kernel, stride, padding and which site set it reads and writes.
`omnifuse.deploy.sparse_plan` turns that description and a scan's voxels into index tables in numpy;
`GatherBackbone` computes the same features as the spconv layers from those tables with each convolution
one gather and one matrix product (batch norm folded into the weights), so ONNX and OpenVINO can run it.

Site sets are numbered: 0 = the voxels; each strided convolution makes the next set. A table is named
`subm<s>` (a submanifold convolution over set s) or `down<s>` (the strided convolution that makes set s).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

__all__ = ['backbone_spec', 'GatherBackbone']


def _convs(encoder: Any) -> list[tuple[Any, Any]]:
    """(sparse conv, batch norm) pairs of the encoder's backbone, in execution order."""
    from omnifuse.ops.spconv_compat import import_spconv

    spconv = import_spconv()
    pairs: list[tuple[Any, Any]] = []
    for block in [encoder.conv_input, *encoder.levels, encoder.conv_out]:
        mods = [m for m in block.modules() if isinstance(m, (spconv.SubMConv3d, spconv.SparseConv3d,
                                                              nn.BatchNorm1d))]
        for conv, bn in zip(mods[::2], mods[1::2], strict=True):
            if not isinstance(bn, nn.BatchNorm1d):
                raise TypeError(f'expected a batch norm after {conv}, got {bn}')
            pairs.append((conv, bn))
    return pairs


def backbone_spec(encoder: Any) -> dict[str, Any]:
    """The backbone of a `SecondLidarEncoder` as JSON-able data (see the module docstring).

    Returns:
        {'sparse_shape': [D, H, W], 'convs': [{'table', 'subm', 'kernel', 'stride', 'padding', 'in_set',
         'out_set', 'in_channels', 'out_channels'}, ...], 'levels': {'x_conv1': set, ...}, 'bev_set': set}.
    """
    convs, site_set, level_sets = [], 0, {}
    pairs = _convs(encoder)
    level_ends: dict[int, str] = {}
    count = 1  # conv_input
    for i, block in enumerate(encoder.levels, start=1):
        count += sum(1 for m in block.modules() if hasattr(m, 'subm'))
        level_ends[count - 1] = f'x_conv{i}'
    for index, (conv, _) in enumerate(pairs):
        subm = bool(conv.subm)
        in_set = site_set
        if not subm:
            site_set += 1
        convs.append({'table': f'subm{site_set}' if subm else f'down{site_set}', 'subm': subm,
                      'kernel': [int(v) for v in conv.kernel_size], 'stride': [int(v) for v in conv.stride],
                      'padding': [int(v) for v in conv.padding], 'in_set': in_set, 'out_set': site_set,
                      'in_channels': int(conv.in_channels), 'out_channels': int(conv.out_channels)})
        if index in level_ends:
            level_sets[level_ends[index]] = site_set
    for i in range(1, len(encoder.levels) + 1):  # a level of no layer (blocks 0) shares the previous set
        level_sets.setdefault(f'x_conv{i}', level_sets.get(f'x_conv{i - 1}', 0))
    return {'sparse_shape': [int(v) for v in encoder.sparse_shape], 'convs': convs,
            'levels': dict(sorted(level_sets.items())), 'bev_set': site_set}


def _fold(conv: Any, bn: Any) -> tuple[Tensor, Tensor]:
    """(K·C_in, C_out) weight and (C_out,) bias of conv + eval-mode batch norm."""
    w = conv.weight.detach()  # spconv 2.x: (C_out, kz, ky, kx, C_in)
    scale = bn.weight.detach() / torch.sqrt(bn.running_var.detach() + bn.eps)
    bias = bn.bias.detach() - bn.running_mean.detach() * scale
    w = w.permute(1, 2, 3, 4, 0).reshape(-1, w.shape[0]) * scale  # rows in (kz, ky, kx, C_in) order
    return w.contiguous(), bias.contiguous()


class GatherBackbone(nn.Module):
    """The sparse backbone of a `SecondLidarEncoder` from index tables (eval mode: batch norm folded).

    forward(features, tables..., bev_rows):
        features: with `first_columns` (the default), (M0', K·C_in) the first convolution's gathered input
            (`omnifuse.deploy.sparse_rules.gather_columns` of the voxel features and its table, in numpy: a
            gather of 4-channel rows costs OpenVINO 2.4-3 ms a KITTI scan and numpy 0.7); else (M0, C_in)
            float32 mean voxel features (site set 0).
        tables: one (M_out, K) int32 table per name in `table_names`, entries -1 (or M_in) for "no input":
            both index the zero row appended to the features (int64 tables, as older exports take, work alike).
            With `first_columns` the first convolution's table is not among them unless a later one reads it.
        bev_rows: (D'·H'·W',) int32 row of the last site set at each cell of the dense grid (-1 or M_last if
            empty).
    returns (bev, *levels): bev (1, C·D', H', W') and the features of each name in `level_names`.
    """

    def __init__(self, encoder: Any, *, first_columns: bool = True) -> None:
        super().__init__()
        self.spec = {**backbone_spec(encoder), 'first_columns': bool(first_columns)}
        self.first_columns = bool(first_columns)
        if first_columns and not self.spec['convs'][0]['subm']:  # a later layer would read the voxel features
            raise ValueError('first_columns: the first convolution must be submanifold')
        weights = [_fold(conv, bn) for conv, bn in _convs(encoder)]
        self.weights = nn.ParameterList([nn.Parameter(w, requires_grad=False) for w, _ in weights])
        self.biases = nn.ParameterList([nn.Parameter(b, requires_grad=False) for _, b in weights])
        convs = self.spec['convs'][1:] if first_columns else self.spec['convs']
        self.table_names = list(dict.fromkeys(c['table'] for c in convs))
        self.level_names = list(self.spec['levels'])
        d, h, w = self.spec['sparse_shape']
        for c in self.spec['convs']:
            if not c['subm']:
                d, h, w = ((n + 2 * p - k) // s + 1 for n, k, s, p in
                           zip((d, h, w), c['kernel'], c['stride'], c['padding'], strict=True))
        self.dense_shape = (d, h, w)

    def forward(self, features: Tensor, *rest: Tensor) -> tuple[Tensor, ...]:
        """See the class docstring."""
        tables = dict(zip(self.table_names, rest[:len(self.table_names)], strict=True))
        bev_rows = rest[len(self.table_names)]
        sets = {0: features}
        x = features
        for i, (conv, w, b) in enumerate(zip(self.spec['convs'], self.weights, self.biases, strict=True)):
            if i == 0 and self.first_columns:
                gathered = features
            else:
                x = sets[conv['in_set']]
                padded = torch.cat([x, x.new_zeros((1, x.shape[1]))], 0)
                rows = tables[conv['table']]
                gathered = padded[rows].reshape(rows.shape[0], -1)  # (M_out, K·C_in)
            x = torch.relu(gathered @ w + b)
            sets[conv['out_set']] = x
        d, h, w_ = self.dense_shape
        padded = torch.cat([x, x.new_zeros((1, x.shape[1]))], 0)
        if d == 1:  # a transpose straight into the neck's convolution: OpenVINO folds it into its layout
            return (padded[bev_rows].reshape(1, h, w_, -1).permute(0, 3, 1, 2),
                    *(sets[self.spec['levels'][name]] for name in self.level_names))
        dense = padded[bev_rows].reshape(d, h, w_, -1).permute(3, 0, 1, 2)  # (C, D', H', W')
        bev = dense.reshape(1, -1, h, w_)
        return (bev, *(sets[self.spec['levels'][name]] for name in self.level_names))
