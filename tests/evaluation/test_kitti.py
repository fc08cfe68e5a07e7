"""KITTI evaluation: parity with mmdet3d's asserted figures, with a slow loop reference, and the helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from omnifuse.errors import FormatError, OmnifuseError, ShapeError
from omnifuse.evaluation.kitti import evaluate_kitti, get_thresholds
from omnifuse.evaluation.kitti_convert import lidar_detections_to_kitti
from omnifuse.evaluation.kitti_metric import KittiMetric
from omnifuse.evaluation.kitti_overlaps import bev_3d_overlap
from omnifuse.registry import METRICS
from omnifuse.structures.calibration import CameraModel
from omnifuse.structures.det_sample import DetPredictions, DetSample
from omnifuse.structures.kitti_labels import KittiLabels, format_kitti_label, parse_kitti_label

CLASSES3 = ('Pedestrian', 'Cyclist', 'Car')  # the order of mmdet3d's tests (current_classes [1, 2, 0])

# ------------------------------------------------------------------------------------------------
# mmdet3d's unit test input (tests/test_evaluation/test_functional/test_kitti_eval.py): a label derived
# from KITTI frame 000001. mmdet3d's 'dimensions' are (l, h, w); KittiLabels keeps the file's (h, w, l).


def _lhw_to_hwl(dims: list[list[float]]) -> np.ndarray:
    return np.asarray(dims)[:, [1, 2, 0]]


MM_GT = dict(
    name=['Pedestrian', 'Cyclist', 'Car', 'Car', 'Car', 'DontCare', 'DontCare'],
    truncated=[0., 0., 0., -1., -1., -1., -1.], occluded=[0, 0, 3, -1, -1, -1, -1],
    alpha=[-1.57, 1.85, -1.65, -10., -10., -10., -10.],
    bbox=[[674.9179, 165.48549, 693.23694, 193.42134], [676.21954, 165.70988, 691.63745, 193.83748],
          [389.4093, 182.48041, 421.49072, 202.13422], [232.0577, 186.16724, 301.94623, 217.4024],
          [758.6537, 172.98509, 816.32434, 212.76743], [532.37, 176.35, 542.68, 185.27],
          [559.62, 175.83, 575.4, 183.15]],
    dimensions=_lhw_to_hwl([[12.34, 2.85, 2.63], [3.69, 1.67, 1.87], [2.02, 1.86, 0.6], [-1., -1., -1.],
                            [-1., -1., -1.], [-1., -1., -1.], [-1., -1., -1.]]),
    location=[[0.47, 1.49, 69.44], [-16.53, 2.39, 58.49], [4.59, 1.32, 45.84], [-1000.] * 3, [-1000.] * 3,
              [-1000.] * 3, [-1000.] * 3],
    rotation_y=[-1.56, 1.57, -1.55, -10., -10., -10., -10.])
MM_DT = dict(
    name=['Pedestrian', 'Cyclist', 'Car', 'Car', 'Car'], truncated=[0.] * 5, occluded=[0] * 5,
    alpha=[1.0744612, 1.2775835, 1.82563, 2.1145396, -1.7676563],
    bbox=MM_GT['bbox'][:5],
    dimensions=_lhw_to_hwl([[1.4441837, 1.7450154, 0.53160036], [1.6501029, 1.7540325, 0.5162356],
                            [3.9313498, 1.4899347, 1.5655756], [4.0111866, 1.5350999, 1.585221],
                            [3.7337692, 1.5117968, 1.5515774]]),
    location=[[4.6671643, 1.285098, 45.836895], [4.658241, 1.3088846, 45.85148],
              [-16.598526, 2.298814, 58.618088], [-18.629122, 2.2990575, 39.305355],
              [7.0964046, 1.5178275, 29.32426]],
    rotation_y=[1.174933, 1.3778262, 1.550529, 1.6742425, -1.5330327],
    score=[0.18151495, 0.57920843, 0.27795696, 0.23100418, 0.21541929])


def _ap_array(result, metric: str, kind: str) -> np.ndarray:
    """(class, difficulty, set) like mmdet3d's do_eval outputs."""
    return np.array([[[result.ap[c][s][metric][kind][d] for s in ('strict', 'loose')] for d in range(3)]
                     for c in result.classes])


@pytest.fixture(scope='module')
def mm_result():
    return evaluate_kitti([KittiLabels.from_mapping(MM_GT)], [KittiLabels.from_mapping(MM_DT)],
                          classes=CLASSES3)


def test_mmdet3d_kitti_eval_overall_2d_figures(mm_result):
    overall = mm_result.overall('strict')['bbox']
    assert overall['AP11'][1] == pytest.approx(9.090909090909092, abs=1e-6)
    assert overall['AP11'][2] == pytest.approx(9.090909090909092, abs=1e-6)
    assert overall['AP40'][1] == pytest.approx(0.8333333333333334, abs=1e-6)
    assert overall['AP40'][2] == pytest.approx(0.8333333333333334, abs=1e-6)


def test_mmdet3d_do_eval_figures(mm_result):
    nine = 9.09090909
    per_class_ap11_bbox = [[0., 0.], [nine, nine], [nine, nine]]
    np.testing.assert_allclose(_ap_array(mm_result, 'bbox', 'AP11'), [per_class_ap11_bbox] * 3, atol=1e-6)
    np.testing.assert_allclose(_ap_array(mm_result, 'bbox', 'AP40'),
                               [[[0, 0]] * 3, [[0, 0]] * 3, [[0, 0], [2.5, 2.5], [2.5, 2.5]]], atol=1e-6)
    for metric in ('bev', '3d'):
        for kind in ('AP11', 'AP40'):
            np.testing.assert_allclose(_ap_array(mm_result, metric, kind), np.zeros((3, 3, 2)), atol=1e-6)
    aos11 = [[[0, 0], [v, v], [v, v]] for v in (0.55020816, 8.36633862, 8.63476893)]
    np.testing.assert_allclose(_ap_array(mm_result, 'aos', 'AP11'), aos11, atol=1e-6)
    aos40 = [[[0, 0]] * 3, [[0, 0]] * 3, [[0, 0], [1.58140643, 1.58140643], [1.58140643, 1.58140643]]]
    np.testing.assert_allclose(_ap_array(mm_result, 'aos', 'AP40'), aos40, atol=1e-6)


def test_mmdet3d_eval_class_curve_sums(mm_result):
    # mmdet3d's eval_class on the 2D metric: sums of the (class, difficulty, set, 41) curves.
    curves = [mm_result.curves[(c, s, 'bbox')] for c in CLASSES3 for s in ('strict', 'loose')]
    assert sum(c['recall'].sum() for c in curves) == pytest.approx(16, abs=1e-9)
    assert sum(c['precision'].sum() for c in curves) == pytest.approx(16, abs=1e-9)
    aos = sum(mm_result.curves[(c, s, 'aos')]['precision'].sum()
              for c in CLASSES3 for s in ('strict', 'loose'))
    assert aos == pytest.approx(10.252829201850309, abs=1e-9)


def _info_sample(shared_data):
    from omnifuse.datasets.infos import load_info_file

    info = load_info_file(shared_data / 'kitti' / 'mmdet3d_infos' / 'kitti_infos_train.pkl')
    return info.classes, info.data_list[0]


def _gt_from_info(names, sample) -> KittiLabels:
    inst = sample['instances']
    box = np.array([i['bbox_3d'] for i in inst], dtype=np.float64)  # camera x y z, l h w, ry
    return KittiLabels(name=[names[i['bbox_label']] if i['bbox_label'] >= 0 else 'DontCare' for i in inst],
                       truncated=[i['truncated'] for i in inst], occluded=[i['occluded'] for i in inst],
                       alpha=[i['alpha'] for i in inst], bbox=[i['bbox'] for i in inst],
                       dimensions=box[:, [4, 5, 3]], location=box[:, :3], rotation_y=box[:, 6],
                       score=np.full(len(inst), np.nan))


# mmdet3d's KittiMetric test prediction: LiDAR frame, bottom centre, (l, w, h), yaw.
MM_PED_BOTTOM = np.array([8.7314, -1.8559, -1.5997, 0.48, 1.2, 1.89, 0.01])


def _ped_prediction_sample(names, sample):
    cam = sample['images']['CAM2']
    centre = MM_PED_BOTTOM.copy()
    centre[2] += centre[5] / 2
    return DetSample(gt_kitti=_gt_from_info(names, sample),
                     pred=DetPredictions(torch.tensor(centre[None], dtype=torch.float32), torch.tensor([0.9]),
                                         torch.tensor([0])),
                     main_camera=CameraModel(np.array(cam['cam2img'])[:3], np.array(cam['lidar2cam']),
                                             int(cam['width']), int(cam['height'])))


def test_mmdet3d_kitti_metric_pedestrian_figures(shared_data):
    names, sample = _info_sample(shared_data)
    assert names[0] == 'Pedestrian'
    metric = KittiMetric(classes=CLASSES3, label_names=names)
    metric.process({}, [_ped_prediction_sample(names, sample)])
    flat = metric.compute_metrics(metric.results)
    for d in ('easy', 'moderate', 'hard'):
        assert flat[f'Overall_3d_{d}_AP11'] == pytest.approx(3.0303030303030307, abs=1e-6)
    assert flat['Overall_bev_easy_AP11'] == pytest.approx(3.0303030303030307, abs=1e-6)
    assert flat['Overall_bbox_easy_AP11'] == pytest.approx(3.0303030303030307, abs=1e-6)
    assert metric.last_result is not None and metric.last_result.num_frames == 1


def test_mmdet3d_multi_modal_kitti_metric_2d_figures(shared_data):
    # The image-only prediction of mmdet3d's multi-modal test: a 2D box without 3D fields (zero size,
    # location -1000, as mmdet3d's bbox2result_kitti2d writes them), scored on the 2D metric.
    names, sample = _info_sample(shared_data)
    pred = KittiLabels(name=['Pedestrian'], truncated=[0.0], occluded=[0], alpha=[0.0],
                       bbox=[[712.4, 143, 810.7, 307.92]], dimensions=[[0.0, 0.0, 0.0]],
                       location=[[-1000.0] * 3], rotation_y=[0.0], score=[0.9])
    result = evaluate_kitti([_gt_from_info(names, sample)], [pred], classes=CLASSES3)
    np.testing.assert_allclose(result.overall('strict')['bbox']['AP11'], [3.0303030303030307] * 3, atol=1e-6)
    np.testing.assert_allclose(result.overall('strict')['3d']['AP11'], [0.0] * 3, atol=1e-6)


def test_kitti_metric_registered_and_evaluates_through_mmengine(shared_data):
    names, sample = _info_sample(shared_data)
    metric = METRICS.build(dict(type='KittiMetric', classes=['Pedestrian']))
    metric.dataset_meta = dict(classes=names)
    metric.process({}, [_ped_prediction_sample(names, sample)])
    out = metric.evaluate(1)
    assert out['kitti/Pedestrian_3d_moderate_AP11'] == pytest.approx(100 / 11, abs=1e-6)
    assert out['kitti/Pedestrian_3d_moderate_AP40'] == 0.0
    assert not any(k.startswith('kitti/Overall') for k in out)


def test_kitti_metric_compute_metrics_on_hand_made_records():
    cars = _grid_cars(50)
    gt = cars.as_dict()
    pred = dict(gt, score=np.linspace(0.9, 0.5, len(cars)))
    worse = dict(pred, location=pred['location'] + [0, 0, 1.5])  # shifted 1.5 m: 3D IoU < 0.7
    metric = KittiMetric(classes=('Car',))
    metric.process({}, [{'gt_kitti': gt, 'pred_kitti': pred}])
    flat = metric.compute_metrics(metric.results)
    expected_keys = {f'Car_{m}_{d}_{k}' for m in ('bbox', 'bev', '3d', 'aos')
                     for d in ('easy', 'moderate', 'hard') for k in ('AP11', 'AP40')}
    assert {k for k in flat if 'loose' not in k} == expected_keys
    assert flat['Car_3d_moderate_AP40'] == pytest.approx(100.0)
    metric2 = KittiMetric(classes=('Car',))
    metric2.process({}, [{'gt_kitti': gt, 'pred_kitti': worse}])
    flat2 = metric2.compute_metrics(metric2.results)
    assert flat2['Car_3d_moderate_AP40'] == 0.0
    assert flat2['Car_bbox_moderate_AP40'] == pytest.approx(100.0)  # the image boxes did not move
    with pytest.raises(FormatError, match='gt_kitti'):
        metric2.process({}, [{'pred_kitti': pred}])


def test_kitti_metric_says_what_a_detection_sample_lacks():
    pred = DetPredictions(torch.zeros(1, 7), torch.tensor([0.5]), torch.tensor([0]))
    metric = KittiMetric(classes=('Car',))
    with pytest.raises(FormatError, match='main camera'):
        metric.process({}, [DetSample(gt_kitti=_grid_cars(1), pred=pred)])
    with pytest.raises(FormatError, match='pred is None'):
        metric.process({}, [DetSample(gt_kitti=_grid_cars(1))])
    with pytest.raises(FormatError, match='pred_kitti'):
        metric.process({}, [{'gt_kitti': _grid_cars(1), 'pred_instances_3d': {}}])


# ------------------------------------------------------------------------------------------------
# Identical ground truth and predictions


def _grid_cars(n: int, *, seed: int = 0) -> KittiLabels:
    """N easy cars, rotated, spread on a grid, 2D boxes tall and apart."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    loc = np.stack([(i % 10) * 8.0 - 36.0, np.full(n, 1.7), 10.0 + (i // 10) * 9.0], 1)
    x1 = i * 20.0
    bbox = np.stack([x1, np.full(n, 100.0), x1 + 15.0, np.full(n, 100.0 + 50.0 + i % 7)], 1)
    return KittiLabels(name=['Car'] * n, truncated=np.zeros(n), occluded=np.zeros(n, np.int64),
                       alpha=rng.uniform(-3, 3, n), bbox=bbox, dimensions=np.tile([1.5, 1.6, 3.9], (n, 1)),
                       location=loc, rotation_y=rng.uniform(-np.pi, np.pi, n), score=np.full(n, np.nan))


def test_identical_rotated_predictions_score_100_everywhere():
    gt_frames = [_grid_cars(25, seed=s) for s in range(2)]
    pred_frames = [KittiLabels(**dict(g.as_dict(), score=np.linspace(0.95, 0.2, len(g)))) for g in gt_frames]
    result = evaluate_kitti(gt_frames, pred_frames, classes=('Car',))
    for s in ('strict', 'loose'):
        for m in ('bbox', 'bev', '3d', 'aos'):
            for kind in ('AP11', 'AP40'):
                np.testing.assert_allclose(result.ap['Car'][s][m][kind], [100, 100, 100], atol=1e-9)


def test_bev_and_3d_overlap_of_identical_rotated_boxes_is_one():
    dims = np.array([[1.5, 1.6, 3.9], [1.8, 0.6, 0.8]])
    loc = np.array([[3.0, 1.7, 20.0], [-4.0, 1.5, 9.0]])
    ry = np.array([0.7, -2.2])
    bev, iou3d = bev_3d_overlap(dims, loc, ry, dims, loc, ry)
    np.testing.assert_allclose(bev, 1.0, atol=1e-12)
    np.testing.assert_allclose(iou3d, 1.0, atol=1e-12)


def test_bev_footprint_follows_the_official_heading_convention():
    # A 4 x 1 box at ry = +30 deg against one whose long axis points along (cos ry, -sin ry) in (x, z):
    # the official corners put the length there, so a box shifted 1.5 m along that axis still overlaps.
    dims = np.array([[1.0, 1.0, 4.0]])
    ry = np.array([math.radians(30)])
    heading = np.array([math.cos(ry[0]), 0.0, -math.sin(ry[0])])
    a = np.array([[0.0, 1.0, 10.0]])
    along, across = a + 1.5 * heading, a + 1.5 * np.array([math.sin(ry[0]), 0.0, math.cos(ry[0])])
    bev_along, _ = bev_3d_overlap(dims, a, ry, dims, along, ry)
    bev_across, _ = bev_3d_overlap(dims, a, ry, dims, across, ry)
    assert bev_along[0] == pytest.approx(2.5 / 5.5, abs=1e-12)  # overlap 2.5 x 1 of two 4 x 1 boxes
    assert bev_across[0] == 0.0


# ------------------------------------------------------------------------------------------------
# A slow, loop-by-loop reference of the official algorithm (float64), for random scenes.

REF_MIN_H, REF_MAX_OCC, REF_MAX_TRUNC = (40, 25, 25), (0, 1, 2), (0.15, 0.3, 0.5)
REF_OVERLAPS = {'Car': [(0.7, 0.7, 0.7), (0.7, 0.5, 0.5)], 'Pedestrian': [(0.5, 0.5, 0.5), (0.5, 0.25, 0.25)],
                'Cyclist': [(0.5, 0.5, 0.5), (0.5, 0.25, 0.25)]}


def ref_image_overlap(a, b, over_a=False):
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    union = area_a if over_a else area_a + (b[2] - b[0]) * (b[3] - b[1]) - iw * ih
    return iw * ih / union


def ref_corners(x, z, length, width, ry):
    # The official rbbox_to_corners: local (±l/2, ±w/2) rotated by [[c, s], [-s, c]] in the (x, z) plane.
    c, s = math.cos(ry), math.sin(ry)
    hl, hw = length / 2, width / 2
    local = [(-hl, -hw), (-hl, hw), (hl, hw), (hl, -hw)]
    return [(c * px + s * py + x, -s * px + c * py + z) for px, py in local]


def ref_area(poly):
    return 0.5 * sum(poly[i][0] * poly[(i + 1) % len(poly)][1] - poly[(i + 1) % len(poly)][0] * poly[i][1]
                     for i in range(len(poly)))


def ref_clip(subject, clip):
    if ref_area(clip) < 0:
        clip = clip[::-1]
    out = list(subject)
    for k in range(len(clip)):
        (ax, ay), (bx, by) = clip[k], clip[(k + 1) % len(clip)]
        side = [(bx - ax) * (py - ay) - (by - ay) * (px - ax) for px, py in out]
        poly, out = out, []
        for i in range(len(poly)):
            j = (i + 1) % len(poly)
            if side[i] >= 0:
                out.append(poly[i])
            if (side[i] >= 0) != (side[j] >= 0):
                t = side[i] / (side[i] - side[j])
                (xi, yi), (xj, yj) = poly[i], poly[j]
                out.append((xi + t * (xj - xi), yi + t * (yj - yi)))
        if not out:
            return 0.0
    return abs(ref_area(out))


def ref_overlap(metric, d, g):
    if metric == 0:
        return ref_image_overlap(d['bbox'], g['bbox'])
    (hd, wd, ld), (hg, wg, lg) = d['dims'], g['dims']
    inter = ref_clip(ref_corners(d['loc'][0], d['loc'][2], ld, wd, d['ry']),
                     ref_corners(g['loc'][0], g['loc'][2], lg, wg, g['ry']))
    if metric == 1:
        return inter / (ld * wd + lg * wg - inter)
    iw = min(d['loc'][1], g['loc'][1]) - max(d['loc'][1] - hd, g['loc'][1] - hg)
    if inter <= 0 or iw <= 0:
        return 0.0
    return iw * inter / (ld * wd * hd + lg * wg * hg - iw * inter)


def ref_flags(gts, dts, cls, diff):
    ig_gt, ig_dt, n_valid = [], [], 0
    for g in gts:
        name = g['name'].lower()
        neighbour = (cls, name) in (('Car', 'van'), ('Pedestrian', 'person_sitting'))
        kind = 1 if name == cls.lower() else 0 if neighbour else -1
        hard = g['occ'] > REF_MAX_OCC[diff] or g['trunc'] > REF_MAX_TRUNC[diff] or \
            g['bbox'][3] - g['bbox'][1] <= REF_MIN_H[diff]
        flag = 0 if (kind == 1 and not hard) else 1 if (kind == 0 or (kind == 1 and hard)) else -1
        n_valid += flag == 0
        ig_gt.append(flag)
    for d in dts:
        if abs(d['bbox'][3] - d['bbox'][1]) < REF_MIN_H[diff]:
            ig_dt.append(1)
        else:
            ig_dt.append(0 if d['name'].lower() == cls.lower() else -1)
    return ig_gt, ig_dt, n_valid


def ref_statistics(ov, gts, dts, ig_gt, ig_dt, dcs, metric, min_ov, thresh, compute_fp):
    n_dt = len(dts)
    assigned = [False] * n_dt
    below = [compute_fp and dts[j]['score'] < thresh for j in range(n_dt)]
    tp = fp = fn = 0
    sim, scores = 0.0, []
    for i in range(len(gts)):
        if ig_gt[i] == -1:
            continue
        best, best_score, best_ov, took_ignored = -1, None, 0.0, False
        for j in range(n_dt):
            if ig_dt[j] == -1 or assigned[j] or below[j] or not ov[j][i] > min_ov:
                continue
            if not compute_fp:
                if best_score is None or dts[j]['score'] > best_score:
                    best, best_score = j, dts[j]['score']
            elif ig_dt[j] == 0 and (ov[j][i] > best_ov or took_ignored):
                best, best_ov, took_ignored = j, ov[j][i], False
            elif ig_dt[j] == 1 and best == -1:
                best, took_ignored = j, True
        if best == -1:
            fn += ig_gt[i] == 0
        elif ig_gt[i] == 1 or ig_dt[best] == 1:
            assigned[best] = True
        else:
            tp += 1
            scores.append(dts[best]['score'])
            sim += (1 + math.cos(gts[i]['alpha'] - dts[best]['alpha'])) / 2
            assigned[best] = True
    if compute_fp:
        for j in range(n_dt):
            if assigned[j] or ig_dt[j] != 0 or below[j]:
                continue
            if metric == 0 and any(ref_image_overlap(dts[j]['bbox'], dc, over_a=True) > min_ov for dc in dcs):
                continue
            fp += 1
    return tp, fp, fn, sim, scores


def ref_thresholds(scores, num_gt):
    scores = sorted(scores, reverse=True)
    out, current = [], 0.0
    for i, s in enumerate(scores):
        left = (i + 1) / num_gt
        right = (i + 2) / num_gt if i < len(scores) - 1 else left
        if (right - current) < (current - left) and i < len(scores) - 1:
            continue
        out.append(s)
        current += 1 / 40.0
    return out


def ref_evaluate(frames_gt, frames_dt, classes):
    """{class: {set: {metric: {'AP11': [..], 'AP40': [..]}}}} computed the slow way."""
    pairs = list(zip(frames_gt, frames_dt, strict=True))
    ovs = {m: [[[ref_overlap(m, d, g) for g in gts] for d in dts] for gts, dts in pairs] for m in (0, 1, 2)}
    dcs = [[g['bbox'] for g in gts if g['name'] == 'DontCare'] for gts in frames_gt]
    out = {}
    for cls in classes:
        out[cls] = {s: {m: {'AP11': [], 'AP40': []} for m in ('bbox', 'bev', '3d', 'aos')}
                    for s in ('strict', 'loose')}
        for diff in range(3):
            flags = [ref_flags(g, d, cls, diff) for g, d in zip(frames_gt, frames_dt, strict=True)]
            n_valid = sum(f[2] for f in flags)
            for s_idx, s in enumerate(('strict', 'loose')):
                for m, metric in enumerate(('bbox', 'bev', '3d')):
                    min_ov = REF_OVERLAPS[cls][s_idx][m]
                    args = [(ovs[m][k], frames_gt[k], frames_dt[k], flags[k][0], flags[k][1], dcs[k])
                            for k in range(len(frames_gt))]
                    scores = [sc for a in args for sc in ref_statistics(*a, m, min_ov, 0.0, False)[4]]
                    thresholds = ref_thresholds(scores, n_valid) if scores else []
                    prec, aos = [0.0] * 41, [0.0] * 41
                    for t, thr in enumerate(thresholds):
                        tp = fp = 0
                        sim = 0.0
                        for a in args:
                            r = ref_statistics(*a, m, min_ov, thr, True)
                            tp, fp, sim = tp + r[0], fp + r[1], sim + r[3]
                        prec[t] = tp / (tp + fp) if tp + fp else 0.0
                        aos[t] = sim / (tp + fp) if tp + fp else 0.0
                    for curve, name in ((prec, metric), (aos, 'aos')):
                        if name == 'aos' and metric != 'bbox':
                            continue
                        mono = [max(curve[i:]) for i in range(41)]
                        out[cls][s][name]['AP11'].append(sum(mono[i] for i in range(0, 41, 4)) / 11 * 100)
                        out[cls][s][name]['AP40'].append(sum(mono[1:]) / 40 * 100)
    return out


DETECTED_AS = {'Van': 'Car', 'Person_sitting': 'Pedestrian', 'Truck': 'Car', 'DontCare': 'Car'}


def _random_scene(rng: np.random.Generator, n_frames: int):
    names = ['Car', 'Car', 'Car', 'Pedestrian', 'Pedestrian', 'Cyclist', 'Van', 'Person_sitting', 'Truck',
             'DontCare']
    dims_of = {'Car': (1.5, 1.6, 3.9), 'Van': (2.2, 1.9, 5.0), 'Truck': (3.2, 2.6, 10.0),
               'Pedestrian': (1.75, 0.65, 0.85),
               'Person_sitting': (1.3, 0.55, 0.8), 'Cyclist': (1.75, 0.6, 1.75), 'DontCare': (-1, -1, -1)}
    frames_gt, frames_dt = [], []
    for _ in range(n_frames):
        gts = []
        for _ in range(rng.integers(3, 10)):
            name = str(rng.choice(names))
            z = rng.uniform(6, 30)
            x = rng.uniform(-6, 6)
            h_px = rng.uniform(20, 120)
            u = rng.uniform(100, 1100)
            gts.append(dict(name=name, trunc=float(rng.choice([0.0, 0.0, 0.1, 0.2, 0.4, 0.6])),
                            occ=int(rng.choice([0, 0, 1, 2, 3])),
                            alpha=rng.uniform(-3, 3), bbox=[u, 150.0, u + 0.6 * h_px, 150.0 + h_px],
                            dims=tuple(np.array(dims_of[name]) * rng.uniform(0.9, 1.1)), loc=(x, 1.6, z),
                            ry=rng.uniform(-3.1, 3.1)))
        dts = []
        for g in gts:
            for _ in range(rng.integers(0, 3)):
                if g['name'] == 'DontCare' and rng.random() < 0.5:
                    continue
                name = DETECTED_AS.get(g['name'], g['name'])
                if rng.random() < 0.15:
                    name = str(rng.choice(['Car', 'Pedestrian', 'Cyclist']))
                jitter = rng.normal(0, [0.15, 0.08, 0.2])
                b = np.array(g['bbox']) + rng.normal(0, 2.5, 4)
                base = np.abs(np.array(dims_of['Car' if g['name'] == 'DontCare' else g['name']]))
                dims = base * rng.uniform(0.9, 1.1, 3)
                dts.append(dict(name=name, alpha=g['alpha'] + rng.normal(0, 0.3), bbox=list(b),
                                dims=tuple(dims),
                                loc=tuple(np.array(g['loc']) + jitter), ry=g['ry'] + rng.normal(0, 0.2),
                                score=float(np.round(rng.uniform(0.05, 1.0), 1))))  # rounded: ties happen
        for _ in range(rng.integers(0, 4)):
            u, h_px = rng.uniform(100, 1100), rng.uniform(15, 80)
            dts.append(dict(name=str(rng.choice(['Car', 'Pedestrian', 'Cyclist'])), alpha=rng.uniform(-3, 3),
                            bbox=[u, 150.0, u + 0.6 * h_px, 150.0 + h_px], dims=(1.5, 1.6, 3.9),
                            loc=(rng.uniform(-6, 6), 1.6, rng.uniform(6, 30)), ry=rng.uniform(-3, 3),
                            score=float(np.round(rng.uniform(0.05, 1.0), 1))))
        frames_gt.append(gts)
        frames_dt.append(dts)
    return frames_gt, frames_dt


def _to_labels(objs, with_score):
    if not objs:
        return KittiLabels.empty()
    return KittiLabels(name=[o['name'] for o in objs], truncated=[o.get('trunc', 0.0) for o in objs],
                       occluded=[o.get('occ', 0) for o in objs], alpha=[o['alpha'] for o in objs],
                       bbox=[o['bbox'] for o in objs], dimensions=[o['dims'] for o in objs],
                       location=[o['loc'] for o in objs], rotation_y=[o['ry'] for o in objs],
                       score=[o['score'] if with_score else np.nan for o in objs])


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_matches_the_slow_reference_on_random_scenes(seed):
    rng = np.random.default_rng(seed)
    frames_gt, frames_dt = _random_scene(rng, n_frames=30)
    ref = ref_evaluate(frames_gt, frames_dt, ('Car', 'Pedestrian', 'Cyclist'))
    got = evaluate_kitti([_to_labels(g, False) for g in frames_gt], [_to_labels(d, True) for d in frames_dt],
                         classes=('Car', 'Pedestrian', 'Cyclist'))
    for cls in ref:
        for s in ('strict', 'loose'):
            for m in ('bbox', 'bev', '3d', 'aos'):
                for kind in ('AP11', 'AP40'):
                    np.testing.assert_allclose(got.ap[cls][s][m][kind], ref[cls][s][m][kind], atol=0.01,
                                               err_msg=f'{cls} {s} {m} {kind} seed {seed}')


@settings(max_examples=60, deadline=None)
@given(scores=st.lists(st.floats(0, 1, allow_nan=False), min_size=0, max_size=120), extra=st.integers(0, 80))
def test_get_thresholds_matches_the_official_loop(scores, extra):
    num_gt = len(scores) + extra
    if num_gt == 0:
        return
    np.testing.assert_array_equal(get_thresholds(np.array(scores), num_gt), ref_thresholds(scores, num_gt))


# ------------------------------------------------------------------------------------------------
# Inputs and helpers


def test_label_text_round_trip_and_errors():
    text = ('Car 0.00 0 -1.58 587.01 173.33 614.12 200.12 1.65 1.67 3.64 -0.65 1.71 46.70 -1.59\n\n'
            'DontCare -1 -1 -10 100 120 130 150 -1 -1 -1 -1000 -1000 -1000 -10\n')
    labels = parse_kitti_label(text, source='000001.txt')
    assert list(labels.name) == ['Car', 'DontCare'] and np.isnan(labels.score).all()
    np.testing.assert_allclose(labels.dimensions[0], [1.65, 1.67, 3.64])
    again = parse_kitti_label(format_kitti_label(labels, decimals=2))
    for key, value in labels.as_dict().items():
        np.testing.assert_array_equal(getattr(again, key), value) if key == 'name' else \
            np.testing.assert_allclose(getattr(again, key), value, equal_nan=True)
    with pytest.raises(FormatError, match=r'000001\.txt:4: field "width" \(column 10\)'):
        parse_kitti_label(text + 'Car 0 0 0 1 2 3 4 1.5 wide 3 0 0 10 0\n', source='000001.txt')
    with pytest.raises(FormatError, match=r'p\.txt:1: expected 16 columns'):
        parse_kitti_label('Car 0 0 0 1 2 3 4 1.5 1.6 3 0 0 10 0\n', source='p.txt', require_score=True)
    with pytest.raises(FormatError, match='"occluded"'):
        parse_kitti_label('Car 0 0.5 0 1 2 3 4 1.5 1.6 3 0 0 10 0\n')
    with pytest.raises(ShapeError, match='bbox'):
        KittiLabels(name=['Car'], truncated=[0], occluded=[0], alpha=[0], bbox=[[1, 2, 3]],
                    dimensions=[[1, 1, 1]], location=[[0, 0, 0]], rotation_y=[0], score=[1])


def test_evaluate_rejects_bad_input():
    g = _grid_cars(3)
    with pytest.raises(OmnifuseError, match='Truck'):
        evaluate_kitti([g], [g], classes=('Truck',))
    with pytest.raises(OmnifuseError, match='2 ground-truth frames'):
        evaluate_kitti([g, g], [g], classes=('Car',))
    with pytest.raises(OmnifuseError, match='score'):
        evaluate_kitti([g], [g], classes=('Car',))  # ground truth has NaN scores


def test_lidar_detections_become_camera_labels_of_the_same_box(shared_data):
    from omnifuse.structures.boxes3d import kitti_camera_to_lidar

    names, sample = _info_sample(shared_data)
    cam = sample['images']['CAM2']
    T = np.array(cam['lidar2cam'])
    gt = _gt_from_info(names, sample)
    lidar = kitti_camera_to_lidar(np.concatenate([gt.dimensions, gt.location, gt.rotation_y[:, None]], 1), T)
    det = lidar_detections_to_kitti(lidar, [0.5], ['Pedestrian'], T_cam_lidar=T, P=np.array(cam['cam2img']),
                                    image_size=(int(cam['width']), int(cam['height'])))
    np.testing.assert_allclose(det.location, gt.location, atol=1e-9)
    np.testing.assert_allclose(det.dimensions, gt.dimensions, atol=1e-9)
    assert abs(math.remainder(det.rotation_y[0] - gt.rotation_y[0], 2 * math.pi)) < 1e-9
    # The projected 2D box is close to the annotated one (annotations are drawn by hand).
    np.testing.assert_allclose(det.bbox[0], gt.bbox[0], atol=12)
    behind = lidar.copy()
    behind[:, 0] = -10.0
    assert len(lidar_detections_to_kitti(behind, [0.5], ['Car'], T_cam_lidar=T, P=np.array(cam['cam2img']),
                                         image_size=(1224, 370))) == 0


def _ring_cars(dists: np.ndarray, *, seed: int) -> KittiLabels:
    """Cars straight ahead at the given ground distances, 2D boxes tall enough to be easy."""
    rng = np.random.default_rng(seed)
    n = len(dists)
    ang = rng.uniform(-0.6, 0.6, n)
    loc = np.stack([dists * np.sin(ang), np.full(n, 1.7), dists * np.cos(ang)], 1)
    x1 = np.arange(n) * 20.0
    bbox = np.stack([x1, np.full(n, 100.0), x1 + 15.0, np.full(n, 160.0)], 1)
    return KittiLabels(name=['Car'] * n, truncated=np.zeros(n), occluded=np.zeros(n, np.int64),
                       alpha=np.zeros(n), bbox=bbox, dimensions=np.tile([1.5, 1.6, 3.9], (n, 1)),
                       location=loc, rotation_y=rng.uniform(-np.pi, np.pi, n), score=np.full(n, np.nan))


def test_distance_range_equals_evaluating_only_the_objects_in_range():
    rng = np.random.default_rng(3)
    gts, preds = [], []
    for s in range(6):
        g = _ring_cars(rng.uniform(5, 70, 12), seed=s)
        keep = rng.random(len(g)) > 0.3   # some misses
        p = g.select(keep)
        p = KittiLabels(**dict(p.as_dict(), location=p.location + rng.normal(0, 0.15, p.location.shape),
                               score=rng.uniform(0.1, 1.0, len(p))))
        gts.append(g)
        preds.append(p)
    for lo, hi in ((0, 30), (30, 50), (50, 1e9)):
        def inside(lab, lo=lo, hi=hi):
            d = np.hypot(lab.location[:, 0], lab.location[:, 2])
            return (d >= lo) & (d < hi)
        whole = evaluate_kitti(gts, preds, classes=('Car',), distance_range=(lo, hi))
        cut = evaluate_kitti([g.select(inside(g)) for g in gts], [p.select(inside(p)) for p in preds],
                             classes=('Car',))
        loose = whole.ap['Car']['loose']['3d']['AP40']
        np.testing.assert_allclose(loose, cut.ap['Car']['loose']['3d']['AP40'], atol=1e-9)
        assert 0 < loose[1] < 100
    full = evaluate_kitti(gts, preds, classes=('Car',)).ap['Car']['loose']['3d']['AP40']
    assert full[1] > 0


def test_distance_range_edge_object_is_neither_miss_nor_false_positive():
    # cars at 29.9, 20 and 40 m; the 29.9 m car is detected at 30.05 m (across the 30 m edge) with the top score
    gt = _ring_cars(np.array([29.9, 20.0, 40.0]), seed=0)
    gt = KittiLabels(**dict(gt.as_dict(), location=np.array([[0.0, 1.7, 29.9], [0.0, 1.7, 20.0], [0.0, 1.7, 40.0]])))
    pred = KittiLabels(**dict(gt.as_dict(), location=np.array([[0.0, 1.7, 30.05], [0.0, 1.7, 20.0], [0.0, 1.7, 40.0]]),
                              score=np.array([0.9, 0.8, 0.7])))
    near = evaluate_kitti([gt], [pred], classes=('Car',), distance_range=(0, 30))
    far = evaluate_kitti([gt], [pred], classes=('Car',), distance_range=(30, 50))
    # One valid car per bin, found with precision 1 -> AP|R11 = 100/11 (the protocol's single-object value).
    # Were the edge car a miss in 0-30 m, recall would be 1/2; were its detection a false positive in 30-50 m
    # (it outscores the true one), precision would be 1/2: either gives 50/11.
    assert near.ap['Car']['loose']['3d']['AP11'][0] == pytest.approx(100 / 11)
    assert far.ap['Car']['loose']['3d']['AP11'][0] == pytest.approx(100 / 11)
    # the same detection 5 m further on matches nothing: then it is a false positive of the 30-50 m bin
    stray = KittiLabels(**dict(pred.as_dict(), location=np.array([[0.0, 1.7, 35.0], [0.0, 1.7, 20.0],
                                                                  [0.0, 1.7, 40.0]])))
    assert evaluate_kitti([gt], [stray], classes=('Car',), distance_range=(30, 50)).ap['Car']['loose']['3d'][
        'AP11'][0] == pytest.approx(50 / 11)
    with pytest.raises(OmnifuseError, match='empty'):
        evaluate_kitti([gt], [pred], classes=('Car',), distance_range=(30, 30))
