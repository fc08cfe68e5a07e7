"""`omnifuse gap`: real KITTI scans against a tiny simulated set; the estimators on scans with known answers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from omnifuse.cli import main
from omnifuse.datasets.domain_gap import (
    PROFILE_MIN_POINTS,
    fit_ground_plane,
    height_profile,
    ray_drop,
    rings_from_elevation,
    rings_from_scan_order,
)


@pytest.fixture(scope='module')
def sim_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two simulated street frames at a 0.36 deg azimuth step (fast; the real KITTI step is 0.18)."""
    out = tmp_path_factory.mktemp('gap') / 'sim'
    assert main(['sim', '--out', str(out), '--frames', '2', '--seed', '3', '--azimuth-step', '0.36']) == 0
    return out


@pytest.fixture(scope='module')
def gap_run(shared_data: Path, sim_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, str]:
    out = tmp_path_factory.mktemp('gap_out')
    real = shared_data / 'kitti_real' / 'seq0000_val'
    args = ['gap', '--real', str(real), '--sim', str(sim_root), '--max-frames', '3',
            '--png', str(out / 'gap.png'), '--json', str(out / 'gap.json')]
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(args) == 0
    return json.loads((out / 'gap.json').read_text()), out / 'gap.png', buf.getvalue()


def test_density_rings_and_intensity(gap_run: tuple[dict, Path, str]) -> None:
    summary, _, table = gap_run
    real, sim = summary['real'], summary['sim']
    assert real['frames'] == 3 and sim['frames'] == 2
    # KITTI's HDL-64E: ~123k returns, 0.18 deg between neighbouring returns of a ring, 64 rings from the scan
    # order (KITTI's rings start straight ahead, the simulator's at -180 deg: both must be found)
    assert 110_000 < real['points_per_frame_median'] < 135_000
    assert real['azimuth_step_deg'] == pytest.approx(0.18, abs=0.005)
    assert sim['azimuth_step_deg'] == pytest.approx(0.36, abs=0.005)
    assert real['rings'] == 64 and sim['rings'] == 64
    assert real['ring_source'] == sim['ring_source'] == 'scan order'
    # the simulator's rings are ideal cones, the real ones are blurred by per-laser offsets and motion
    assert sim['ring_elevation_spread_deg'] < 0.01 < 0.1 < real['ring_elevation_spread_deg']
    # KITTI reflectance is 0..1 with a median ~0.28; the simulator's road is much darker
    assert real['intensity']['max'] <= 1.0 and sim['intensity']['max'] <= 1.0
    assert real['intensity']['median'] > 2 * sim['intensity']['median']
    assert real['intensity']['zero_fraction'] > 0.05 > sim['intensity']['zero_fraction']
    assert 'azimuth step [deg]' in table and 'ray drop rate' in table


def test_ground_drop_and_objects(gap_run: tuple[dict, Path, str]) -> None:
    real, sim = gap_run[0]['real'], gap_run[0]['sim']
    # the simulator's ground is the plane z = -1.73 exactly; KITTI's LiDAR is 1.73 m up too, but tilted
    assert sim['ground']['sensor_height_median'] == pytest.approx(1.73, abs=0.01)
    assert abs(sim['ground']['pitch_deg_median']) < 0.05
    assert 1.65 < real['ground']['sensor_height_median'] < 1.85
    assert real['ground']['pitch_deg_median'] > 0.3
    assert real['ground']['roughness_median'] > 3 * sim['ground']['roughness_median']
    # the simulator drops 5 % of its returns at random (+ half of those hitting glass)
    assert 0.035 < sim['ray_drop_rate_overall'] < 0.09
    assert real['ray_drop_rate_overall'] < sim['ray_drop_rate_overall']
    # real labels of KITTI tracking sequence 0000: vans and one cyclist in view; the simulator labels cars
    assert {'Van', 'Cyclist'} <= set(real['objects'])
    assert 'Car' in sim['objects'] and 'Car' not in real['objects']
    van = real['objects']['Van']
    assert van['size_lwh_mean'][0] > 4.0 and abs(van['bottom_above_ground_median']) < 0.25
    assert sum(b['count'] for b in van['points_median_by_range'].values()) == van['count']
    # where a van's points sit: every tenth of its height counted, the glass upper part returning little
    profile = np.array(van['point_height_profile'])
    assert van['point_height_profile_objects'] > 0 and profile.sum() == pytest.approx(1.0, abs=1e-3)
    assert profile[-3:].sum() < profile[3:6].sum()
    assert real['clutter_points_per_frame_median'] > 0


def test_picture(gap_run: tuple[dict, Path, str]) -> None:
    import cv2

    img = cv2.imread(str(gap_run[1]))
    assert img is not None and img.shape[0] > 800 and img.shape[1] > 1200
    # both datasets' colours are drawn (blue = real, red = sim; BGR here)
    blue = ((img[..., 0] > 150) & (img[..., 2] < 80)).sum()
    red = ((img[..., 2] > 180) & (img[..., 0] < 80) & (img[..., 1] < 80)).sum()
    assert blue > 500 and red > 500


def test_errors_name_the_file(tmp_path: Path, sim_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / 'nowhere'
    assert main(['gap', '--real', str(missing), '--sim', str(sim_root)]) == 2
    assert str(missing) in capsys.readouterr().err
    bad = tmp_path / 'bad' / 'training'
    (bad / 'velodyne').mkdir(parents=True)
    (bad / 'velodyne' / '000000.bin').write_bytes(b'\0' * 10)
    assert main(['gap', '--real', str(bad.parent), '--sim', str(sim_root)]) == 2
    err = capsys.readouterr().err
    assert '000000.bin' in err and 'multiple of 16' in err


def _ring_scan(n_rings: int = 8, step: float = 0.2, drop: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rings on a cylinder of radius 15 m, stored ring by ring, `drop` of the rays missing at random."""
    rng = np.random.default_rng(seed)
    az = np.radians(np.arange(-180.0 + step / 2, 180.0, step))
    pts, ring = [], []
    for r in range(n_rings):
        keep = rng.random(len(az)) >= drop
        a = az[keep]
        elev = math.radians(-2.0 - r * 0.5)
        pts.append(np.stack([15 * np.cos(a), 15 * np.sin(a), np.full(len(a), 15 * math.tan(elev))], 1))
        ring.append(np.full(len(a), r))
    return np.concatenate(pts), np.concatenate(ring)


def test_estimators_on_known_scans() -> None:
    pts, ring = _ring_scan()
    found = rings_from_scan_order(pts)
    assert found is not None and np.array_equal(found, ring)
    shuffled = np.random.default_rng(1).permutation(len(pts))
    assert rings_from_scan_order(pts[shuffled]) is None
    by_elev = rings_from_elevation(pts[shuffled])
    assert np.array_equal(by_elev, ring[shuffled])
    missing, returned = ray_drop(pts, ring, 0.2)
    assert missing.sum() / (missing.sum() + returned.sum()) == pytest.approx(0.1, abs=0.02)
    # a plane tilted 1 deg up ahead, 1.6 m below the sensor, with 2 cm noise
    rng = np.random.default_rng(2)
    xy = rng.uniform([-40, -40], [40, 40], (20000, 2))
    z = math.tan(math.radians(1.0)) * xy[:, 0] - 1.6 + rng.normal(0, 0.02, len(xy))
    (a, b, c), rough = fit_ground_plane(np.c_[xy, z], np.random.default_rng(0))
    assert math.degrees(math.atan(a)) == pytest.approx(1.0, abs=0.05)
    assert c == pytest.approx(-1.6, abs=0.01) and abs(b) < 0.002
    assert rough == pytest.approx(0.02, abs=0.005)


def test_ground_fit_survives_degenerate_draws() -> None:
    """Points on 12 spots only (a triple of repeated x, y is singular), plus the plane's spread: the RANSAC
    skips the singular triples, as the one-by-one loop it replaced did, and still finds the plane."""
    rng = np.random.default_rng(4)
    spots = rng.uniform([5, -20], [30, 20], (12, 2))
    xy = spots[rng.integers(0, 12, 3000)]
    z = 0.01 * xy[:, 0] - 1.7
    (a, b, c), _ = fit_ground_plane(np.c_[xy, z], np.random.default_rng(0), iterations=60)
    assert a == pytest.approx(0.01, abs=1e-6) and abs(b) < 1e-6 and c == pytest.approx(-1.7, abs=1e-5)
    assert fit_ground_plane(np.c_[np.full((300, 2), 10.0), np.full(300, -1.7)], np.random.default_rng(0)) is None


def test_height_profile_counts_tenths_of_the_box() -> None:
    box = np.array([10.0, 2.0, -0.7, 4.0, 1.8, 2.0, 0.3])  # bottom at -1.7, top at 0.3
    z = np.array([-1.65] * 30 + [0.25] * 10)  # 30 in the bottom tenth, 10 in the top tenth
    prof = height_profile(z, box)
    assert prof[0] == pytest.approx(0.75) and prof[-1] == pytest.approx(0.25) and prof[1:-1].sum() == 0
    assert np.isnan(height_profile(z[:PROFILE_MIN_POINTS - 1], box)).all()
