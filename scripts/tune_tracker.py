r"""Tune the tracker's per-class parameters on KITTI tracking sequences (the training split by default).

Runs `omnifuse track`'s code path (`omnifuse.tracking.kitti_io.track_sequence`, exact-mean score column)
on AB3DMOT's PointRCNN detections, one class at a time, and scores each setting with `omnifuse eval
tracking`'s evaluators (`evaluate_mot` at 3D IoU 0.25, `evaluate_hota` for car and pedestrian). Prints one
table row per setting tried.

    # the defaults, every class
    python scripts/tune_tracker.py
    # a grid over two fields of one class (every combination)
    python scripts/tune_tracker.py --classes Car --grid Car.hits_bonus=0,1,2 --grid Car.max_age=2,3
    # coordinate search: each field in turn, keep the best value, repeat until nothing improves
    python scripts/tune_tracker.py --classes Cyclist --search coordinate --grid Cyclist.min_hits=1,2,3 \
        --grid Cyclist.hits_bonus=0,2,4 --objective sAMOTA+0.5*MOTA

Settings are TrackerConfig keys (`--set KEY=VALUE` fixes one for every row, `--grid KEY=V1,V2,...` varies
it). The objective is a sum of weighted metrics of the class (sAMOTA, MOTA, HOTA, ...: the JSON keys of
`omnifuse eval tracking`, in percent). Only the training sequences should be used for tuning; `--seqs`
refuses validation sequences unless `--allow-val` is given.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault('OMP_NUM_THREADS', '1')

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / 'shared' / 'data' / 'kitti_tracking'
TRAIN = (0, 2, 3, 4, 5, 7, 9, 11, 17, 20)
VAL = (1, 6, 8, 10, 12, 13, 14, 15, 16, 18, 19)
CLASSES = ('Car', 'Pedestrian', 'Cyclist')
# Keys that change only which live tracks are reported and their scores, not the tracks (`report_policy`),
# and the recording setting that reports every live track with its last detection's score.
REPORT_KEYS = ('report_tentative', 'tentative_min_score', 'report_coasting', 'score_mode', 'hits_bonus',
               'hits_bonus_cap', 'tentative_penalty', 'coast_score_decay', 'warmup_frames')
RECORD = {'report_tentative': True, 'tentative_min_score': -1e300, 'score_mode': 'detection', 'hits_bonus': 0.0,
          'tentative_penalty': 0.0, 'coast_score_decay': 0.0, 'warmup_frames': 0}
SHOWN = ('sAMOTA', 'AMOTA', 'MOTA', 'steps', 'IDS', 'FRAG', 'FP', 'FN', 'HOTA', 'DetA', 'AssA')


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _objective(spec: str):
    terms = []
    for term in spec.replace('-', '+-').split('+'):
        term = term.strip()
        if not term:
            continue
        m = re.fullmatch(r'(-?[0-9.]*)\*?([A-Za-z]+)', term)
        if not m:
            raise SystemExit(f'--objective: cannot read {term!r} (e.g. sAMOTA+0.5*MOTA+0.2*HOTA)')
        w = m.group(1)
        terms.append((float(w) if w not in ('', '-') else (-1.0 if w == '-' else 1.0), m.group(2)))
    return lambda r: sum(w * (r.get(k) or 0.0) for w, k in terms)


class Bench:
    """Detections, ground truth and calibrations of the sequences, loaded once."""

    def __init__(self, data: Path, seqs: list[int], det_set: str) -> None:
        from omnifuse.structures.calibration import Calibration
        from omnifuse.structures.kitti_tracking import read_ab3dmot_detections, read_kitti_tracking

        self.seqs = seqs
        self.names = [f'{s:04d}' for s in seqs]
        self.gt = {n: read_kitti_tracking(data / 'training' / 'label_02' / f'{n}.txt') for n in self.names}
        self.calib = {}
        for n in self.names:
            calib = Calibration.from_kitti_file(data / 'training' / 'calib' / f'{n}.txt')
            self.calib[n] = (calib.T_rect_lidar, calib.cameras.get('image_2'))
        self.dets = {c: {n: read_ab3dmot_detections(data / 'detections_pointrcnn' / f'pointrcnn_{c}_{det_set}'
                                                    / f'{n}.txt') for n in self.names} for c in CLASSES}
        # `omnifuse track` with every class runs each sequence to the last frame with any detection
        self.frames = {n: max(int(self.dets[c][n].frame.max(initial=-1)) + 1 for c in CLASSES) for n in self.names}

    def run(self, cls: str, overrides: dict, *, keep: dict | None = None) -> dict:
        """Track class `cls` with the defaults plus `overrides`; its scores (percent) and the tracker's speed.

        With `keep` (a dict), the result rows per sequence are stored in it."""
        from omnifuse.tracking import MultiObjectTracker, TrackerConfig
        from omnifuse.tracking.kitti_io import track_sequence

        tracker = MultiObjectTracker(TrackerConfig.from_dict(overrides))
        pred, seconds, frames = {}, 0.0, 0
        for n in self.names:
            T, camera = self.calib[n]
            pred[n], s = track_sequence(tracker, self.dets[cls][n], T, camera=camera, n_frames=self.frames[n])
            seconds += s
            frames += self.frames[n]
        if keep is not None:
            keep.update(pred)
        return self.score(cls, pred, frames / seconds if seconds else float('inf'))

    def record(self, cls: str, overrides: dict) -> dict:
        """Track class `cls` reporting every live track with its last detection score, hits and coasting count.

        The rows and scores a setting reports are a function of these (`report_policy`), so settings that differ
        only in `REPORT_KEYS` (and `min_hits`, when max_age == max_age_tentative) are scored from one recording
        (`replay`), the same rows as a run of their own (`--check`).
        """
        from omnifuse.structures.frame import ObjectLabels
        from omnifuse.structures.kitti_tracking import KittiTrackRows
        from omnifuse.tracking import MultiObjectTracker, TrackerConfig
        from omnifuse.tracking.kitti_io import rows_to_detections, tracks_to_rows

        config = TrackerConfig.from_dict(overrides)
        p = config.params(cls)
        if p.max_age_tentative != p.max_age:
            return {}
        recording = {f'{cls}.{k}': v for k, v in RECORD.items()} | {f'{cls}.report_coasting': p.max_age}
        config = TrackerConfig.from_dict(recording, base=config)
        tracker = MultiObjectTracker(config)
        out = {}
        for n in self.names:
            T, camera = self.calib[n]
            rows = self.dets[cls][n].sorted_by_frame()
            tracker.reset()
            bounds = np.searchsorted(rows.frame, np.arange(self.frames[n] + 1))
            parts, hits, tsu, last_bbox = [], [], [], {}
            for frame in range(self.frames[n]):
                fr = rows.select(np.arange(bounds[frame], bounds[frame + 1]))
                tracks = tracker.update(rows_to_detections(fr, T) if len(fr) else ObjectLabels.empty(),
                                        stamp_ns=frame * 100_000_000)
                parts.append(tracks_to_rows(tracks, frame, T, camera=camera, last_bbox=last_bbox))
                hits.append(tracks.hits)
                tsu.append(tracks.time_since_update)
            out[n] = (KittiTrackRows.concatenate(parts), np.concatenate(hits), np.concatenate(tsu))
        return out

    def replay(self, cls: str, recording: dict, overrides: dict) -> dict:
        """Score the setting `overrides` (differing from the recording's only in REPORT_KEYS) from `recording`."""
        import dataclasses

        from omnifuse.structures.kitti_tracking import KittiTrackRows
        from omnifuse.tracking import TrackerConfig
        from omnifuse.tracking.kitti_io import ExactMeanScores
        from omnifuse.tracking.tracker import report_policy

        p = TrackerConfig.from_dict(overrides).params(cls)
        pred = {}
        for n, (rows, hits, tsu) in recording.items():
            last = rows.labels.score
            mean = np.empty(len(rows))
            for tid in np.unique(rows.track_id):
                idx = np.flatnonzero(rows.track_id == tid)
                matched = tsu[idx] == 0
                cum = np.cumsum(np.where(matched, last[idx], 0.0))
                mean[idx] = cum / hits[idx]
            keep, score = report_policy(p, hits=hits, time_since_update=tsu, last_score=last, mean_score=mean,
                                        warmup=rows.frame < p.warmup_frames)
            sel = np.flatnonzero(keep)
            kept = rows.select(sel)
            column = ExactMeanScores()
            pred[n] = KittiTrackRows(kept.frame, kept.track_id,
                                     dataclasses.replace(kept.labels, score=column(kept.track_id, score[sel])))
        return self.score(cls, pred, None)

    def score(self, cls: str, pred: dict, fps: float | None, names: list[str] | None = None) -> dict:
        """The class's scores (percent) of the result rows `pred` on `names` (default: every sequence)."""
        from omnifuse.evaluation.tracking_hota import HOTA_CLASSES, evaluate_hota
        from omnifuse.evaluation.tracking_mot import evaluate_mot

        key = cls.lower()
        names = names or self.names
        mot = evaluate_mot(self.gt, pred, cls=key, seqs=names)
        out = {k: 100 * getattr(mot, k) for k in ('sAMOTA', 'AMOTA', 'AMOTP', 'MOTA', 'MOTP')}
        out.update(IDS=mot.IDS, FRAG=mot.FRAG, FP=mot.FP, FN=mot.FN, steps=mot.num_thresholds)
        if key in HOTA_CLASSES:
            hota = evaluate_hota(self.gt, pred, cls=key, seqs=names)
            out.update({k: 100 * v for k, v in hota.as_dict().items()})
        out['fps'] = fps
        return out


def _row(label: str, r: dict, obj: float) -> str:
    cells = ''.join(f'{"-":>8s}' if r.get(k) is None else f'{r[k]:8d}' if isinstance(r[k], int) else f'{r[k]:8.2f}'
                    for k in SHOWN)
    return f'{label:58s}{cells}{obj:9.2f}'


def _compare(bench: Bench, cls: str, setting: dict, reference: Path) -> None:
    """The setting against reference result files: all sequences and each leave-one-sequence-out subset."""
    from omnifuse.structures.kitti_tracking import read_kitti_tracking

    ours: dict = {}
    bench.run(cls, setting, keep=ours)
    ref = {n: read_kitti_tracking(reference / f'{n}.txt') for n in bench.names}
    print(f'{cls}: omnifuse (setting {setting or "defaults"}) - reference {reference}, sAMOTA / MOTA differences')
    for left in [None, *bench.names]:
        names = [n for n in bench.names if n != left]
        a, b = bench.score(cls, ours, None, names), bench.score(cls, ref, None, names)
        cells = '   '.join(f'{k} {a[k]:6.2f} - {b[k]:6.2f} = {a[k] - b[k]:+6.2f}' for k in ('sAMOTA', 'MOTA'))
        print(f'  {"all" if left is None else "without " + left:14s} {cells}', flush=True)


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the search, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument('--seqs', default='train', help="'train' (default) or comma-separated sequence numbers")
    ap.add_argument('--allow-val', action='store_true', help='allow validation sequences in --seqs (not for tuning)')
    ap.add_argument('--classes', default=','.join(CLASSES), help='classes to run (default: all three)')
    ap.add_argument('--data', default=str(DATA), help='the kitti_tracking folder (training/, detections_pointrcnn/)')
    ap.add_argument('--set', action='append', default=[], metavar='KEY=VALUE', help='fixed TrackerConfig key')
    ap.add_argument('--grid', action='append', default=[], metavar='KEY=V1,V2', help='TrackerConfig key to vary')
    ap.add_argument('--search', choices=('grid', 'coordinate'), default='grid',
                    help='grid: every combination; coordinate: one key at a time, keep the best, repeat')
    ap.add_argument('--rounds', type=int, default=2, help='coordinate search: passes over the keys at most')
    ap.add_argument('--objective', default='sAMOTA', help='what the search maximises, e.g. sAMOTA+0.5*MOTA')
    ap.add_argument('--check', action='store_true',
                    help='also run every setting directly and compare with its replay from a recording')
    ap.add_argument('--reference', default=None, metavar='DIR',
                    help='KITTI tracking results of another tracker (<seq>.txt, e.g. AB3DMOT\'s) to compare the '
                         'defaults with, on all sequences and on every leave-one-sequence-out subset')
    ap.add_argument('--log', default=None, help='append every result as a JSON line to this file')
    args = ap.parse_args(argv)

    seqs = list(TRAIN) if args.seqs == 'train' else [int(s) for s in args.seqs.split(',') if s.strip()]
    if set(seqs) & set(VAL) and not args.allow_val:
        raise SystemExit(f'--seqs: {sorted(set(seqs) & set(VAL))} are validation sequences; tune on the training '
                         f'sequences {",".join(map(str, TRAIN))} (or pass --allow-val)')
    classes = [c.strip() for c in args.classes.split(',') if c.strip()]
    fixed = {k.strip(): _value(v.strip()) for k, v in (s.split('=', 1) for s in args.set)}
    grid = [(k.strip(), [_value(x.strip()) for x in v.split(',')]) for k, v in (g.split('=', 1) for g in args.grid)]
    objective = _objective(args.objective)
    bench = Bench(Path(args.data), seqs, 'val')
    log = open(args.log, 'a', encoding='utf-8') if args.log else None  # noqa: SIM115
    cache: dict[tuple, dict] = {}

    recordings: dict[tuple, dict] = {}

    def evaluate(cls: str, setting: dict) -> dict:
        from omnifuse.errors import FormatError
        from omnifuse.tracking import TrackerConfig

        full = {**fixed, **setting}
        key = (cls, json.dumps(full, sort_keys=True))
        if key not in cache:
            start = time.perf_counter()
            try:
                p = TrackerConfig.from_dict(full).params(cls)
            except FormatError as exc:  # e.g. report_coasting > max_age: not a setting
                print(f'skipped {cls} {setting}: {exc}')
                cache[key] = {}
                return cache[key]
            # with equal lives, min_hits only decides what is reported (confirmation changes no deletion)
            report = REPORT_KEYS + (('min_hits',) if p.max_age == p.max_age_tentative else ())
            tracking = {k: v for k, v in full.items() if k.split('.')[-1] not in report}
            rkey = (cls, json.dumps(tracking, sort_keys=True))
            if rkey not in recordings:
                if len(recordings) >= 6:
                    recordings.pop(next(iter(recordings)))
                recordings[rkey] = bench.record(cls, tracking)
            rec = recordings[rkey]
            cache[key] = r = bench.replay(cls, rec, full) if rec else bench.run(cls, full)
            r['seconds'] = time.perf_counter() - start
            if args.check:
                direct = bench.run(cls, full)
                same = all(direct[k] == r[k] for k in r if k not in ('fps', 'seconds'))
                print(f'check {cls} {full}: replay {"==" if same else "!="} run', {k: (r[k], direct[k]) for k in r
                      if k not in ('fps', 'seconds') and r[k] != direct[k]})
            if log:
                log.write(json.dumps({'class': cls, 'set': full, 'result': r}) + '\n')
                log.flush()
        return cache[key]

    print(f'sequences {",".join(map(str, seqs))}; fixed {fixed or "-"}; objective {args.objective}')
    header = f'{"class / setting":58s}' + ''.join(f'{k:>8s}' for k in SHOWN) + f'{"obj":>9s}'
    for cls in classes:
        mine = [(k, v) for k, v in grid if k.split('.')[0] == cls or '.' not in k]
        print('\n' + header)
        r = evaluate(cls, {})
        print(_row(f'{cls} defaults', r, objective(r)), flush=True)
        if args.search == 'grid':
            best = ({}, objective(r))
            for values in itertools.product(*(v for _, v in mine)) if mine else []:
                setting = dict(zip([k for k, _ in mine], values, strict=True))
                r = evaluate(cls, setting)
                if not r:
                    continue
                o = objective(r)
                print(_row(f'{cls} ' + ' '.join(f'{k.split(".")[-1]}={v}' for k, v in setting.items()), r, o),
                      flush=True)
                if o > best[1]:
                    best = (setting, o)
        else:
            current: dict = {}
            best = (current, objective(r))
            for rnd in range(args.rounds):
                improved = False
                for key, values in mine:
                    for v in values:
                        setting = {**best[0], key: v}
                        r = evaluate(cls, setting)
                        if not r:
                            continue
                        o = objective(r)
                        print(_row(f'{cls} r{rnd} ' + ' '.join(f'{k.split(".")[-1]}={x}' for k, x in setting.items()),
                                   r, o), flush=True)
                        if o > best[1] + 1e-9:
                            best, improved = (setting, o), True
                if not improved:
                    break
        print(f'best {cls}: {best[0] or "defaults"} objective {best[1]:.2f}', flush=True)
        if args.reference:
            _compare(bench, cls, {**fixed}, Path(args.reference))
    if log:
        log.close()
    return 0


if __name__ == '__main__':
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
