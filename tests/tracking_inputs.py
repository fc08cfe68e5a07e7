"""Tracking results derived from KITTI tracking ground truth, deterministically, for the evaluation tests.

The reference numbers in tests/evaluation/test_tracking_reference.py were measured on the files this
module writes (`python -m tests.tracking_inputs OUT_DIR`): OUT_DIR/<variant>/data/<seq>.txt for the variants

- `gt`: every ground-truth object (not DontCare, id >= 0) as a prediction with score 1.
- `noisy` (seed 0) and `heavy` (seed 1): objects dropped, 3D and 2D boxes jittered, tracks split and ids
  swapped mid-track, Van relabelled Car now and then, false positives (some inside DontCare regions,
  some tiny), random scores per track plus per-row noise.

Every prediction row of the jittered variants differs from its ground truth in every box parameter:
AB3DMOT's 3D IoU is unreliable for boxes with collinear edges (see docs/tracking.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from omnifuse.structures.kitti_labels import KittiLabels
from omnifuse.structures.kitti_tracking import KittiTrackRows, read_kitti_tracking, write_kitti_tracking

VAL_SEQS = ('0001', '0006', '0008', '0010', '0012', '0013', '0014', '0015', '0016', '0018', '0019')
VARIANTS = {
    'noisy': dict(seed=0, drop=0.1, xyz=0.12, size=0.05, yaw=0.05, px=3.0, split=0.05, swap=0.1, van_as_car=0.3,
                  fp_rate=0.4, fp_track=4),
    'heavy': dict(seed=1, drop=0.3, xyz=0.35, size=0.12, yaw=0.2, px=8.0, split=0.15, swap=0.3, van_as_car=0.5,
                  fp_rate=1.5, fp_track=8),
}
_FP_CLASSES = ('Car', 'Pedestrian', 'Cyclist')
_FP_SIZE = {'Car': (1.5, 1.6, 3.9), 'Pedestrian': (1.75, 0.6, 0.8), 'Cyclist': (1.7, 0.6, 1.8)}


def label_dir(shared_data: Path) -> Path:
    """The label_02 folder of the shared KITTI tracking sample."""
    return shared_data / 'kitti_tracking' / 'training' / 'label_02'


def gt_as_predictions(gt: KittiTrackRows) -> KittiTrackRows:
    """The ground-truth objects (no DontCare, no id -1) with score 1."""
    rows = gt.select((gt.labels.name != 'DontCare') & (gt.track_id >= 0))
    fields = rows.labels.as_dict()
    fields['score'] = np.ones(len(rows))
    return KittiTrackRows(rows.frame, rows.track_id, KittiLabels(**fields))


def _jitter(rng: np.random.Generator, fields: dict, n: int, p: dict) -> None:
    # Never exactly zero: every parameter moves.
    def noise(scale: float, shape: tuple) -> np.ndarray:
        v = rng.normal(0.0, scale, shape)
        return np.where(np.abs(v) < 1e-4, np.copysign(1e-4, v), v)

    fields['location'] = fields['location'] + noise(p['xyz'], (n, 3))
    fields['dimensions'] = fields['dimensions'] * np.exp(noise(p['size'], (n, 3)))
    fields['rotation_y'] = fields['rotation_y'] + noise(p['yaw'], (n,))
    box = fields['bbox'] + noise(p['px'], (n, 4))
    fields['bbox'] = np.stack([np.minimum(box[:, 0], box[:, 2] - 1), np.minimum(box[:, 1], box[:, 3] - 1),
                               box[:, 2], box[:, 3]], 1)


def perturbed_predictions(gt: KittiTrackRows, variant: str, seq: str) -> KittiTrackRows:
    """A deterministic imperfect tracker output for one sequence (see the module docstring)."""
    p = VARIANTS[variant]
    rng = np.random.default_rng([p['seed'], int(seq)])
    rows = gt_as_predictions(gt).sorted_by_frame()
    n = len(rows)
    ids = rows.track_id.copy()
    uniq = np.unique(ids)
    next_id = int(uniq.max(initial=0)) + 1
    # Split tracks: a new id from a random frame on.
    for tid in uniq:
        if rng.random() < p['split']:
            where = np.flatnonzero(rows.track_id == tid)
            cut = where[rng.integers(0, len(where))]
            ids[where[where >= cut]] = next_id
            next_id += 1
    # Swap the ids of two tracks of the same class from a frame both are in on.
    for tid in uniq:
        if rng.random() >= p['swap']:
            continue
        mine = rows.track_id == tid
        name = rows.labels.name[mine][0]
        frames = np.unique(rows.frame[mine])
        others = [o for o in uniq if o != tid and rows.labels.name[rows.track_id == o][0] == name
                  and np.isin(rows.frame[rows.track_id == o], frames).any()]
        if not others:
            continue
        other = others[rng.integers(0, len(others))]
        shared = np.intersect1d(frames, rows.frame[rows.track_id == other])
        f0 = shared[rng.integers(0, len(shared))]
        a = mine & (rows.frame >= f0)
        b = (rows.track_id == other) & (rows.frame >= f0)
        ids_a, ids_b = ids[a].copy(), ids[b].copy()
        ids[a], ids[b] = ids_b[0], ids_a[0]
    # Chained splits and swaps can give two rows of a frame one id: give the later (track, id) a new id.
    fresh: dict[tuple[int, int], int] = {}
    seen: set[tuple[int, int]] = set()
    for i in range(n):
        key = (int(rows.frame[i]), int(ids[i]))
        if key in seen:
            group = (int(rows.track_id[i]), int(ids[i]))
            if group not in fresh:
                fresh[group] = next_id
                next_id += 1
            ids[i] = fresh[group]
            key = (int(rows.frame[i]), int(ids[i]))
        seen.add(key)
    fields = rows.labels.as_dict()
    names = fields['name'].astype('<U16')
    names[(names == 'Van') & (rng.random(n) < p['van_as_car'])] = 'Car'
    fields['name'] = names
    _jitter(rng, fields, n, p)
    track_score = {int(t): rng.random() for t in np.unique(ids)}
    fields['score'] = np.clip(np.array([track_score[int(t)] for t in ids]) + rng.normal(0, 0.1, n), 0, 1)
    keep = rng.random(n) >= p['drop']
    out = KittiTrackRows(rows.frame, ids, KittiLabels(**fields)).select(keep)
    return KittiTrackRows.concatenate([out, _false_positives(rng, gt, p, next_id + 1000)]).sorted_by_frame()


def _false_positives(rng: np.random.Generator, gt: KittiTrackRows, p: dict, first_id: int) -> KittiTrackRows:
    """False-positive tracks of 1..fp_track frames; a third sit on a DontCare region, a tenth are tiny."""
    last = int(gt.frame.max(initial=0))
    starts = np.flatnonzero(rng.random(last + 1) < p['fp_rate'] / p['fp_track'])
    dc = gt.select(gt.labels.name == 'DontCare')
    frames, ids, parts = [], [], []
    for k, f0 in enumerate(starts):
        length = int(rng.integers(1, p['fp_track'] + 1))
        name = _FP_CLASSES[rng.integers(0, 3)]
        h, w, box_length = np.array(_FP_SIZE[name]) * np.exp(rng.normal(0, 0.1, 3))
        x, z, ry = rng.uniform(-12, 12), rng.uniform(6, 45), rng.uniform(-np.pi, np.pi)
        score = rng.random()
        dc_here = dc.labels.bbox[dc.frame == f0]
        if len(dc_here) and rng.random() < 1 / 3:
            d = dc_here[rng.integers(0, len(dc_here))]
            box = np.array([d[0] + 1, d[1] + 1, d[2] - 1, d[3] - 1]) if d[2] - d[0] > 3 and d[3] - d[1] > 3 else d
        elif rng.random() < 0.1:
            u, v = rng.uniform(50, 1150), rng.uniform(120, 300)
            box = np.array([u, v, u + rng.uniform(5, 30), v + rng.uniform(5, 24)])
        else:
            u, v = rng.uniform(0, 1100), rng.uniform(100, 250)
            box = np.array([u, v, u + rng.uniform(30, 140), v + rng.uniform(30, 120)])
        for f in range(int(f0), min(int(f0) + length, last + 1)):
            frames.append(f)
            ids.append(first_id + k)
            parts.append((name, box + rng.normal(0, 1.0, 4), [h, w, box_length], [x, 1.7, z], ry, score))
            x, z = x + rng.normal(0, 0.3), z + rng.normal(0, 0.3)
    if not parts:
        return KittiTrackRows.empty()
    n = len(parts)
    labels = KittiLabels(name=np.array([q[0] for q in parts]), truncated=np.zeros(n), occluded=np.zeros(n),
                         alpha=np.full(n, -10.0), bbox=np.array([q[1] for q in parts]),
                         dimensions=np.array([q[2] for q in parts]), location=np.array([q[3] for q in parts]),
                         rotation_y=np.array([q[4] for q in parts]), score=np.array([q[5] for q in parts]))
    return KittiTrackRows(np.array(frames), np.array(ids), labels)


def write_inputs(shared_data: Path, out: Path, variants: tuple[str, ...] = ('gt', 'noisy', 'heavy'),
                 seqs: tuple[str, ...] = VAL_SEQS) -> dict[str, Path]:
    """Write OUT/<variant>/data/<seq>.txt for each variant; returns {variant: its data folder}."""
    folders = {}
    for variant in variants:
        folder = out / variant / 'data'
        folder.mkdir(parents=True, exist_ok=True)
        for seq in seqs:
            gt = read_kitti_tracking(label_dir(shared_data) / f'{seq}.txt')
            rows = gt_as_predictions(gt) if variant == 'gt' else perturbed_predictions(gt, variant, seq)
            write_kitti_tracking(folder / f'{seq}.txt', rows, with_score=True, decimals=6)
        folders[variant] = folder
    return folders


if __name__ == '__main__':
    from tests.conftest import SHARED_DATA

    for v, f in write_inputs(SHARED_DATA, Path(sys.argv[1])).items():
        print(v, f)
