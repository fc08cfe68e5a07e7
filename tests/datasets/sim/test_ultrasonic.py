"""Ultrasonic readings equal the geometric nearest distance inside each cone, within the noise."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from omnifuse.datasets.sim.rig import ultrasonic_sensors
from omnifuse.datasets.sim.ultrasonic import BAND_ABOVE, BAND_BELOW, RANGE_NOISE, nearest_echo, render_ultrasonic
from omnifuse.datasets.sim.world import EGO_LANE_Y, GROUND_Z, scene_from_boxes
from omnifuse.structures.geometry import bev_corners

SENSORS = ultrasonic_sensors()


def _brute_force(sensor, boxes: np.ndarray) -> float:
    """Nearest sampled footprint point (boundary and interior) inside the cone and the height band."""
    best = math.inf
    for box in boxes:
        z0, z1 = box[2] - box[5] / 2, box[2] + box[5] / 2
        if z1 < sensor.z - BAND_BELOW or z0 > sensor.z + BAND_ABOVE:
            continue
        u, v = np.meshgrid(np.linspace(-0.5, 0.5, 161), np.linspace(-0.5, 0.5, 161))
        c, s = math.cos(box[6]), math.sin(box[6])
        lx, ly = u.ravel() * box[3], v.ravel() * box[4]
        x = box[0] + c * lx - s * ly - sensor.x
        y = box[1] + s * lx + c * ly - sensor.y
        ang = np.abs(np.remainder(np.arctan2(y, x) - sensor.yaw + math.pi, 2 * math.pi) - math.pi)
        inside = ang <= sensor.half_angle
        if inside.any():
            best = min(best, float(np.hypot(x, y)[inside].min()))
    if best > sensor.max_range:
        return math.nan
    return max(best, sensor.min_range)


@settings(max_examples=40, deadline=None)
@given(x=st.floats(-7.0, 7.0), y=st.floats(-4.0, 4.0), yaw=st.floats(-math.pi, math.pi),
       length=st.floats(0.3, 4.5), width=st.floats(0.2, 2.0), z_bottom=st.floats(-1.73, 0.5))
def test_nearest_echo_matches_brute_force_sampling(x, y, yaw, length, width, z_bottom):
    box = np.array([[x, y, z_bottom + 0.75, length, width, 1.5, yaw]])
    corners = bev_corners(box)[0]
    # Skip boxes that overlap the ego body itself (sensors would be inside them).
    if np.any((np.abs(corners[:, 0] - 0.25) < 2.4) & (np.abs(corners[:, 1]) < 1.0)) or \
            (abs(x - 0.25) < 2.3 + length / 2 and abs(y) < 0.9 + width / 2):
        return
    exact = nearest_echo(SENSORS, box)
    checked = 0
    for name, sensor in SENSORS.items():
        brute = _brute_force(sensor, box)
        if math.isnan(brute):
            # Sampling can only over-estimate: the exact value may still find an echo at the range limit.
            assert math.isnan(exact[name]) or exact[name] > sensor.max_range - 0.05
        else:
            step = max(length, width) / 160 * 1.5
            assert not math.isnan(exact[name]), name
            assert exact[name] <= brute + 1e-9 and brute - exact[name] < step + 1e-6, (name, exact[name], brute)
            checked += 1
    # A box straight ahead of the front bumper (x = 2.45 m) and within range is heard.
    if 2.6 < x - length / 2 < 7.0 and abs(y) < 0.5 and z_bottom < -1.0:
        assert checked > 0


def test_readings_are_the_nearest_object_within_the_noise():
    # A car 1.5 m ahead of the front bumper, a pedestrian behind-left, nothing on the right.
    boxes = np.array([[2.45 + 1.5 + 2.0, EGO_LANE_Y, GROUND_Z + 0.75, 4.0, 1.7, 1.5, 0.0],
                      [-4.0, EGO_LANE_Y + 2.0, GROUND_Z + 0.88, 0.6, 0.6, 1.76, 0.3]])
    snap = scene_from_boxes(boxes, ['Car', 'Pedestrian']).at(0.0)
    exact = nearest_echo(SENSORS, snap.parts.boxes)
    assert abs(exact['front_left_inner'] - 1.5) < 0.06  # the inner sensors face the car's rear face
    assert abs(exact['front_right_inner'] - 1.5) < 0.06
    assert math.isnan(exact['rear_right_corner'])
    assert not math.isnan(exact['rear_left_outer']) or not math.isnan(exact['rear_left_corner'])
    errors = []
    for seed in range(30):
        readings = render_ultrasonic(SENSORS, snap.parts.boxes, np.random.default_rng(seed))
        for name, value in readings.items():
            if math.isnan(exact[name]):
                assert math.isnan(value), name  # no object, no echo
            elif not math.isnan(value):  # (NaN here is a dropout)
                errors.append(value - exact[name])
    errors = np.array(errors)
    assert np.abs(errors).max() < 5 * RANGE_NOISE
    assert 0.5 * RANGE_NOISE < errors.std() < 2 * RANGE_NOISE


def test_sensors_sit_on_the_bumpers():
    assert len(SENSORS) == 12
    front = [s for n, s in SENSORS.items() if n.startswith('front')]
    rear = [s for n, s in SENSORS.items() if n.startswith('rear')]
    assert len(front) == len(rear) == 6
    assert all(s.x > 2.0 and abs(s.yaw) < math.radians(80) for s in front)
    assert all(s.x < -1.5 and abs(s.yaw) > math.radians(100) for s in rear)
    assert all(abs(s.z - (GROUND_Z + 0.5)) < 1e-9 for s in SENSORS.values())
