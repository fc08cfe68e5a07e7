"""`omnifuse detect --waymo-root` writes the Waymo JSON Lines that `omnifuse eval waymo` reads, keyed by the
official frame names; a scan with no point in the model's range gives no detections (and no crash)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from omnifuse.cli import main
from omnifuse.datasets.waymo import WaymoReader

REPO = Path(__file__).resolve().parents[2]
TYPES = {'Car': 'VEHICLE', 'Pedestrian': 'PEDESTRIAN', 'Cyclist': 'CYCLIST'}


def _gt_jsonl(root: Path, out: Path) -> int:
    reader = WaymoReader(root)
    lines = []
    for fid in reader.frame_ids:
        frame = reader.read(fid)
        for box, name in zip(frame.labels.boxes.data, frame.labels.names, strict=True):
            if name in TYPES:
                lines.append(json.dumps({'frame': frame.meta['waymo_frame'], 'type': TYPES[name],
                                         'box': [float(v) for v in box]}))
    out.write_text('\n'.join(lines) + '\n')
    return len(lines)


def test_detect_waymo_jsonl_feeds_eval_waymo(tmp_path: Path, shared_data: Path, capsys) -> None:
    torch.manual_seed(0)
    root = shared_data / 'waymo' / 'kitti_format'
    pred = tmp_path / 'pred.jsonl'
    # the Waymo config with untrained weights: this checks the format and the frame names, not accuracy
    config = REPO / 'configs/logonet/logonet_1xb1-40e_waymo.py'
    assert main(['detect', '--waymo-root', str(root), '--config', str(config),
                 '--checkpoint', 'none', '--score-thr', '0', '--out', str(pred),
                 '--png-dir', str(tmp_path / 'png')]) == 0
    rows = [json.loads(line) for line in pred.read_text().splitlines()]
    assert rows, 'an untrained model still proposes boxes on a scan with points in range'
    names = {WaymoReader(root).read(f).meta['waymo_frame'] for f in ('0000000', '1000000')}
    assert {r['frame'] for r in rows} <= names
    assert all(r['type'] in TYPES.values() and len(r['box']) == 7 and 0 <= r['score'] <= 1 for r in rows)
    assert (tmp_path / 'png' / '0000000.png').stat().st_size > 10_000

    gt = tmp_path / 'gt.jsonl'
    n_gt = _gt_jsonl(root, gt)
    out = tmp_path / 'waymo.json'
    capsys.readouterr()
    assert main(['eval', 'waymo', '--gt', str(gt), '--pred', str(pred), '--json', str(out)]) == 0
    result = json.loads(out.read_text())
    assert result['counts']['frames'] == 2  # the prediction frames are the ground truth's: names match
    assert result['counts']['predictions'] == len(rows)
    assert n_gt > 0


def test_scan_outside_the_model_range_gives_no_detections(tmp_path: Path, shared_data: Path) -> None:
    # The shared Waymo scans are 800 points between 2.6 m and 5.3 m above the vehicle origin: all above the
    # shipped (KITTI-like, z in [-3, 1] m) model's range. spconv refuses empty input; the model must not.
    root = shared_data / 'waymo' / 'kitti_format'
    raw = np.fromfile(root / 'training' / 'velodyne' / '0000000.bin', dtype=np.float32).reshape(-1, 6)
    assert raw[:, 2].min() > 1.0
    pred = tmp_path / 'pred.jsonl'
    assert main(['detect', '--waymo-root', str(root), '--score-thr', '0', '--out', str(pred)]) == 0
    assert pred.read_text() == ''


def test_detect_says_what_the_waymo_file_holds(shared_data: Path, tmp_path: Path, monkeypatch,
                                               capsys) -> None:
    """Detections of a class with no Waymo type are left out of the file, and the console line says so."""
    import omnifuse.apis.detection as detection
    from omnifuse.datasets.box_fit import BoxFit
    from omnifuse.datasets.input_adapt import InputAdapter
    from omnifuse.structures import DetPredictions

    class Fixed:  # a detector that finds a car, a van and a pedestrian in every frame
        adapter = InputAdapter()
        box_fit = BoxFit()
        class_names = ['Car', 'Pedestrian', 'Cyclist', 'Van']

        def __call__(self, frame, **_) -> DetPredictions:
            boxes = np.array([[10.0, 0, -1, 4, 2, 1.5, 0], [20.0, 3, -1, 5, 2, 2, 0], [8.0, -3, -1, 1, 1, 1.8, 0]])
            return DetPredictions(boxes, np.array([0.9, 0.8, 0.7], np.float32), np.array([0, 3, 1]))

        def sensed_points(self, points):
            return points

    monkeypatch.setattr(detection, 'open_detector', lambda *a, **k: Fixed())
    root = shared_data / 'waymo' / 'kitti_format'
    pred = tmp_path / 'pred.jsonl'
    assert main(['detect', '--waymo-root', str(root), '--out', str(pred)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    rows = [json.loads(r) for r in pred.read_text().splitlines()]
    frames = len(WaymoReader(root).frame_ids)
    assert len(rows) == 2 * frames and {r['type'] for r in rows} == {'VEHICLE', 'PEDESTRIAN'}
    assert f'{3 * frames} detection(s)' in line and f'; {len(rows)} written to {pred}' in line
    assert f'({frames} Van: classes with no Waymo type' in line
