"""MultiObjectTracker on synthetic scenes: ids kept through crossings and misses, yaw flips, confirmation,
velocities, ego motion; TrackerConfig parsing; the affinity and assignment helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from omnifuse.errors import FormatError, OmnifuseError
from omnifuse.structures.boxes3d import Boxes3D
from omnifuse.structures.frame import ObjectLabels
from omnifuse.tracking import ClassParams, MultiObjectTracker, TrackerConfig
from omnifuse.tracking.association import affinity, assign, convex_hull_area, giou_3d

DT_NS = 100_000_000  # 10 Hz


def _dets(boxes: list[list[float]], name: str = 'Car', scores: list[float] | None = None) -> ObjectLabels:
    n = len(boxes)
    return ObjectLabels(Boxes3D(np.asarray(boxes, np.float64).reshape(-1, 7)), [name] * n, np.zeros(n),
                        np.zeros(n, int), np.zeros(n), np.tile([100.0, 100.0, 200.0, 180.0], (n, 1)),
                        np.full(n, 10.0) if scores is None else np.asarray(scores, np.float64))


def _car(x: float, y: float, yaw: float = 0.0) -> list[float]:
    return [x, y, -0.8, 4.0, 1.7, 1.5, yaw]


def _by_id(tracks) -> dict[int, np.ndarray]:
    return {int(i): tracks.boxes.data[k] for k, i in enumerate(tracks.ids)}


def test_two_crossing_objects_keep_their_ids() -> None:
    # A drives +x, B drives +y; their paths cross at (20, 0), B half a second after A (boxes overlap there).
    tracker = MultiObjectTracker()
    ids_a, ids_b = set(), set()
    for k in range(40):
        t = k * 0.1
        a = _car(10 + 5 * t, 0.0, 0.0)
        b = _car(20.0, -12.5 + 5 * t, math.pi / 2)
        tracks = tracker.update(_dets([a, b]), stamp_ns=k * DT_NS)
        for tid, box in _by_id(tracks).items():
            if np.linalg.norm(box[:2] - a[:2]) < 1.0:
                ids_a.add(tid)
            elif np.linalg.norm(box[:2] - b[:2]) < 1.0:
                ids_b.add(tid)
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b


def test_a_missed_frame_coasts_and_recovers_the_same_id() -> None:
    tracker = MultiObjectTracker()
    seen = []
    for k in range(12):
        dets = _dets([]) if k == 6 else _dets([_car(10 + 1.0 * k, 2.0)])  # 10 m/s, frame 6 missed
        tracks = tracker.update(dets, stamp_ns=k * DT_NS)
        assert len(tracks) == 1
        seen.append((int(tracks.ids[0]), int(tracks.time_since_update[0])))
        if k == 6:  # coasting: predicted forward on the motion model, no image box
            assert tracks.boxes.data[0, 0] == pytest.approx(16.0, abs=0.3)
            assert np.isnan(tracks.bbox_2d[0]).all()
    assert {i for i, _ in seen} == {seen[0][0]}
    assert [s for _, s in seen] == [0] * 6 + [1] + [0] * 5


def test_a_dropped_frame_uses_the_stamps() -> None:
    # 40 m/s: 8 m between the frames around the gap, twice a car's length; the prediction must span 0.2 s.
    tracker = MultiObjectTracker()
    ids = set()
    for k in [*range(10), *range(11, 16)]:
        tracks = tracker.update(_dets([_car(5 + 4.0 * k, 0.0)]), stamp_ns=k * DT_NS)
        ids.update(int(i) for i in tracks.ids)
        assert len(tracks) == 1 and tracks.time_since_update[0] == 0
    assert len(ids) == 1


def test_a_flipped_detection_is_turned_around_before_the_update() -> None:
    tracker = MultiObjectTracker()
    for k in range(15):
        yaw = 0.3 + (math.pi if k in (8, 9) else 0.0)  # the detector faces the car backwards twice
        tracks = tracker.update(_dets([_car(10 + 0.5 * k * math.cos(0.3), 0.5 * k * math.sin(0.3), yaw)]),
                                stamp_ns=k * DT_NS)
        assert len(tracks) == 1 and tracks.ids[0] == 1
        assert abs(float(tracks.boxes.data[0, 6]) - 0.3) < 0.1, k
    speed = np.linalg.norm(tracks.velocities[0, :2])
    assert speed == pytest.approx(5.0, abs=0.5)


def test_births_need_confirmation() -> None:
    tracker = MultiObjectTracker(TrackerConfig.from_dict({'min_hits': 3, 'warmup_frames': 0,
                                                          'report_tentative': False}))
    reported = []
    for k in range(8):
        boxes = [_car(10.0, 3.0)]
        if k == 2:
            boxes.append(_car(30.0, -8.0))  # a one-frame false positive
        if k >= 4:
            boxes.append(_car(20.0, 10.0))  # a new object from frame 4
        tracks = tracker.update(_dets(boxes), stamp_ns=k * DT_NS)
        reported.append(sorted(int(i) for i in tracks.ids))
    assert reported[:2] == [[], []]  # the first object needs its third hit
    assert reported[2] == [1] and reported[3] == [1]  # the false positive (id 2) never shows
    assert reported[4] == [1] and reported[5] == [1] and reported[6] == [1, 3] and reported[7] == [1, 3]


def test_tentative_tracks_can_be_reported_with_a_lower_score() -> None:
    cfg = TrackerConfig.from_dict({'min_hits': 3, 'warmup_frames': 0, 'report_tentative': True,
                                   'tentative_penalty': 4.0, 'score_mode': 'detection', 'hits_bonus': 0.0})
    tracker = MultiObjectTracker(cfg)
    for k in range(4):
        tracks = tracker.update(_dets([_car(10.0, 3.0)], scores=[9.0]), stamp_ns=k * DT_NS)
        assert len(tracks) == 1 and tracks.hits[0] == k + 1
        assert tracks.scores[0] == pytest.approx(5.0 if k < 2 else 9.0)


def test_score_grows_with_hits_up_to_the_cap_and_warmup_has_no_penalty() -> None:
    cfg = TrackerConfig.from_dict({'min_hits': 3, 'warmup_frames': 1, 'report_tentative': True,
                                   'tentative_penalty': 2.0, 'score_mode': 'mean', 'hits_bonus': 4.0,
                                   'hits_bonus_cap': 3, 'report_coasting': 0})
    tracker = MultiObjectTracker(cfg)
    det_scores = [6.0, 2.0, 4.0, 8.0, 5.0]
    for k, s in enumerate(det_scores):
        tracks = tracker.update(_dets([_car(10.0, 3.0)], scores=[s]), stamp_ns=k * DT_NS)
        hits = k + 1
        penalty = 2.0 if 0 < k < 2 else 0.0  # frame 0 is the warm-up; confirmed from the third hit
        expected = np.mean(det_scores[:hits]) + 4.0 * math.log(min(hits, 3)) - penalty
        assert tracks.scores[0] == pytest.approx(expected)
    with pytest.raises(FormatError, match='hits_bonus'):
        TrackerConfig.from_dict({'hits_bonus': -1.0})


def test_warmup_reports_tracks_at_the_start_of_a_sequence() -> None:
    tracker = MultiObjectTracker(TrackerConfig.from_dict({'min_hits': 3, 'warmup_frames': 3,
                                                          'report_tentative': False}))
    assert len(tracker.update(_dets([_car(10.0, 3.0)]), stamp_ns=0)) == 1


def test_constant_velocity_is_estimated() -> None:
    tracker = MultiObjectTracker()
    v = np.array([5.0, -2.0])
    rng = np.random.default_rng(0)
    for k in range(30):
        pos = np.array([10.0, 5.0]) + v * k * 0.1 + rng.normal(0, 0.05, 2)
        tracks = tracker.update(_dets([_car(*pos, math.atan2(v[1], v[0]))]), stamp_ns=k * DT_NS)
    np.testing.assert_allclose(tracks.velocities[0, :2], v, atol=0.3)
    assert abs(tracks.velocities[0, 2]) < 0.2


def test_ego_pose_gives_over_ground_velocity_for_a_parked_car() -> None:
    # The ego drives +x at 10 m/s and turns slowly; a car is parked at world (40, 5).
    with_pose, without = MultiObjectTracker(), MultiObjectTracker()
    parked = np.array([40.0, 5.0, -0.8, 1.0])
    for k in range(20):
        t = k * 0.1
        yaw = 0.02 * k
        pose = np.eye(4)
        pose[:3, :3] = [[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]]
        pose[:3, 3] = [10 * t, 0.5 * t * t, 0.0]
        in_lidar = np.linalg.inv(pose) @ parked
        det = _dets([_car(in_lidar[0], in_lidar[1], -yaw)])
        tracks = with_pose.update(det, stamp_ns=k * DT_NS, pose=pose)
        rel = without.update(det, stamp_ns=k * DT_NS)
        # reported in the current LiDAR frame, on top of the detection
        np.testing.assert_allclose(tracks.boxes.data[0, :2], in_lidar[:2], atol=0.1)
        assert tracks.boxes.frame == 'lidar'
    assert np.linalg.norm(tracks.velocities[0]) < 0.3
    assert rel.velocities[0, 0] < -8.0  # without the pose the parked car comes at the sensor


def test_pose_on_some_frames_only_and_time_going_back_are_refused() -> None:
    tracker = MultiObjectTracker()
    tracker.update(_dets([_car(10, 0)]), stamp_ns=DT_NS)
    with pytest.raises(OmnifuseError, match='every frame or on none'):
        tracker.update(_dets([_car(10, 0)]), stamp_ns=2 * DT_NS, pose=np.eye(4))
    with pytest.raises(OmnifuseError, match='before the previous one'):
        tracker.update(_dets([_car(10, 0)]), stamp_ns=0)
    tracker.reset()
    tracks = tracker.update(_dets([_car(10, 0)]), stamp_ns=0, pose=np.eye(4))
    assert tracks.ids.tolist() == [2]  # ids are never reused after a reset


def test_classes_are_tracked_separately() -> None:
    tracker = MultiObjectTracker()
    for k in range(5):
        dets = ObjectLabels(Boxes3D(np.array([_car(10, 0), [10, 0, -0.8, 0.8, 0.6, 1.7, 0.0]])), ['Car', 'Pedestrian'],
                            np.zeros(2), np.zeros(2, int), np.zeros(2), np.zeros((2, 4)), np.array([9.0, 5.0]))
        tracks = tracker.update(dets, stamp_ns=k * DT_NS)
    assert sorted(tracks.names) == ['Car', 'Pedestrian'] and len(set(tracks.ids.tolist())) == 2


def test_config_from_dict_overrides_per_class_and_rejects_unknown_keys() -> None:
    cfg = TrackerConfig.from_dict({'min_hits': 2, 'classes': {'Pedestrian': {'max_age': 5, 'report_coasting': 2}},
                                   'Cyclist.match_threshold': '2.5', 'Van.metric': 'iou_3d'})
    assert cfg.params('Car').min_hits == 2 and cfg.params('Truck').min_hits == 2
    assert cfg.params('Pedestrian').max_age == 5 and cfg.params('Pedestrian').min_hits == 2
    assert cfg.params('Cyclist').match_threshold == 2.5 and cfg.params('Cyclist').metric == 'distance'
    assert cfg.params('Van').metric == 'iou_3d'
    assert TrackerConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(FormatError, match="unknown parameter 'max_ages'"):
        TrackerConfig.from_dict({'max_ages': 3})
    with pytest.raises(FormatError, match="'min_hits' must be a int, got 'two'"):
        TrackerConfig.from_dict({'Car.min_hits': 'two'})
    with pytest.raises(FormatError, match='metric must be one of'):
        ClassParams(metric='mahalanobis')
    with pytest.raises(FormatError, match='report_coasting .* cannot exceed max_age'):
        ClassParams(max_age=1, report_coasting=2)


def test_giou_and_hull_area() -> None:
    box = np.array([[0.0, 0.0, 0.0, 4.0, 2.0, 1.5, 0.3]])
    assert giou_3d(box, box)[0, 0] == pytest.approx(1.0)
    far = box.copy()
    far[0, 0] = 100.0
    assert giou_3d(box, far)[0, 0] < -0.9
    touching = box.copy()
    touching[0, :2] += 4.0 * np.array([math.cos(0.3), math.sin(0.3)])  # end to end: IoU 0, hull = union
    assert giou_3d(box, touching)[0, 0] == pytest.approx(0.0, abs=1e-9)
    square = np.array([[[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5], [1, 0], [0, 0.5], [2, 0]]], float)
    assert convex_hull_area(square)[0] == pytest.approx(1.5)


def test_assignment_greedy_and_hungarian() -> None:
    aff = np.array([[0.9, 0.8], [0.85, 0.1]])
    m, rows, cols = assign(aff, 0.2, 'greedy')
    assert m.tolist() == [[0, 0]] and rows.tolist() == [1] and cols.tolist() == [1]
    m, rows, cols = assign(aff, 0.2, 'hungarian')
    assert m.tolist() == [[0, 1], [1, 0]] and len(rows) == 0 and len(cols) == 0
    gated = affinity(np.array([_car(0, 0)]), np.array([_car(30, 0)]), 'giou_3d', gate_distance=10.0)
    assert gated[0, 0] == -1.0
    assert affinity(np.array([_car(0, 0)]), np.array([_car(3, 4)]), 'distance')[0, 0] == pytest.approx(-5.0)


@pytest.mark.parametrize('metric', ['giou_3d', 'giou_bev'])
def test_the_giou_floor_skips_only_pairs_that_cannot_match(metric: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        n, m = rng.integers(1, 12, 2)
        sizes = rng.uniform(0.3, 6, (n + m, 3))
        boxes = np.c_[rng.uniform(-25, 25, (n + m, 2)), rng.uniform(-1, 1, n + m), sizes, rng.uniform(-3, 3, n + m)]
        a, b = boxes[:n], boxes[n:]
        full = affinity(a, b, metric)
        for floor in (-0.6, -0.4, -0.2, 0.0, 0.3):
            fast = affinity(a, b, metric, floor=floor)
            keep = full >= floor
            np.testing.assert_array_equal(fast[keep], full[keep])  # every pair that can match is exact
            assert (fast[~keep] < floor).all()  # the others still fail the threshold


def test_exact_mean_scores_give_each_track_its_confidence_as_a_mean_that_does_not_drift():
    from omnifuse.evaluation.tracking_mot import _drifting_means
    from omnifuse.tracking.kitti_io import SCORE_DECIMALS, SCORE_GRID, ExactMeanScores

    rng = np.random.default_rng(0)
    column = ExactMeanScores()
    rows, confidences = {1: [], 2: []}, {1: [], 2: []}
    for _ in range(300):
        conf = rng.normal(5, 3, size=2) + rng.random(2) / 3
        out = column(np.array([1, 2]), conf)
        for tid, value, c in zip((1, 2), out, conf, strict=True):
            rows[tid].append(float(f'{value:.{SCORE_DECIMALS}f}'))   # as written and read back
            confidences[tid].append(c)
    for tid in (1, 2):
        q = round(confidences[tid][-1] / SCORE_GRID) * SCORE_GRID
        means = _drifting_means([np.array(rows[tid])], 44)[:, 0]
        assert (means == q).all()


def test_report_policy_drops_low_scoring_tentative_tracks_only():
    from omnifuse.tracking.config import ClassParams
    from omnifuse.tracking.tracker import report_policy

    p = ClassParams(min_hits=3, report_tentative=True, tentative_min_score=2.0, tentative_penalty=1.0,
                    score_mode='mean', hits_bonus=1.0)
    keep, score = report_policy(p, hits=np.array([1, 1, 3]), time_since_update=np.array([0, 0, 0]),
                                last_score=np.array([1.0, 3.0, 0.5]), mean_score=np.array([1.0, 3.0, 0.7]),
                                warmup=False)
    assert keep.tolist() == [False, True, True]
    assert score[1] == 3.0 - 1.0 and score[2] == pytest.approx(0.7 + np.log(3))
