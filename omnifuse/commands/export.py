r"""`omnifuse export`: write a model as ONNX or OpenVINO IR that runs without PyTorch.

Examples (the command's --help ends with them):
    omnifuse export --out det.onnx          (the shipped default detector: det.onnx, det.camera.onnx, det.roi.onnx)
    omnifuse export omnifuse/checkpoints/fast_lidar_sim.pth --format openvino --out lidar.xml   (config inside)
    omnifuse detect --kitti-root ../shared/data/kitti/training --checkpoint det.onnx --out preds   (no torch)
    omnifuse export configs/cmx/rgbt_cmx.py --out cmx_rgbt.onnx          (shipped weights of the config)
    omnifuse export configs/occupancy/nearfield_fused_sim.py omnifuse/checkpoints/nearfield_fused_sim.pth \
        --format openvino --out nearfield.xml
    omnifuse segment --rgb A.png --checkpoint cmx_rgbt.onnx --png OUT.png   (ONNX Runtime, no torch)
"""

from __future__ import annotations

import argparse

PATH = ('export',)
HELP = 'export a 3D detector, a CMX segmenter or the occupancy model to ONNX / OpenVINO (runs without PyTorch)'
EPILOG = __doc__.split('\n', 3)[3].rstrip()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `omnifuse export`."""
    parser.epilog = EPILOG + '\n\nWhat the files hold, backends, parity and speed: docs/deploy.md.'
    parser.add_argument('config', nargs='?', help='model config (configs/logonet/*.py, configs/cmx/*.py, '
                        'configs/occupancy/*.py); default: the shipped default detector')
    parser.add_argument('checkpoint', nargs='?', help='.pth weights (default: the shipped weights of the config)')
    parser.add_argument('--format', choices=('onnx', 'openvino'), default='onnx',
                        help='onnx (a .onnx file, ONNX Runtime) or openvino (.xml + .bin IR) (default: onnx)')
    parser.add_argument('--out', required=True, metavar='PATH', help='the .onnx file, or the .xml file of '
                        '--format openvino')
    parser.add_argument('--int8', metavar='CALIBRATION_ROOT',
                        help='detectors, --format onnx: quantise the convolutions to INT8 (ONNX Runtime static '
                        'quantisation), calibrated on the scans of this KITTI-layout folder (training scans, e.g. '
                        'data/sim_train; never the validation ones)')
    parser.add_argument('--calibration-frames', type=int, default=12, metavar='N',
                        help='scans read from --int8 for calibration (default: 12, the first ones)')
    parser.add_argument('--opset', type=int, default=17, help='ONNX opset (default: 17; >= 16 for the '
                        'occupancy model\'s GridSample)')


def run(args: argparse.Namespace) -> int:
    """Export and report how the file's outputs compare with PyTorch on an example input."""
    if args.config is not None and args.checkpoint is None and args.config.endswith('.pth'):
        args.config, args.checkpoint = None, args.config  # a detector checkpoint carries its config
    if args.config is None or _is_detector(args.config):
        return _export_detector(args)
    from omnifuse.deploy.export import export_model

    result = export_model(args.config, args.checkpoint, args.out, fmt=args.format, opset=args.opset)
    meta = result.metadata
    print('wrote ' + ', '.join(str(p) for p in result.paths))
    what = (f'{meta["modality"]} segmenter, {len(meta["class_names"])} classes, image scale {meta["img_scale"]}'
            if meta['task'] == 'segmentation' else
            f'occupancy {meta["grid_size"]}x{meta["grid_size"]} cells of {meta["resolution"]} m, image scale '
            f'{meta["image_scale"]}')
    print(f'{what}; against PyTorch on an example: {100 * result.labels_equal:.2f}% labels equal, '
          f'max |logit difference| {result.max_abs_diff:.1e}')
    return 0


def _is_detector(config: str) -> bool:
    from omnifuse.checkpoint import load_config

    model = load_config(config).get('model')
    return isinstance(model, dict) and str(model.get('type', '')).endswith('Detector')


def _export_detector(args: argparse.Namespace) -> int:
    from omnifuse.deploy.export_detector import export_detector_files

    if args.int8:
        return _export_int8(args)
    result = export_detector_files(args.config, args.checkpoint, args.out, fmt=args.format, opset=args.opset)
    spec = result.metadata
    print('wrote ' + ', '.join(str(p) for p in result.paths))
    images = ', '.join(spec['image_modalities']) or 'no image'
    print(f'detector ({", ".join(spec["class_names"])}; LiDAR + {images}); against PyTorch on a simulated scan: '
          f'{result.boxes[1]} boxes (PyTorch {result.boxes[0]}), centres within {result.max_centre_diff:.1e} m, '
          f'scores within {result.max_score_diff:.1e}')
    return 0


def _export_int8(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    from tqdm import tqdm

    from omnifuse.datasets.kitti import KittiReader
    from omnifuse.deploy.export_detector import export_detector_files
    from omnifuse.deploy.quantize import quantize_detector
    from omnifuse.errors import OmnifuseError

    if args.format != 'onnx':
        raise OmnifuseError('--int8 writes an ONNX Runtime model: use --format onnx')
    if args.calibration_frames < 1:
        raise OmnifuseError(f'--calibration-frames must be >= 1, got {args.calibration_frames}')
    reader = KittiReader(args.int8, require_labels=False)
    ids = list(reader.frame_ids)[:args.calibration_frames]
    with tempfile.TemporaryDirectory(prefix='omnifuse-export-') as tmp:
        result = export_detector_files(args.config, args.checkpoint, Path(tmp) / 'det.onnx', opset=args.opset)
        frames = (reader.read(i) for i in tqdm(ids, desc='calibrate', unit='scan'))
        written = quantize_detector(Path(tmp) / 'det.onnx', Path(args.out), frames)
    print('wrote ' + ', '.join(str(p) for p in written))
    print(f'detector with INT8 convolutions, calibrated on {len(ids)} scan(s) of {args.int8}; the float32 export '
          f'matched PyTorch within {result.max_centre_diff:.1e} m (check the INT8 one with omnifuse eval kitti)')
    return 0
