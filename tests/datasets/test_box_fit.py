"""Box fitting at inference (omnifuse.datasets.box_fit): a detected box grows over the points of its object, not
over its neighbours', and `omnifuse detect` applies it as the model's config says or as told."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omnifuse.cli import main
from omnifuse.datasets.box_fit import BoxFit, _group_grow, _percentile, fit_boxes_to_points
from omnifuse.errors import FormatError
from omnifuse.structures.boxes3d import kitti_camera_to_lidar
from omnifuse.structures.geometry import box_iou_3d
from omnifuse.structures.kitti_labels import read_kitti_label

GROUND = -1.73
CAR_FIT = BoxFit(classes=('Car',))


def _surface(x0: float, x1: float, y0: float, y1: float, z0: float, z1: float, step: float = 0.05) -> np.ndarray:
    """Points on the two faces of an axis-aligned block seen from the origin's side: its -x face and -y face."""
    ys, zs = np.arange(y0, y1 + 1e-9, step), np.arange(z0, z1 + 1e-9, step)
    xs = np.arange(x0, x1 + 1e-9, step)
    front = np.stack(np.meshgrid([x0], ys, zs), -1).reshape(-1, 3)
    side = np.stack(np.meshgrid(xs, [y0], zs), -1).reshape(-1, 3)
    return np.concatenate([front, side])


def _ground(x0: float, x1: float, y0: float, y1: float, step: float = 0.2) -> np.ndarray:
    g = np.stack(np.meshgrid(np.arange(x0, x1, step), np.arange(y0, y1, step)), -1).reshape(-1, 2)
    return np.c_[g, np.full(len(g), GROUND)]


def _scan(*parts: np.ndarray) -> np.ndarray:
    pts = np.concatenate(parts)
    return np.c_[pts, np.full(len(pts), 0.3)].astype(np.float32)


# a van 5.0 long, 1.9 wide, 2.1 high standing on the ground, its near corner at (15, 3)
VAN = (15.0, 20.0, 3.0, 4.9, GROUND, GROUND + 2.1)
VAN_BOX = np.array([17.5, 3.95, GROUND + 1.05, 5.0, 1.9, 2.1, 0.0])


def test_a_short_low_box_grows_to_its_van() -> None:
    other = _surface(15.0, 20.0, -8.0, -6.1, GROUND, GROUND + 2.1)  # the same van 10 m to the right
    points = _scan(_surface(*VAN), other, _ground(10, 25, -10, 9))
    detected = np.array([[17.0, 3.85, GROUND + 0.9, 4.0, 1.7, 1.6, 0.0],      # a car-sized box on the van
                         [17.0, -7.05, GROUND + 0.9, 4.0, 1.7, 1.6, 0.0]])    # the same on the other, not chosen
    fitted = fit_boxes_to_points(detected, points, np.array([True, False]), CAR_FIT)
    assert fitted is not detected and np.array_equal(detected[1], fitted[1])
    # the visible faces (near end, near side, top) reach the points; the far ones move out as far as points go
    x0, x1 = fitted[0, 0] - fitted[0, 3] / 2, fitted[0, 0] + fitted[0, 3] / 2
    y0 = fitted[0, 1] - fitted[0, 4] / 2
    assert x0 == pytest.approx(15.0, abs=0.01) and x1 == pytest.approx(20.0, abs=0.01)
    assert y0 == pytest.approx(3.0, abs=0.01)
    assert fitted[0, 2] + fitted[0, 5] / 2 == pytest.approx(GROUND + 2.1, abs=0.01)
    assert fitted[0, 2] - fitted[0, 5] / 2 == pytest.approx(GROUND, abs=0.01)
    assert fitted[0, 6] == detected[0, 6]
    assert box_iou_3d(fitted[:1], VAN_BOX[None])[0, 0] > 0.85 > box_iou_3d(detected[:1], VAN_BOX[None])[0, 0]


def test_a_box_never_shrinks_and_stays_within_its_limits() -> None:
    points = _scan(_surface(*VAN), _ground(10, 25, -2, 9))
    big = np.array([[17.5, 3.95, GROUND + 1.2, 6.0, 2.2, 2.4, 0.0]])  # already larger than the van
    fitted = fit_boxes_to_points(big, points, np.array([True]), CAR_FIT)
    assert np.all(fitted[0, 3:6] >= big[0, 3:6] - 1e-9)
    # a wall of points running on without gaps: the face moves out by at most grow_length, and not beyond the
    # margin searched
    wall = _scan(_surface(10.0, 30.0, 3.0, 3.1, GROUND, GROUND + 2.0), _ground(5, 35, -2, 9))
    box = np.array([[20.0, 3.8, GROUND + 0.8, 4.0, 1.7, 1.6, 0.0]])
    grown = fit_boxes_to_points(box, wall, np.array([True]), CAR_FIT)
    assert grown[0, 3] == pytest.approx(4.0 + 2 * min(CAR_FIT.grow_length, CAR_FIT.margin), abs=0.06)
    short = fit_boxes_to_points(box, wall, np.array([True]), BoxFit(('Car',), grow_length=0.5))
    assert short[0, 3] == pytest.approx(5.0, abs=0.06)
    tight = BoxFit(classes=('Car',), max_size=(5.0, 2.3, 2.6))
    capped = fit_boxes_to_points(box, wall, np.array([True]), tight)
    assert capped[0, 3] == 5.0 and capped[0, 0] == box[0, 0]  # capped: the detected centre along the heading


def test_neighbours_are_not_absorbed() -> None:
    # a second van 0.8 m behind the first (a gap wider than `gap`) and a detected cyclist touching its side
    behind = _surface(20.8, 25.0, 3.0, 4.9, GROUND, GROUND + 2.1)
    cyclist = _surface(16.0, 17.7, 2.3, 2.95, GROUND, GROUND + 1.7)
    points = _scan(_surface(*VAN), behind, cyclist, _ground(10, 30, -2, 9))
    boxes = np.array([[17.0, 3.85, GROUND + 0.9, 4.0, 1.7, 1.6, 0.0],
                      [16.85, 2.6, GROUND + 0.85, 1.7, 0.65, 1.7, 0.0]])
    fitted = fit_boxes_to_points(boxes, points, np.array([True, False]), CAR_FIT)
    assert fitted[0, 0] + fitted[0, 3] / 2 == pytest.approx(20.0, abs=0.01)   # stops at the gap
    assert fitted[0, 1] - fitted[0, 4] / 2 == pytest.approx(3.0, abs=0.01)    # the cyclist's points not taken
    # without the cyclist's box its points 0.05 m from the van's side are the van's (up to grow_width)
    alone = fit_boxes_to_points(boxes[:1], points, np.array([True]), CAR_FIT)
    assert alone[0, 1] - alone[0, 4] / 2 < 2.8


def test_too_few_points_or_nothing_chosen_leave_the_boxes() -> None:
    box = np.array([[17.0, 3.85, GROUND + 0.9, 4.0, 1.7, 1.6, 0.0]])
    sparse = _scan(_surface(*VAN, step=0.7), _ground(10, 25, -2, 9))
    assert np.array_equal(fit_boxes_to_points(box, sparse, np.array([True]), BoxFit(('Car',), min_points=500)), box)
    assert np.array_equal(fit_boxes_to_points(box, np.zeros((0, 4), np.float32), np.array([True]), CAR_FIT), box)
    assert np.array_equal(fit_boxes_to_points(box, sparse, np.array([False]), CAR_FIT), box)
    assert fit_boxes_to_points(np.zeros((0, 7)), sparse, np.zeros(0, bool), CAR_FIT).shape == (0, 7)
    # by class name: only the chosen classes move
    dense = _scan(_surface(*VAN), _ground(10, 25, -2, 9))
    elsewhere = box + [0.0, -10.0, 0, 0, 0, 0, 0]
    both = np.concatenate([box, elsewhere])
    moved = CAR_FIT(both, np.array([0, 1]), ['Car', 'Pedestrian'], dense)
    assert not np.array_equal(moved[0], box[0]) and np.array_equal(moved[1], elsewhere[0])
    moved = CAR_FIT(both, np.array([1, 0]), ['Car', 'Pedestrian'], dense)
    assert np.array_equal(moved[0], box[0])  # a pedestrian's box on the van stays


def test_a_tall_box_seen_only_in_part_gets_a_vans_length_away_from_the_sensor() -> None:
    # only the first 3 m of a 2.1 m high van have points (its far end hidden); a 1.5 m car the same way
    van = _scan(_surface(15.0, 18.0, 3.0, 4.9, GROUND, GROUND + 2.1), _ground(10, 25, -2, 9))
    box = np.array([[16.5, 3.95, GROUND + 0.9, 3.0, 1.9, 1.8, 0.0]])
    fitted = fit_boxes_to_points(box, van, np.array([True]), CAR_FIT)
    assert fitted[0, 3] == CAR_FIT.long_length and fitted[0, 0] - fitted[0, 3] / 2 == pytest.approx(15.0, abs=0.01)
    turned = box.copy()
    turned[0, 6] = np.pi  # the same box heading towards the sensor: still lengthened at the far end
    assert fit_boxes_to_points(turned, van, np.array([True]), CAR_FIT)[0, 0] == pytest.approx(fitted[0, 0])
    off = fit_boxes_to_points(box, van, np.array([True]), BoxFit(('Car',), long_length=0.0))
    assert off[0, 3] == pytest.approx(3.0, abs=0.01)
    car = _scan(_surface(15.0, 18.0, 3.0, 4.6, GROUND, GROUND + 1.5), _ground(10, 25, -2, 9))
    low = np.array([[16.5, 3.8, GROUND + 0.7, 3.0, 1.6, 1.4, 0.0]])
    assert fit_boxes_to_points(low, car, np.array([True]), CAR_FIT)[0, 3] == pytest.approx(3.0, abs=0.01)


def test_a_non_finite_box_is_left_and_blocks_nothing() -> None:
    """A box with NaN or inf values (an overflowing reduced-precision graph) stays as it is; the others fit as
    without it."""
    points = _scan(_surface(*VAN), _ground(10, 25, -10, 9))
    van = np.array([17.0, 3.85, GROUND + 0.9, 4.0, 1.7, 1.6, 0.0])  # a car-sized box on the van
    bad = np.array([[np.nan, 3.85, -0.9, 4.0, 1.8, 1.5, 0.0], [17.0, 3.0, np.inf, 4.0, 1.8, 1.5, 0.0]])
    alone = fit_boxes_to_points(van[None], points, np.array([True]), CAR_FIT)
    both = fit_boxes_to_points(np.concatenate([van[None], bad]), points, np.ones(3, bool), CAR_FIT)
    np.testing.assert_array_equal(both[0], alone[0])
    assert not np.array_equal(alone[0], van)  # the van box did grow
    np.testing.assert_array_equal(both[1:], bad)


def test_percentile_is_numpys() -> None:
    """The box fitting's ground height is numpy's percentile to the bit (the same arithmetic, without its
    per-call overhead)."""
    rng = np.random.default_rng(3)
    for n in [1, 2, 5, 9, 10, 11, 37, 200, 1001]:
        values = rng.normal(-1.6, 0.3, n)
        for q in (10, 50, 90, 95):
            assert _percentile(values, q) == float(np.percentile(values, q)), (n, q)


def test_faces_of_all_boxes_grow_as_one_by_one() -> None:
    """All faces grown at once (`_group_grow`) stop where growing each face alone over its sorted values stops:
    at the last value before a gap wider than `gap` or beyond `limit`, the edge itself when the first value is."""
    def alone(values: np.ndarray, edge: float, gap: float, limit: float) -> float:
        reached = edge
        for value in np.sort(values[values > edge]):
            if value - reached > gap or value - edge > limit:
                break
            reached = value
        return reached

    rng = np.random.default_rng(4)
    groups = 60
    edge = rng.uniform(0.5, 2.5, groups)
    limit = rng.uniform(0.3, 1.2, groups)
    sizes = rng.integers(0, 40, groups)
    sizes[:3] = 0  # empty groups keep their edge
    parts = [np.sort(rng.uniform(e - 1.0, e + 1.5, k) * rng.choice([1.0, 1.0, 1.3], k))
             for e, k in zip(edge, sizes, strict=True)]
    values, group = np.concatenate(parts), np.repeat(np.arange(groups), sizes)
    got = _group_grow(values, group, edge, 0.15, limit)
    want = [alone(v, e, 0.15, m) for v, e, m in zip(parts, edge, limit, strict=True)]
    np.testing.assert_array_equal(got, want)
    assert (got[:3] == edge[:3]).all() and (got > edge).sum() > groups // 2  # most groups moved


def test_box_fit_from_config() -> None:
    assert BoxFit.from_config(None) == BoxFit() and not BoxFit().active
    fit = BoxFit.from_config({'classes': ['Car', 'Cyclist'], 'gap': 0.3})
    assert fit.active and fit.classes == ('Car', 'Cyclist') and fit.gap == 0.3
    assert BoxFit.from_config(fit.as_dict()) == fit
    with pytest.raises(FormatError, match=r"det\.onnx: box_fit has unknown key\(s\) \['grow'\]"):
        BoxFit.from_config({'grow': 1.0}, source='det.onnx')
    with pytest.raises(FormatError, match='max_size'):
        BoxFit(max_size=(1.0, 2.0))


def _van_iou(out: Path, labels: Path, frame: str, T: np.ndarray) -> float:
    """Best 3D IoU of a Car detection with the nearest labelled van of `frame`."""
    g, p = read_kitti_label(labels / f'{frame}.txt'), read_kitti_label(out / f'{frame}.txt', require_score=True)
    van = g.name == 'Van'
    gt = kitti_camera_to_lidar(np.c_[g.dimensions[van], g.location[van], g.rotation_y[van]], T)
    car = p.name == 'Car'
    pred = kitti_camera_to_lidar(np.c_[p.dimensions[car], p.location[car], p.rotation_y[car]], T)
    near = gt[np.argmin(np.hypot(*gt[:, :2].T))]
    return float(box_iou_3d(pred, near[None]).max())


def test_detect_fits_the_real_vans(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The shipped LiDAR-only model fits its Car boxes by default: the near van of a real scan gets a box closer
    to its label than the model's own (a van read as a car-sized box); --no-fit-boxes reports the model's."""
    from omnifuse.datasets.kitti import KittiReader

    root = shared_data / 'kitti_real' / 'seq0000_val'
    ckpt = Path(__file__).resolve().parents[2] / 'omnifuse' / 'checkpoints' / 'fast_lidar_sim.pth'
    base = ['detect', '--kitti-root', str(root), '--frame', '000010', '--checkpoint', str(ckpt)]
    for name, extra in (('fit', []), ('nofit', ['--no-fit-boxes']), ('named', ['--fit-boxes', 'Car'])):
        assert main([*base, '--out', str(tmp_path / name), *extra]) == 0
    T = KittiReader(root, require_labels=False).read('000010').calib.cameras['image_2'].T_cam_lidar
    labels = root / 'training' / 'label_2'
    fitted, model = _van_iou(tmp_path / 'fit', labels, '000010', T), _van_iou(tmp_path / 'nofit', labels, '000010', T)
    assert fitted > 0.7 > model, (fitted, model)
    assert (tmp_path / 'fit' / '000010.txt').read_text() == (tmp_path / 'named' / '000010.txt').read_text()
    capsys.readouterr()
    assert main([*base, '--out', str(tmp_path / 'bad'), '--fit-boxes', 'Truck']) != 0
    assert "--fit-boxes 'Truck': not classes of this model ['Truck']" in capsys.readouterr().err
    assert main([*base, '--out', str(tmp_path / 'none'), '--fit-boxes', ',']) != 0
    assert "--fit-boxes ',': names no class; it detects Car, Pedestrian, Cyclist" in capsys.readouterr().err
