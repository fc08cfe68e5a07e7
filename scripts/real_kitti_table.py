"""Score detectors on the real labelled KITTI scans (validation only) as `omnifuse detect` + `omnifuse eval kitti`.

For each NAME=CHECKPOINT and each input mode (as is, and levelled with --align-ground) it runs the detector on
every scan of --root, scores the predictions with the default KITTI protocol and again against a copy of the
labels in which Van is renamed Car (KITTI sequence 0000's validation scans hold Vans and no Car: the Car
class cannot be scored on them as labelled; the copy is for scoring only, never for training), and prints one
row per run: AP|R40 moderate of Car BEV@0.5 and 3D@0.7, Van-as-Car BEV@0.5, 3D@0.5 and 3D@0.7, Cyclist
BEV@0.5 and 3D@0.5, Pedestrian 3D@0.5, and the median size error of the boxes found on the vans: each labelled Van
matched to the nearest Car detection within 2 m (ground distance of the centres), predicted minus labelled
height / width / length in metres. Levelling is forced on or off per mode, whatever the model's config says.

    .venv/bin/python scripts/real_kitti_table.py --root ../shared/data/kitti_real/seq0000_val \
        shipped=omnifuse/checkpoints/fast_lidar_sim.pth tilt=work_dirs/det_fast_lidar_sim-tilt/weights.pth
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from omnifuse.cli import main as _omnifuse  # noqa: E402


def omnifuse(argv: list[str]) -> int:
    """Run one `omnifuse` command with its printed tables swallowed (errors still go to stderr)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return _omnifuse(argv)

COLUMNS = ('Car BEV@0.5', 'Car 3D@0.7', 'VanCar BEV@0.5', 'VanCar 3D@0.5', 'VanCar 3D@0.7', 'Cyc BEV@0.5',
           'Cyc 3D@0.5', 'Ped 3D@0.5', 'Van dh', 'Van dw', 'Van dl')


def van_as_car(labels: Path, out: Path) -> Path:
    """A copy of the label folder with every Van renamed Car (for scoring only)."""
    out.mkdir(parents=True, exist_ok=True)
    for f in sorted(labels.glob('*.txt')):
        lines = [('Car' + line[3:]) if line.startswith('Van ') else line for line in f.read_text().splitlines()]
        (out / f.name).write_text('\n'.join(lines) + '\n')
    return out


def van_size_errors(gt: Path, pred: Path, max_dist: float = 2.0) -> list[float]:
    """Median (h, w, l) of predicted minus labelled size [m] over the labelled vans matched to a Car detection."""
    import numpy as np

    from omnifuse.structures.kitti_labels import read_kitti_label

    errs = []
    for f in sorted(gt.glob('*.txt')):
        g = read_kitti_label(f)
        p = read_kitti_label(pred / f.name) if (pred / f.name).exists() else None
        if p is None:
            continue
        cars = np.flatnonzero(p.name == 'Car')
        for i in np.flatnonzero(g.name == 'Van'):
            if not len(cars):
                break
            d = np.hypot(*(p.location[cars][:, [0, 2]] - g.location[i, [0, 2]]).T)
            j = cars[int(np.argmin(d))]
            if d.min() <= max_dist:
                errs.append(p.dimensions[j] - g.dimensions[i])
    return [float(v) for v in np.median(errs, axis=0)] if errs else [float('nan')] * 3


def score(gt: Path, pred: Path, out_json: Path) -> dict:
    """`omnifuse eval kitti` -> its JSON."""
    if omnifuse(['eval', 'kitti', '--gt', str(gt), '--pred', str(pred), '--json', str(out_json)]) != 0:
        raise SystemExit(f'eval failed for {pred}')
    return json.loads(out_json.read_text())


def row(plain: dict, vac: dict) -> list[float]:
    """The table's columns (moderate AP|R40, %)."""
    def ap(res: dict, cls: str, iou: str, metric: str) -> float:
        return float(res[cls][iou][metric]['AP40'][1])
    # KITTI's loose set: Car 0.5, Pedestrian / Cyclist 0.25; the strict set: 0.7 / 0.5.
    return [ap(plain, 'Car', 'loose', 'bev'), ap(plain, 'Car', 'strict', '3d'), ap(vac, 'Car', 'loose', 'bev'),
            ap(vac, 'Car', 'loose', '3d'), ap(vac, 'Car', 'strict', '3d'), ap(plain, 'Cyclist', 'strict', 'bev'),
            ap(plain, 'Cyclist', 'strict', '3d'), ap(plain, 'Pedestrian', 'strict', '3d')]


def main() -> int:
    """Parse the arguments, run each model and input mode on the scans and print the table; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--root', required=True, help='KITTI-layout root of the labelled real scans')
    parser.add_argument('--modes', default='plain,align',
                        help='comma-separated: plain (--no-align-ground), align (--align-ground), model (as the '
                        "model's config says: what `omnifuse detect` does by default), nofit (as the model's config "
                        'says, with --no-fit-boxes)')
    parser.add_argument('--json', default=None, help='write the rows here')
    parser.add_argument('--config', default=None,
                        help="model config for every checkpoint (default: each checkpoint's embedded config; "
                        'needed for the epoch_N.pth files of a training run, which embed none)')
    parser.add_argument('--backend', default=None, choices=['torch', 'onnxruntime', 'openvino'],
                        help='runtime of every checkpoint (default: its suffix decides, as `omnifuse detect`)')
    parser.add_argument('--precision', default=None, choices=['f32', 'bf16'],
                        help='arithmetic of an exported model on OpenVINO (default: f32)')
    parser.add_argument('models', nargs='+', metavar='NAME=CHECKPOINT')
    args = parser.parse_args()
    bad = sorted(set(args.modes.split(',')) - {'plain', 'align', 'model', 'nofit'})
    if bad:
        parser.error(f'--modes: unknown mode(s) {bad} (plain, align, model, nofit)')
    root = Path(args.root)
    labels = root / 'training' / 'label_2'
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        vac_gt = van_as_car(labels, tmp_path / 'gt_van_as_car')
        for spec in args.models:
            name, _, ckpt = spec.partition('=')
            for mode in args.modes.split(','):
                pred = tmp_path / f'{name}_{mode}'
                extra = {'align': ['--align-ground'], 'plain': ['--no-align-ground'], 'model': [],
                         'nofit': ['--no-fit-boxes']}[mode]
                config = ['--config', args.config] if args.config else []
                config += ['--backend', args.backend] if args.backend else []
                config += ['--precision', args.precision] if args.precision else []
                if omnifuse(['detect', '--kitti-root', str(root), '--checkpoint', ckpt, '--out', str(pred),
                             *config, *extra]) != 0:
                    raise SystemExit(f'detect failed for {spec}')
                rows[f'{name} {mode}'] = row(score(labels, pred, tmp_path / 'a.json'),
                                             score(vac_gt, pred, tmp_path / 'b.json')) + van_size_errors(labels, pred)
    print('| model, input | ' + ' | '.join(COLUMNS) + ' |')
    print('|---' * (len(COLUMNS) + 1) + '|')
    for key, values in rows.items():
        print(f'| {key} | ' + ' | '.join(f'{v:.1f}' for v in values[:-3]) + ' | '
              + ' | '.join(f'{v:+.2f}' for v in values[-3:]) + ' |')
    if args.json:
        table = {k: dict(zip(COLUMNS, v, strict=True)) for k, v in rows.items()}
        Path(args.json).write_text(json.dumps(table, indent=1))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
