"""`omnifuse segment`: RGB-X semantic segmentation of one image pair, or of every frame of a folder.

One pair:   omnifuse segment --rgb A.png [--x B.png] [--config C] [--checkpoint K] --png OUT.png
Folder:     omnifuse segment --kitti-root DIR --out PRED_DIR     (one uint8 label PNG per image_2 frame,
            ready for `omnifuse eval seg --gt DIR/semantic_2 --pred PRED_DIR`)

`--checkpoint model.onnx` (or an OpenVINO .xml) runs a model exported by `omnifuse export` with ONNX Runtime
(OpenVINO) and no torch; `--backend` forces one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from omnifuse.commands.vocabulary import add_backend, add_split, deprecated_alias
from omnifuse.defaults import SEGMENTATION
from omnifuse.install_paths import CONFIG_DIR

PATH = ('segment',)
HELP = 'semantic segmentation of an RGB + thermal/depth pair, or of every camera frame of a KITTI-layout folder'

DEFAULT_CONFIG = SEGMENTATION.config  # the shipped model (omnifuse.defaults)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `omnifuse segment`."""
    parser.add_argument('--rgb', metavar='IMAGE', help='colour image to segment (an MFNet 4-channel PNG also '
                        'carries its thermal channel)')
    parser.add_argument('--x', metavar='IMAGE', help='the X image registered to --rgb: thermal (8/16-bit grey) '
                        'for thermal models, or depth (16-bit PNG, metres x 256, 0 = no return) for depth '
                        'models; omitted = X missing (the model runs on RGB alone)')
    parser.add_argument('--png', metavar='OUT', help='with --rgb: write the prediction drawn over the image here')
    parser.add_argument('--labels', metavar='OUT', help='with --rgb: also write the class ids as a uint8 PNG')
    parser.add_argument('--kitti-root', metavar='DIR', help='KITTI-layout folder (simulator output): segment '
                        'every image_2 frame, X from thermal/ (warped into image_2) or velodyne/ (depth)')
    parser.add_argument('--out', metavar='PRED_DIR', help='with --kitti-root: folder for the label PNGs')
    parser.add_argument('--png-dir', metavar='DIR', help='with --kitti-root: also write each prediction drawn '
                        'over its image (and the registered X beside it) to DIR/<id>.png')
    add_split(parser, help_suffix=' (with --kitti-root; default: every frame)')
    deprecated_alias(parser, '--image-set', dest='split', use='--split NAME', metavar='NAME')
    parser.add_argument('--config', default=str(DEFAULT_CONFIG),
                        help=f'model config (default: configs/{DEFAULT_CONFIG.relative_to(CONFIG_DIR)})')
    parser.add_argument('--checkpoint', metavar='K', help='weights (.pth state dict or mmengine checkpoint); '
                        'default: the shipped omnifuse/checkpoints/ weights of a configs/cmx config (e.g. '
                        f'{SEGMENTATION.checkpoint.name} for the default config); "none" = random weights (testing '
                        'only); a model exported by `omnifuse export` (.onnx, OpenVINO .xml) runs without torch and '
                        'needs no --config')
    add_backend(parser)
    parser.add_argument('--device', default=None, help='torch device (default: cuda when available, else cpu)')
    parser.add_argument('--alpha', type=float, default=0.5, help='opacity of the class colours in --png '
                        '(default: 0.5)')


def _write_png(path: Path, image, *, rgb: bool) -> None:  # type: ignore[no-untyped-def]
    import cv2

    from omnifuse.errors import OmnifuseError

    path.parent.mkdir(parents=True, exist_ok=True)
    data = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if rgb else image
    if not cv2.imwrite(str(path), data):
        raise OmnifuseError(f'{path}: could not write the image (is the extension .png?)')


def _read_pair(args: argparse.Namespace, modality: str):  # type: ignore[no-untyped-def]
    """(rgb, x or None) for the single-pair mode; x normalised as in training."""
    import numpy as np

    from omnifuse.datasets.rgbt import normalize_thermal, read_color_image, read_mfnet, read_thermal_image
    from omnifuse.errors import FormatError
    from omnifuse.structures.image_file import read_image_unchanged

    raw = read_image_unchanged(args.rgb)
    thermal = None
    if raw.ndim == 3 and raw.shape[2] == 4 and args.x is None:
        sample = read_mfnet(args.rgb)
        rgb, thermal = sample.rgb, sample.thermal
    else:
        rgb = read_color_image(args.rgb)
    if modality == 'rgb':
        if args.x:
            print('omnifuse segment: note: the model is RGB-only; --x is not used', file=sys.stderr)
        return rgb, None
    if args.x is None and modality == 'depth' and thermal is not None:
        print(f'omnifuse segment: note: {args.rgb} carries a thermal channel, but the model wants depth '
              '(--x DEPTH.png); running on RGB alone', file=sys.stderr)
        return rgb, None
    if args.x is None and thermal is None:
        return rgb, None
    if modality == 'thermal':
        t = thermal if thermal is not None else read_thermal_image(args.x)
        if t.shape != rgb.shape[:2]:
            raise FormatError(f'{args.x}: thermal size {t.shape[1]}x{t.shape[0]} differs from the RGB image '
                              f'{rgb.shape[1]}x{rgb.shape[0]}; the pair must be registered')
        return rgb, normalize_thermal(t, valid=t > 0)
    depth_raw = read_image_unchanged(args.x)
    if depth_raw.ndim != 2 or depth_raw.dtype != np.uint16:
        raise FormatError(f'{args.x}: a depth image must be a 16-bit single-channel PNG (metres x 256), '
                          f'found {depth_raw.shape} {depth_raw.dtype}')
    if depth_raw.shape != rgb.shape[:2]:
        raise FormatError(f'{args.x}: depth size differs from the RGB image; the pair must be registered')
    return rgb, depth_raw.astype(np.float32) / 256.0


def run(args: argparse.Namespace) -> int:
    """Segment one pair or a folder."""
    import numpy as np
    from tqdm import tqdm

    from omnifuse.apis.segmentation import FrameSegmenter, default_checkpoint, resize_labels
    from omnifuse.deploy.runtime import choose_backend
    from omnifuse.errors import OmnifuseError
    from omnifuse.viz.segmentation import draw_label_overlay

    if bool(args.rgb) == bool(args.kitti_root):
        raise OmnifuseError('give either --rgb (one pair) or --kitti-root (a folder), not both or neither')
    if args.rgb and not (args.png or args.labels):
        raise OmnifuseError('--rgb needs --png OUT (and/or --labels OUT) to write the result')
    if args.kitti_root and not args.out:
        raise OmnifuseError('--kitti-root needs --out PRED_DIR')
    if args.rgb:  # outputs checked before the model loads
        from omnifuse.viz.save import check_image_path

        if args.png:
            check_image_path(args.png, option='--png')
        if args.labels:
            check_image_path(args.labels, option='--labels')
            if Path(args.labels).suffix.lower() != '.png':
                raise OmnifuseError(f'--labels {args.labels}: class ids need a lossless .png file')
    checkpoint = args.checkpoint
    if checkpoint is None:
        checkpoint = default_checkpoint(args.config)
    elif checkpoint.lower() == 'none':
        checkpoint = None
    device = 'cpu'
    if choose_backend(checkpoint, args.backend) == 'torch':  # the exported path imports no torch
        from omnifuse.ops.device import resolve_device

        device = str(resolve_device(args.device))
    # Both modes go through FrameSegmenter: the same preprocessing (scaling, thermal warp with LiDAR depth) as
    # training and the ROS core, for the PyTorch model and an exported one alike.
    segmenter = FrameSegmenter(config=args.config, checkpoint=checkpoint if checkpoint is not None else 'none',
                               device=device, camera='image_2', thermal='thermal', backend=args.backend)
    if checkpoint is None:
        print('omnifuse segment: warning: no checkpoint (none given, none shipped for this config), the weights '
              'are random', file=sys.stderr)
    names = segmenter.class_names

    if args.rgb:
        rgb, x = _read_pair(args, segmenter.modality)
        if x is not None and segmenter.modality == 'depth':
            x = np.clip(x / segmenter.max_depth, 0.0, 1.0)
        labels = segmenter.predict_pair(rgb, x)
        if args.labels:
            _write_png(Path(args.labels), labels.astype(np.uint8), rgb=False)
            print(f'wrote {args.labels}')
        if args.png:
            _write_png(Path(args.png), draw_label_overlay(rgb, labels, names, alpha=args.alpha), rgb=True)
            print(f'wrote {args.png}')
        counts = np.bincount(labels.reshape(-1), minlength=len(names))
        top = ', '.join(f'{names[i]} {100 * counts[i] / labels.size:.1f}%' for i in np.argsort(-counts)[:4]
                        if counts[i])
        print(f'{rgb.shape[1]}x{rgb.shape[0]}, X {"given" if x is not None else "missing"}: {top}')
        return 0

    from omnifuse.datasets.kitti import KittiReader

    reader = KittiReader(args.kitti_root, 'training', image_set=args.split)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    missing_x = 0
    for frame_id in tqdm(reader.frame_ids, desc='segment', unit='frame'):
        inputs = segmenter.inputs(reader.read(frame_id))
        missing_x += segmenter.modality != 'rgb' and inputs.x is None
        labels = segmenter.predict(inputs)
        _write_png(out / f'{frame_id}.png', labels, rgb=False)
        if args.png_dir:
            over = draw_label_overlay(inputs.rgb, resize_labels(labels, inputs.rgb.shape[:2]), names, alpha=args.alpha)
            x = inputs.x if inputs.x is not None else np.zeros(inputs.rgb.shape[:2], np.float32)
            x_vis = np.repeat((255 * x).clip(0, 255).astype(np.uint8)[..., None], 3, axis=2)
            _write_png(Path(args.png_dir) / f'{frame_id}.png', np.concatenate([over, x_vis], 0), rgb=True)
    print(f'wrote {len(reader.frame_ids)} label PNGs to {out}' + (f' ({missing_x} without X)' if missing_x else ''))
    return 0
