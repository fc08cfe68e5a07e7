"""The pieces of the tracking evaluation (omnifuse/evaluation/tracking_mot.py, tracking_hota.py) on hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from omnifuse.errors import FormatError
from omnifuse.evaluation.tracking_hota import ALPHAS, evaluate_hota
from omnifuse.evaluation.tracking_mot import (
    _switches_and_fragments,
    camera_boxes_iou_3d,
    evaluate_mot,
    recall_thresholds,
)
from omnifuse.structures.kitti_labels import KittiLabels
from omnifuse.structures.kitti_tracking import KittiTrackRows, parse_kitti_tracking


def _rows(objs: list[dict]) -> KittiTrackRows:
    """Rows from dicts: frame, id, name, box2d, xyz (camera, bottom centre), optional hwl, ry, score, occ, trunc."""
    if not objs:
        return KittiTrackRows.empty()
    n = len(objs)
    labels = KittiLabels(name=np.array([o['name'] for o in objs]),
                         truncated=np.array([o.get('trunc', 0) for o in objs], float),
                         occluded=np.array([o.get('occ', 0) for o in objs]), alpha=np.zeros(n),
                         bbox=np.array([o.get('box2d', (100, 100, 200, 200)) for o in objs], float),
                         dimensions=np.array([o.get('hwl', (1.5, 1.6, 4.0)) for o in objs], float),
                         location=np.array([o.get('xyz', (0, 1.5, 20)) for o in objs], float),
                         rotation_y=np.array([o.get('ry', 0.0) for o in objs], float),
                         score=np.array([o.get('score', np.nan) for o in objs], float))
    return KittiTrackRows(np.array([o['frame'] for o in objs]), np.array([o['id'] for o in objs]), labels)


# ---------------------------------------------------------------------------------------------
# recall thresholds
# ---------------------------------------------------------------------------------------------

def test_recall_thresholds_take_one_score_per_recall_step_and_drop_recall_zero():
    # 4 matches of 4 objects, steps of 1/4: every score is a point; the first (recall 0) is dropped.
    th, rec = recall_thresholds([0.6, 0.9, 0.7, 0.8], 4, num_sample_pts=5)
    assert th == [0.8, 0.7, 0.6]
    assert rec == [0.25, 0.5, 0.75]


def test_recall_thresholds_skip_a_score_whose_successor_is_closer_to_the_target():
    # 4 matches of 8 objects: recall 0.375 is skipped for target 0.5 because 0.5 (the last) is closer.
    th, rec = recall_thresholds([0.9, 0.8, 0.7, 0.6], 8, num_sample_pts=5)
    assert th == [0.8, 0.6]
    assert rec == [0.25, 0.5]


def test_recall_thresholds_of_full_recall_reach_forty_points():
    scores = np.linspace(1, 0, 400)
    th, rec = recall_thresholds(scores, 400)
    assert len(th) == 40
    assert rec[0] == 1 / 40 and math.isclose(rec[-1], 1.0)
    assert th == sorted(th, reverse=True)


def test_recall_thresholds_without_matches_are_empty():
    assert recall_thresholds([], 10) == ([], [])


# ---------------------------------------------------------------------------------------------
# 3D IoU in the camera frame
# ---------------------------------------------------------------------------------------------

def test_camera_iou_3d_of_a_shift_along_the_length_and_of_a_lifted_box():
    a = np.array([[1.5, 1.6, 4.0, 0.0, 1.5, 20.0, 0.0]])      # h w l x y z ry; l along camera x for ry = 0
    shifted = a + [[0, 0, 0, 0.4, 0, 0, 0]]
    assert camera_boxes_iou_3d(a, shifted)[0] == pytest.approx(3.6 / 4.4, abs=1e-12)
    lifted = a + [[0, 0, 0, 0, -0.5, 0, 0]]                     # y down: 0.5 m higher, 1.0 m of 1.5 shared
    assert camera_boxes_iou_3d(a, lifted)[0] == pytest.approx(1.0 / 2.0, abs=1e-12)
    turned = a + [[0, 0, 0, 0, 0, 0, np.pi / 2]]                # footprint 4 x 1.6 against 1.6 x 4
    assert camera_boxes_iou_3d(a, turned)[0] == pytest.approx(1.6 * 1.6 / (2 * 6.4 - 1.6 * 1.6), abs=1e-12)


# ---------------------------------------------------------------------------------------------
# ID switches and fragmentations
# ---------------------------------------------------------------------------------------------

def _literal_switches_and_fragments(trajectories: list[tuple[list[int], list[bool]]]) -> tuple[int, int]:
    """The reference's per-trajectory loop, written out plainly (frame by frame)."""
    ids = frags = 0
    for g, ign in trajectories:
        if all(ign) or all(v == -1 for v in g):
            continue
        last = g[0]
        f = 0
        for f in range(1, len(g)):
            if ign[f]:
                last = -1
                continue
            if last != g[f] and last != -1 and g[f] != -1 and g[f - 1] != -1:
                ids += 1
            if f < len(g) - 1 and g[f - 1] != g[f] and last != -1 and g[f] != -1 and g[f + 1] != -1:
                frags += 1
            if g[f] != -1:
                last = g[f]
        if len(g) > 1 and g[f - 1] != g[f] and last != -1 and g[f] != -1 and not ign[f]:
            frags += 1
    return ids, frags


def _flat(trajectories):
    traj = np.concatenate([np.full(len(g), k) for k, (g, _) in enumerate(trajectories)])
    return traj, np.concatenate([g for g, _ in trajectories]), np.concatenate([i for _, i in trajectories])


@pytest.mark.parametrize('g, ign, expected', [
    ([0, 0, 0], [False] * 3, (0, 0)),
    ([0, 1, 1], [False] * 3, (1, 1)),          # a switch is a fragmentation too
    ([0, -1, 1], [False] * 3, (0, 1)),         # no ID switch across an unmatched frame (both frames must match)
    ([0, -1, 0], [False] * 3, (0, 1)),         # the same id back after a gap: a fragmentation
    ([0, 0, -1], [False] * 3, (0, 0)),         # a track lost at the end is not a fragmentation
    ([0, 1, 0], [False, True, False], (0, 1)),  # an ignored frame resets the last id
    ([0, 1, 0, 0], [False] * 4, (2, 2)),
])
def test_switches_and_fragments_of_hand_made_trajectories(g, ign, expected):
    traj, ids, ignored = _flat([(np.array(g), np.array(ign))])
    assert _switches_and_fragments(traj, ids, ignored) == expected
    assert _literal_switches_and_fragments([(g, ign)]) == expected


def test_switches_and_fragments_match_the_plain_loop_on_random_trajectories():
    rng = np.random.default_rng(3)
    trajectories = []
    for _ in range(400):
        n = int(rng.integers(1, 12))
        trajectories.append((rng.choice([-1, 3, 4, 5], n, p=[0.3, 0.4, 0.2, 0.1]), rng.random(n) < 0.15))
    traj, ids, ignored = _flat(trajectories)
    # Rows frame-major, as in a sequence: trajectories interleave, each keeps its own order.
    position = np.concatenate([np.arange(len(g)) for g, _ in trajectories])
    order = np.lexsort((traj, position))
    assert _switches_and_fragments(traj[order], ids[order], ignored[order]) == _literal_switches_and_fragments(
        [(list(g), list(i)) for g, i in trajectories])


# ---------------------------------------------------------------------------------------------
# A hand-made two-frame sequence
# ---------------------------------------------------------------------------------------------

def _two_frames(pred_ids=(0, 1)) -> tuple[dict, dict]:
    gt = _rows([dict(frame=f, id=7, name='Car') for f in (0, 1)])
    pred = _rows([dict(frame=f, id=i, name='Car', xyz=(0.4, 1.5, 20), score=0.5)
                  for f, i in zip((0, 1), pred_ids, strict=True)])
    return {'0000': gt}, {'0000': pred}


def test_two_frame_sequence_with_an_id_switch_scores_as_computed_by_hand():
    gt, pred = _two_frames()
    r = evaluate_mot(gt, pred, cls='car')
    # Both frames matched (IoU 3.6 / 4.4); the second with another id: one ID switch, one fragmentation.
    assert (r.TP, r.FP, r.FN, r.IDS, r.FRAG, r.n_gt) == (2, 0, 0, 1, 1, 2)
    assert r.MOTA == pytest.approx(1 - 1 / 2)
    assert r.MOTP == pytest.approx(3.6 / 4.4)
    # Scores 0.5, 0.5 of 2 objects: one threshold (0.5) at target recall 1/40; sMOTA clips to 1 there.
    assert r.num_thresholds == 1 and r.best_threshold == 0.5
    assert r.sAMOTA == pytest.approx(1 / 40)
    assert r.AMOTA == pytest.approx(0.5 / 40)
    assert r.AMOTP == pytest.approx(3.6 / 4.4 / 40)


def test_two_frame_sequence_without_a_switch_is_perfect_at_its_threshold():
    gt, pred = _two_frames(pred_ids=(0, 0))
    r = evaluate_mot(gt, pred, cls='car')
    assert (r.IDS, r.FRAG, r.MOTA) == (0, 0, 1.0)
    assert evaluate_mot(gt, pred, cls='car', min_overlap=0.9).FN == 2  # 0.818 < 0.9: no match


def test_unmatched_predictions_are_ignored_when_small_of_the_neighbour_class_or_in_dontcare():
    gt = _rows([dict(frame=0, id=1, name='Car'),
                dict(frame=0, id=-1, name='DontCare', box2d=(500, 100, 700, 200), xyz=(-1000, -1000, -1000)),
                dict(frame=0, id=2, name='Car', xyz=(9, 1.5, 30), occ=3)])  # occluded: ignored ground truth
    far = (20, 1.5, 60)
    pred = _rows([dict(frame=0, id=0, name='Car', xyz=(0.2, 1.5, 20), score=0.9),
                  dict(frame=0, id=1, name='Car', xyz=far, box2d=(0, 100, 50, 120), score=0.9),      # 20 px tall
                  dict(frame=0, id=2, name='Van', xyz=far, score=0.9),                               # neighbour
                  dict(frame=0, id=3, name='Car', xyz=far, box2d=(520, 110, 650, 190), score=0.9),   # in DontCare
                  dict(frame=0, id=4, name='Car', xyz=far, box2d=(0, 300, 100, 370), score=0.9),     # a real FP
                  dict(frame=0, id=5, name='Pedestrian', xyz=far, score=0.9)])                       # other class
    r = evaluate_mot({'0000': gt}, {'0000': pred}, cls='car')
    assert (r.TP, r.FP, r.FN, r.n_gt, r.num_predictions) == (1, 1, 0, 1, 5)
    assert r.MOTA == 0.0


def test_a_matched_occluded_object_is_an_ignored_true_positive():
    gt = _rows([dict(frame=0, id=1, name='Car', occ=3), dict(frame=0, id=2, name='Van', xyz=(5, 1.5, 20))])
    pred = _rows([dict(frame=0, id=0, name='Car', xyz=(0.2, 1.5, 20), score=0.9),
                  dict(frame=0, id=1, name='Car', xyz=(5.2, 1.5, 20), score=0.9)])
    r = evaluate_mot({'0000': gt}, {'0000': pred}, cls='car')
    # Both matches count as TP (the reference's TP includes ignored ones), none is FP, nothing is left to find.
    assert (r.TP, r.FP, r.FN, r.n_gt) == (2, 0, 0, 0)
    assert r.MOTA == -math.inf


def test_predictions_with_dontcare_rows_or_repeated_ids_are_refused():
    gt, pred = _two_frames()
    dc = _rows([dict(frame=0, id=-1, name='DontCare', score=1.0)])
    with pytest.raises(FormatError, match='DontCare'):
        evaluate_mot(gt, {'0000': KittiTrackRows.concatenate([pred['0000'], dc])}, cls='car')
    twice = _rows([dict(frame=0, id=3, name='Car', score=1.0), dict(frame=0, id=3, name='Van', score=1.0)])
    with pytest.raises(FormatError, match='track id 3 occurs more than once in frame 0'):
        evaluate_mot(gt, {'0000': twice}, cls='car')


def test_a_result_line_without_score_counts_as_score_minus_one():
    text = ('0 0 Car 0 0 0 100 100 200 200 1.5 1.6 4.0 0.4 1.5 20 0\n'
            '1 0 Car 0 0 0 100 100 200 200 1.5 1.6 4.0 0.4 1.5 20 0\n')
    gt, _ = _two_frames()
    r = evaluate_mot(gt, {'0000': parse_kitti_tracking(text)}, cls='car')
    assert r.best_threshold == -1.0 and r.MOTA == 1.0


# ---------------------------------------------------------------------------------------------
# HOTA
# ---------------------------------------------------------------------------------------------

def test_hota_of_a_two_frame_track_at_iou_055_counts_the_alphas_by_hand():
    gt = _rows([dict(frame=f, id=4, name='Car', box2d=(0, 0, 100, 100)) for f in (0, 1)])
    pred = _rows([dict(frame=f, id=9, name='Car', box2d=(0, 0, 100, 55), score=1.0) for f in (0, 1)])
    r = evaluate_hota({'s': gt}, {'s': pred}, cls='car')
    hit = ALPHAS <= 0.55 + 1e-12                   # 11 of the 19 alphas: 0.05 .. 0.55
    assert hit.sum() == 11
    np.testing.assert_array_equal(r.per_alpha['TP'], np.where(hit, 2, 0))
    np.testing.assert_array_equal(r.per_alpha['DetA'], np.where(hit, 1.0, 0.0))
    np.testing.assert_array_equal(r.per_alpha['AssA'], np.where(hit, 1.0, 0.0))
    assert r.HOTA == pytest.approx(11 / 19)
    # LocA is 1 where nothing matched (TrackEval's max(1e-10, 0) / max(1e-10, 0)).
    assert r.LocA == pytest.approx((11 * 0.55 + 8) / 19)


def test_hota_association_halves_when_the_prediction_changes_id():
    gt = _rows([dict(frame=f, id=4, name='Pedestrian') for f in (0, 1)])
    pred = _rows([dict(frame=f, id=f, name='Pedestrian', score=1.0) for f in (0, 1)])
    r = evaluate_hota({'s': gt}, {'s': pred}, cls='pedestrian')
    assert r.DetA == 1.0 and r.AssA == pytest.approx(0.5) and r.HOTA == pytest.approx(math.sqrt(0.5))


def test_hota_drops_predictions_on_distractors_small_boxes_and_dontcare():
    gt = _rows([dict(frame=0, id=1, name='Van', box2d=(0, 0, 100, 100)),
                dict(frame=0, id=2, name='Car', box2d=(300, 0, 400, 100), trunc=1),
                dict(frame=0, id=-1, name='DontCare', box2d=(500, 0, 700, 100))])
    pred = _rows([dict(frame=0, id=0, name='Car', box2d=(0, 0, 100, 90)),      # on the Van: removed
                  dict(frame=0, id=1, name='Car', box2d=(300, 0, 400, 95)),    # on truncated ground truth: removed
                  dict(frame=0, id=2, name='Car', box2d=(510, 10, 600, 90)),   # inside DontCare: removed
                  dict(frame=0, id=3, name='Car', box2d=(800, 0, 900, 20)),    # 20 px tall: removed
                  dict(frame=0, id=4, name='Car', box2d=(800, 200, 900, 300))])  # a false positive
    r = evaluate_hota({'s': gt}, {'s': pred}, cls='car')
    np.testing.assert_array_equal(r.per_alpha['FP'], np.ones(19))
    np.testing.assert_array_equal(r.per_alpha['TP'] + r.per_alpha['FN'], np.zeros(19))
    assert r.HOTA == 0.0


def test_track_means_drift_from_pass_to_pass_as_the_reference_rewrites_the_scores():
    from omnifuse.evaluation.tracking_mot import _drifting_means

    means = _drifting_means([np.array([0.1, 0.1, 0.1]), np.array([0.25, 0.75])], 4)
    first = (0.1 + 0.1 + 0.1) / 3.0
    assert means[0, 0] == first != 0.1
    assert means[1, 0] == (first + first + first) / 3.0
    np.testing.assert_array_equal(means[:, 1], 0.5)
