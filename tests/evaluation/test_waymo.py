"""Waymo detection metrics: parity with the official unit tests, matching, levels, ranges, files, metric."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from omnifuse.errors import FormatError
from omnifuse.evaluation.waymo import (
    RANGE_NAMES,
    TYPES,
    WaymoObjects,
    assign_difficulty,
    compute_mean_average_precision,
    evaluate_waymo,
    heading_accuracy,
    match_frame,
    read_objects_jsonl,
    read_waymo_objects,
)
from omnifuse.evaluation.waymo_metric import WaymoMetric
from omnifuse.structures.geometry import box_iou_3d

ALL_HALF = {t: 0.5 for t in TYPES}


def _bar(x0: float, x1: float, y: float = 0.0, z: float = 0.0) -> list[float]:
    """A 1 x 1 m cross-section box spanning [x0, x1] along x: IoU of two bars = 1-D interval IoU."""
    return [(x0 + x1) / 2, y, z, x1 - x0, 1.0, 1.0, 0.0]


# ----------------------------------------------------------------------------- official unit-test facts

def test_mean_average_precision_matches_official_unit_test_values() -> None:
    assert compute_mean_average_precision([], [], 0.05) == 0.0
    assert compute_mean_average_precision([0.1], [0.2], 0.05) == pytest.approx(0.2 * 0.1, abs=1e-6)
    assert compute_mean_average_precision([0.1, 0.05], [0.2, 1.0], 0.05) == pytest.approx(
        0.05 * 0.8 + 0.1 * 0.2 + (0.1 - 0.05) * 0.5 * 0.05, abs=1e-6)
    assert compute_mean_average_precision([0.1, 0.05], [0.2, 1.0], 1.0) == pytest.approx(
        0.2 * 0.1 + 0.5 * (0.1 + 0.05) * 0.8, abs=1e-6)
    # A point dominated by a higher-recall one changes nothing (the curve is made monotone).
    assert compute_mean_average_precision([0.1, 0.0, 0.05], [0.2, 0.4, 1.0], 0.05) == pytest.approx(
        0.05 * 0.8 + 0.1 * 0.2 + (0.1 - 0.05) * 0.5 * 0.05, abs=1e-6)


def test_heading_accuracy_matches_official_unit_test_values() -> None:
    assert heading_accuracy(-0.1, 0.1) == pytest.approx(1 - 0.2 / math.pi, abs=1e-6)
    assert heading_accuracy(-math.pi + 0.1, math.pi - 0.1) == pytest.approx(1 - 0.2 / math.pi, abs=1e-6)
    assert heading_accuracy(0.0, math.pi) == pytest.approx(0.0, abs=1e-6)


def _random_boxes(rng: np.random.Generator, num_frames: int, n: int) -> WaymoObjects:
    """Boxes as the official evaluator test draws them: centres in [-1, 1]^3, sizes in [0.1, 1]."""
    boxes = np.concatenate([rng.uniform(-1, 1, (n, 3)), rng.uniform(0.1, 1, (n, 3)),
                            rng.uniform(-np.pi, np.pi, (n, 1))], 1).astype(np.float32)
    return WaymoObjects.create(rng.integers(0, num_frames, n).astype(str), rng.integers(0, 4, n), boxes,
                               scores=rng.uniform(size=n).astype(np.float32), difficulty=np.ones(n, np.int64))


def test_random_gt_gives_zero_identical_gt_one_and_both_half() -> None:
    rng = np.random.default_rng(3)
    pred = _random_boxes(rng, 10, 2000)
    gt_random = _random_boxes(rng, 10, 10)  # as the official test: 10 frames, 10 GT, 2000 predictions
    gt_same = WaymoObjects.create(pred.frames, pred.types, pred.boxes,
                                  difficulty=np.ones(len(pred), np.int64))
    zero = evaluate_waymo(gt_random, pred, iou_thresholds=ALL_HALF)
    one = evaluate_waymo(gt_same, pred, iou_thresholds=ALL_HALF)
    # Both updates of the official test accumulated: every prediction twice, both ground-truth sets.
    both = evaluate_waymo(WaymoObjects.concatenate([gt_random, gt_same]),
                          WaymoObjects.concatenate([pred, pred]), iou_thresholds=ALL_HALF)
    for name in TYPES:
        for key in ('AP', 'APH'):
            if np.any(gt_random.types == TYPES.index(name)):
                assert zero[name]['LEVEL_2'][key] == pytest.approx(0.0, abs=1e-6)
            else:
                assert zero[name]['LEVEL_2'][key] is None
            assert one[name]['LEVEL_2'][key] == pytest.approx(1.0, abs=1e-5)
            assert both[name]['LEVEL_2'][key] == pytest.approx(0.5, abs=0.01)


def test_official_one_shard_case_gives_ap_one() -> None:
    # detection_metrics_test.cc OneShard: two predictions (IoU 0.9 at score 0, IoU 0.6 at score 0.5) of one
    # ground truth, two frames, cut-offs {0, 0.5, 1}: the PR curve is (1, 0.5), (1, 1) -> mAP 1.
    gt = WaymoObjects.create(['a', 'b'], ['VEHICLE'] * 2, [_bar(-50, 50)] * 2)
    pred = WaymoObjects.create(['a', 'a', 'b', 'b'], ['VEHICLE'] * 4, [_bar(-45, 45), _bar(-30, 30)] * 2,
                               scores=np.array([0.0, 0.5, 0.0, 0.5]))
    result = evaluate_waymo(gt, pred, iou_thresholds=ALL_HALF, score_cutoffs=np.array([0.0, 0.5, 1.0]))
    assert result['VEHICLE']['LEVEL_2'] == pytest.approx({'AP': 1.0, 'APH': 1.0}, abs=1e-6)


# ----------------------------------------------------------------------------- matching

def test_hungarian_matcher_maximises_total_iou_where_greedy_would_not() -> None:
    weights = np.array([[960_000, 852_000], [818_000, 0]])  # greedy takes (0, 0) and leaves row 1 unmatched
    pred_match, gt_match = match_frame(weights)
    assert pred_match.tolist() == [1, 0]
    assert gt_match.tolist() == [1, 0]
    pred_match, gt_match = match_frame(np.array([[0, 0], [0, 700_000]]))
    assert pred_match.tolist() == [-1, 1]  # zero weight (IoU below the threshold) is never a match
    assert gt_match.tolist() == [-1, 1]


def test_matching_is_redone_per_score_cutoff() -> None:
    # GT1 [0, 10], GT2 [1, 11]; A [0.2, 10.2] (score 0.9) overlaps both, B [-1, 9] (score 0.3) only GT1
    # at the VEHICLE threshold 0.7.
    gt = WaymoObjects.create(['f', 'f'], ['VEHICLE'] * 2, [_bar(0, 10), _bar(1, 11)])
    pred = WaymoObjects.create(['f', 'f'], ['VEHICLE'] * 2, [_bar(0.2, 10.2), _bar(-1, 9)],
                               scores=np.array([0.9, 0.3]))
    iou = box_iou_3d(pred.boxes, gt.boxes)
    assert iou[0, 0] > iou[0, 1] >= 0.7 and iou[1, 0] >= 0.7 > iou[1, 1]
    # Above 0.3 only A: matched to GT1 (P 1, R 0.5). From 0.3 down: A-GT2 + B-GT1 (P 1, R 1). A greedy
    # matcher would leave B unmatched (P 0.5) and give AP < 1.
    result = evaluate_waymo(gt, pred)
    assert result['VEHICLE']['LEVEL_2']['AP'] == pytest.approx(1.0, abs=1e-6)


def _reference_counts(gt: WaymoObjects, pred: WaymoObjects, cutoffs: np.ndarray, by_range: bool) -> dict:
    """The official loop literally: per frame, shard and cut-off, dense IoU and a fresh Hungarian match."""
    keep, level = assign_difficulty(gt.num_points, gt.difficulty)
    gt, level = gt.select(keep), level[keep]
    thr = np.array([0.7 if t == 'VEHICLE' else 0.5 for t in TYPES])

    def shard(objs: WaymoObjects) -> np.ndarray:
        if not by_range:
            return objs.types
        dist = np.linalg.norm(objs.boxes[:, :3], axis=1)
        return objs.types * 3 + (dist >= 30).astype(int) + (dist >= 50).astype(int)

    gs, ps = shard(gt), shard(pred)
    out = {}
    for s in np.unique(np.concatenate([gs, ps])):
        counts = np.zeros((len(cutoffs), 5))
        for frame in np.unique(np.concatenate([gt.frames, pred.frames])):
            g = np.nonzero((gt.frames == frame) & (gs == s))[0]
            p = np.nonzero((pred.frames == frame) & (ps == s))[0]
            iou = box_iou_3d(pred.boxes[p], gt.boxes[g])
            weights = np.where(iou >= thr[s // 3 if by_range else s], np.rint(iou * 1e6), 0)
            for c, cut in enumerate(cutoffs):
                sub = pred.scores[p] >= cut
                pm, gm = match_frame(weights[sub])
                hit = pm >= 0
                ha = heading_accuracy(pred.boxes[p[sub][hit], 6], gt.boxes[g[pm[hit]], 6]).sum()
                counts[c] += [hit.sum(), ha, (~hit).sum(), ((gm < 0) & (level[g] == 1)).sum(), (gm < 0).sum()]
        out[int(s)] = counts
    return out


def _reference_ap(counts: np.ndarray, lvl: int) -> tuple[float, float]:
    tp, ha, fp, fn = counts[:, 0], counts[:, 1], counts[:, 2], counts[:, 2 + lvl]
    recall = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1), 0)
    prec = np.where(recall > 0, tp / np.maximum(tp + fp, 1), 1)
    prec_ha = np.where(recall > 0, ha / np.maximum(tp + fp, 1), 1)
    return (compute_mean_average_precision(prec, recall, 0.05),
            compute_mean_average_precision(prec_ha, recall, 0.05))


def _clustered_scene(seed: int, num_frames: int = 10) -> tuple[WaymoObjects, WaymoObjects]:
    """Crowded frames: overlapping GT pairs, duplicate and shifted predictions, boxes near 30 m and 50 m."""
    rng = np.random.default_rng(seed)
    gts, preds = [], []
    for f in range(num_frames):
        n = 8
        types = rng.choice([0, 1], size=n)
        dims = np.where(types[:, None] == 0, [4.5, 2.0, 1.6], [0.9, 0.9, 1.8]) * rng.uniform(0.9, 1.1, (n, 3))
        dist = rng.choice([12.0, 29.7, 30.3, 49.8, 60.0], size=n) + rng.uniform(-0.2, 0.2, n)
        ang = rng.uniform(-np.pi, np.pi, n)
        centre = np.stack([dist * np.cos(ang), dist * np.sin(ang), rng.uniform(-0.5, 0.5, n)], 1)
        boxes = np.concatenate([centre, dims, rng.uniform(-np.pi, np.pi, (n, 1))], 1)
        boxes[1::2, :3] = boxes[0::2, :3] + [0.25, 0.1, 0.0]  # overlapping ground-truth pairs
        boxes[1::2, 3:] = boxes[0::2, 3:]
        types[1::2] = types[0::2]
        pts = rng.integers(1, 30, n)
        gts.append(WaymoObjects.create([str(f)] * n, types, boxes, num_points=pts))
        m = 14
        src = rng.integers(0, n, m)
        pb = boxes[src].copy()
        pb[:, :3] += rng.normal(0, 0.12, (m, 3))
        pb[:, 6] += rng.normal(0, 0.3, m)
        pb[-2:, :2] += 6.0  # false positives
        scores = rng.choice([0.2, 0.35, 0.5, 0.8, 0.95], m).astype(np.float32)
        preds.append(WaymoObjects.create([str(f)] * m, types[src], pb, scores=scores))
    return WaymoObjects.concatenate(gts), WaymoObjects.concatenate(preds)


@pytest.mark.parametrize('seed', [0, 1])
def test_fast_evaluation_equals_per_cutoff_reference(seed: int) -> None:
    gt, pred = _clustered_scene(seed)
    cutoffs = np.array([0.0, 0.1, 0.3, 0.35, 0.5, 0.7, 0.9, 1.0], np.float32)
    iou = box_iou_3d(pred.boxes, gt.boxes) * (pred.frames[:, None] == gt.frames[None])
    assert ((iou >= 0.5).sum(1) >= 2).sum() >= 3  # several predictions can match two ground truths
    result = evaluate_waymo(gt, pred, score_cutoffs=cutoffs)
    for by_range in (False, True):
        for s, counts in _reference_counts(gt, pred, cutoffs, by_range).items():
            name = TYPES[s // 3] if by_range else TYPES[s]
            got = result['ranges'][name][RANGE_NAMES[s % 3]] if by_range else result[name]
            for lvl in (1, 2):
                ap, aph = _reference_ap(counts, lvl)
                if counts[0, 0] + counts[0, 2 + lvl] == 0:  # no ground truth at this level
                    assert got[f'LEVEL_{lvl}']['AP'] is None
                    continue
                assert got[f'LEVEL_{lvl}']['AP'] == pytest.approx(ap, abs=1e-5)
                assert got[f'LEVEL_{lvl}']['APH'] == pytest.approx(aph, abs=1e-5)
    assert result['VEHICLE']['LEVEL_2']['AP'] > 0.1  # the scene is not trivially empty


# ----------------------------------------------------------------------------- levels, ranges, APH

def test_difficulty_assignment_and_empty_boxes() -> None:
    keep, level = assign_difficulty(np.array([0, 3, 5, 6, -1, 2, 100]), np.array([0, 0, 0, 0, 0, 1, 2]))
    assert keep.tolist() == [False, True, True, True, True, True, True]
    assert level[1:].tolist() == [2, 2, 1, 1, 1, 2]


def test_level_1_counts_matches_to_level_2_ground_truth_as_true_positives() -> None:
    # GT a: LEVEL_1, missed. GT b: LEVEL_2 (3 points), found. GT c: LEVEL_2, missed.
    gt = WaymoObjects.create(['f'] * 3, ['VEHICLE'] * 3, [_bar(0, 4), _bar(10, 14), _bar(20, 24)],
                             num_points=np.array([50, 3, 2]))
    pred = WaymoObjects.create(['f'], ['VEHICLE'], [_bar(10, 14)], scores=np.array([0.9]))
    result = evaluate_waymo(gt, pred)
    # Official: the match to b is a TP at LEVEL_1 too; only a is a FN there -> P 1, R 1/2.
    assert result['VEHICLE']['LEVEL_1']['AP'] == pytest.approx(0.5, abs=1e-6)
    assert result['VEHICLE']['LEVEL_2']['AP'] == pytest.approx(1 / 3, abs=1e-6)
    assert result['counts']['ground_truth']['VEHICLE'] == {'LEVEL_1': 1, 'LEVEL_2': 3}


def test_dropped_empty_ground_truth_is_not_a_false_negative() -> None:
    gt = WaymoObjects.create(['f'] * 2, ['PEDESTRIAN'] * 2, [_bar(0, 1), _bar(5, 6)],
                             num_points=np.array([20, 0]))
    pred = WaymoObjects.create(['f'], ['PEDESTRIAN'], [_bar(0, 1)], scores=np.array([0.6]))
    assert evaluate_waymo(gt, pred)['PEDESTRIAN']['LEVEL_2']['AP'] == pytest.approx(1.0, abs=1e-6)


def test_range_breakdown_uses_3d_centre_distance_and_shards_predictions_by_their_own_range() -> None:
    # (25, 0, 20) is 32 m away in 3D although 25 m in the x-y plane.
    far = [25.0, 0.0, 20.0, 4.0, 2.0, 1.5, 0.0]
    edge_gt = [0.0, 30.05, 0.0, 4.0, 2.0, 1.5, 0.0]
    edge_pred = [0.0, 29.95, 0.0, 4.0, 2.0, 1.5, 0.0]
    gt = WaymoObjects.create(['f', 'g'], ['VEHICLE'] * 2, [far, edge_gt])
    pred = WaymoObjects.create(['f', 'g'], ['VEHICLE'] * 2, [far, edge_pred], scores=np.array([0.9, 0.8]))
    result = evaluate_waymo(gt, pred)
    ranges = result['ranges']['VEHICLE']
    assert result['VEHICLE']['LEVEL_2']['AP'] == pytest.approx(1.0, abs=1e-6)  # both match by type
    assert ranges['[0, 30)']['LEVEL_2']['AP'] is None  # only the edge prediction lies there
    assert ranges['[30, 50)']['LEVEL_2']['AP'] == pytest.approx(0.5, abs=1e-6)  # far found, edge GT missed
    assert ranges['[50, +inf)']['LEVEL_2'] == {'AP': None, 'APH': None}


def test_aph_weights_true_positives_by_heading_accuracy() -> None:
    square = [10.0, 0.0, 0.0, 2.0, 2.0, 2.0, 0.0]
    turned = [10.0, 0.0, 0.0, 2.0, 2.0, 2.0, 0.2]
    result = evaluate_waymo(WaymoObjects.create(['f'], ['CYCLIST'], [square]),
                            WaymoObjects.create(['f'], ['CYCLIST'], [turned], scores=np.array([0.7])))
    assert result['CYCLIST']['LEVEL_2']['AP'] == pytest.approx(1.0, abs=1e-6)
    assert result['CYCLIST']['LEVEL_2']['APH'] == pytest.approx(1 - 0.2 / math.pi, abs=1e-6)


def test_types_without_ground_truth_are_null_and_left_out_of_the_mean() -> None:
    gt = WaymoObjects.create(['f', 'f'], ['VEHICLE', 'SIGN'], [_bar(0, 4), _bar(10, 11)])
    pred = WaymoObjects.create(['f', 'f', 'f'], ['VEHICLE', 'PEDESTRIAN', 'SIGN'],
                               [_bar(0, 4), _bar(20, 21), _bar(30, 31)], scores=np.array([0.9, 0.9, 0.9]))
    result = evaluate_waymo(gt, pred)
    assert result['PEDESTRIAN']['LEVEL_2'] == {'AP': None, 'APH': None}
    assert result['CYCLIST']['LEVEL_1'] == {'AP': None, 'APH': None}
    assert result['SIGN']['LEVEL_2']['AP'] == pytest.approx(0.0, abs=1e-6)
    assert result['mAPH_L2'] == pytest.approx(result['VEHICLE']['LEVEL_2']['APH'])  # SIGN is not averaged
    assert result['mAPH_L2'] == pytest.approx(1.0, abs=1e-6)


def test_thresholds_are_per_type() -> None:
    gt = WaymoObjects.create(['f', 'f'], ['VEHICLE', 'PEDESTRIAN'], [_bar(0, 10), _bar(20, 30)])
    pred = WaymoObjects.create(['f', 'f'], ['VEHICLE', 'PEDESTRIAN'], [_bar(0, 6.5), _bar(20, 26.5)],
                               scores=np.array([0.9, 0.9]))  # IoU 0.65 for both
    result = evaluate_waymo(gt, pred)
    assert result['VEHICLE']['LEVEL_2']['AP'] == pytest.approx(0.0, abs=1e-6)
    assert result['PEDESTRIAN']['LEVEL_2']['AP'] == pytest.approx(1.0, abs=1e-6)


# ----------------------------------------------------------------------------- files

def test_reads_the_official_objects_proto_without_protobuf(shared_data: Path) -> None:
    objs = read_waymo_objects(shared_data / 'waymo' / 'waymo_format' / 'gt.bin', predictions=False)
    assert len(objs) == 1 and TYPES[objs.types[0]] == 'VEHICLE'
    assert objs.frames[0].startswith('1071392229495085036_1844_790_1864_790_')
    length, width, height = objs.boxes[0, 3:6]
    assert 3.5 < length < 6 and 1.5 < width < 2.5 and 1 < height < 2.5 and length > width
    assert -math.pi <= objs.boxes[0, 6] < math.pi
    assert objs.num_points[0] > 0
    assert evaluate_waymo(objs, objs)['VEHICLE']['LEVEL_2']['APH'] == pytest.approx(1.0, abs=1e-6)


def test_jsonl_reader_skips_empty_lines_and_reads_optional_fields(tmp_path: Path) -> None:
    path = tmp_path / 'gt.jsonl'
    path.write_text('\n' + json.dumps({'frame': 'a', 'type': 'SIGN', 'box': [1, 2, 3, 0.5, 0.1, 0.8, 0.3],
                                       'num_lidar_points_in_box': 4}) + '\n\n'
                    + json.dumps({'frame': 'b', 'type': 'CYCLIST', 'box': [0, 0, 0, 2, 1, 2, 0],
                                  'difficulty': 2})
                    + '\n')
    objs = read_objects_jsonl(path, predictions=False)
    assert objs.frames.tolist() == ['a', 'b']
    assert [TYPES[t] for t in objs.types] == ['SIGN', 'CYCLIST']
    assert objs.num_points.tolist() == [4, -1] and objs.difficulty.tolist() == [0, 2]
    np.testing.assert_allclose(objs.boxes[0], [1, 2, 3, 0.5, 0.1, 0.8, 0.3])


@pytest.mark.parametrize(('line', 'field'), [
    ('{"frame": "a", "type": "CAR", "box": [0, 0, 0, 1, 1, 1, 0], "score": 0.5}', 'type'),
    ('{"frame": "a", "type": "VEHICLE", "box": [0, 0, 0, 1, 1, 0], "score": 0.5}', 'box'),
    ('{"frame": "a", "type": "VEHICLE", "box": [0, 0, 0, -1, 1, 1, 0], "score": 0.5}', 'box'),
    ('{"frame": "a", "type": "VEHICLE", "box": [0, 0, 0, 1, 1, 1, 0]}', 'score'),
    ('{"frame": "a", "type": "VEHICLE", "box": [0, 0, 0, 1, 1, 1, 0], "score": "high"}', 'score'),
    ('{"type": "VEHICLE", "box": [0, 0, 0, 1, 1, 1, 0], "score": 0.5}', 'frame'),
    ('{"frame": "a", "type": "VEHICLE", "box": [0, 0, 0, 1, 1, 1, 0], "score": 0.5, "difficulty": 3}',
     'difficulty'),
    ('{"frame": "a", "type": "VEHICLE", "box": [0, 0, 0, 1, 1, 1, 0], "score": 0.5, '
     '"num_lidar_points_in_box": -2}', 'num_lidar_points_in_box'),
])
def test_jsonl_reader_names_file_line_and_field(tmp_path: Path, line: str, field: str) -> None:
    path = tmp_path / 'pred.jsonl'
    good = '{"frame": "a", "type": "VEHICLE", "box": [0, 0, 0, 1, 1, 1, 0], "score": 0.5}'
    path.write_text(f'{good}\n\n{line}\n')
    with pytest.raises(FormatError, match=rf'pred\.jsonl:3: field "{field}"'):
        read_objects_jsonl(path, predictions=True)


def test_jsonl_reader_rejects_broken_json_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / 'gt.jsonl'
    path.write_text('{"frame": "a", "type": "VEHICLE", "box": [0, 0, 0, 1, 1, 1, 0]\n')
    with pytest.raises(FormatError, match=r'gt\.jsonl:1: not valid JSON'):
        read_objects_jsonl(path, predictions=False)


def test_bin_reader_rejects_garbage(tmp_path: Path) -> None:
    path = tmp_path / 'x.bin'
    path.write_bytes(b'\x0a\xff\xff\xff')
    with pytest.raises(FormatError, match='x.bin: not a serialized waymo Objects proto'):
        read_waymo_objects(path, predictions=True)


# ----------------------------------------------------------------------------- mmengine metric

def _sample(frame: str, pred_boxes: list, scores: list, pred_labels: list, gt_boxes: list, gt_labels: list,
            **gt_extra: object) -> dict:
    return {'sample_idx': frame,
            'pred_instances_3d': {'bboxes_3d': torch.tensor(pred_boxes, dtype=torch.float32).reshape(-1, 7),
                                  'scores_3d': torch.tensor(scores), 'labels_3d': torch.tensor(pred_labels)},
            'gt_instances_3d': {'bboxes_3d': np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 7),
                                'labels_3d': np.asarray(gt_labels), **gt_extra}}


def test_waymo_metric_builds_from_registry_and_returns_flat_keys() -> None:
    from omnifuse.registry import METRICS

    metric = METRICS.build(dict(type='WaymoMetric', classes=('Car', 'Pedestrian', 'Cyclist')))
    assert metric.prefix == 'waymo'
    metric.process({}, [
        _sample('0', [_bar(0, 4), _bar(20, 21)], [0.9, 0.4], [0, 1], [_bar(0, 4), _bar(20, 21)], [0, 1],
                num_lidar_points=np.array([50, 2])),
        _sample('1', [_bar(0, 4)], [0.8], [0], [_bar(10, 14), _bar(30, 31)], [0, -1]),
    ])
    assert all(isinstance(v, np.ndarray) for r in metric.results for part in ('pred', 'gt')
               for v in r[part].values())  # only small CPU arrays are kept
    flat = metric.compute_metrics(metric.results)
    # VEHICLE: 2 predictions, 1 TP (frame 0), 2 GT -> P/R (1, 0.5) at 0.9 then (0.5, 0.5).
    assert flat['VEHICLE_LEVEL_2_AP'] == pytest.approx(0.5, abs=1e-6)
    assert flat['PEDESTRIAN_LEVEL_2_APH'] == pytest.approx(1.0, abs=1e-6)
    assert 'PEDESTRIAN_LEVEL_1_AP' not in flat  # its only GT is LEVEL_2 (2 points)
    assert 'CYCLIST_LEVEL_2_AP' not in flat and 'SIGN_LEVEL_2_AP' not in flat
    assert flat['mAPH_L2'] == pytest.approx(
        (flat['VEHICLE_LEVEL_2_APH'] + flat['PEDESTRIAN_LEVEL_2_APH']) / 2)
    assert flat['VEHICLE_RANGE_0_30_LEVEL_2_AP'] == pytest.approx(flat['VEHICLE_LEVEL_2_AP'])
    assert all(0.0 <= v <= 1.0 for v in flat.values())


def test_waymo_metric_reads_mmdet3d_eval_ann_info_and_rejects_unknown_classes() -> None:
    metric = WaymoMetric(classes=('Car',))
    pred = {'bboxes_3d': torch.tensor([_bar(0, 4)]), 'scores_3d': torch.tensor([0.5]),
            'labels_3d': torch.tensor([0])}
    ann = {'gt_bboxes_3d': np.array([_bar(0, 4)]), 'gt_labels_3d': np.array([0]),
           'num_lidar_pts': np.array([3])}
    metric.process({}, [{'sample_idx': 7, 'pred_instances_3d': pred, 'eval_ann_info': ann}])
    flat = metric.compute_metrics(metric.results)
    assert flat['VEHICLE_LEVEL_2_AP'] == pytest.approx(1.0, abs=1e-6)
    assert 'VEHICLE_LEVEL_1_AP' not in flat  # 3 points: LEVEL_2
    with pytest.raises(Exception, match='no Waymo type'):
        WaymoMetric(classes=('Car', 'Truck'))


def test_waymo_metric_reads_a_detection_sample_by_attribute() -> None:
    from omnifuse.structures.det_sample import DetPredictions, DetSample

    boxes = torch.tensor([_bar(0, 4), _bar(20, 24)], dtype=torch.float32)
    pred = DetPredictions(boxes, torch.tensor([0.9, 0.3]), torch.tensor([0, 0]))
    sample = DetSample(frame_id='000007', gt_boxes=boxes[:1], gt_labels=torch.tensor([0]), pred=pred)
    metric = WaymoMetric(classes=('Car',))
    metric.process({}, [sample])
    assert metric.results[0]['frame'] == '000007' and len(metric.results[0]['gt']['boxes']) == 1
    flat = metric.compute_metrics(metric.results)
    assert flat['VEHICLE_LEVEL_1_AP'] == pytest.approx(1.0, abs=1e-6)  # no point counts: LEVEL_1
    with pytest.raises(Exception, match='no predictions'):
        metric.process({}, [DetSample(frame_id='8')])
