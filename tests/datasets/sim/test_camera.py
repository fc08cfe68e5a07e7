"""Camera and thermal renders: masks agree with the boxes' projections; KITTI fields come from the render."""

from __future__ import annotations

import numpy as np
import pytest

from omnifuse.datasets.sim import classes as C
from omnifuse.datasets.sim.camera import render_camera
from omnifuse.datasets.sim.generate import generate_frame
from omnifuse.datasets.sim.labels import kitti_labels
from omnifuse.datasets.sim.rig import default_calibration
from omnifuse.datasets.sim.thermal import KELVIN_SCALE, render_thermal, thermal_to_8bit, thermal_to_kelvin
from omnifuse.datasets.sim.world import EGO_LANE_Y, GROUND_Z, make_scene, scene_from_boxes
from omnifuse.structures import Boxes3D

CALIB = default_calibration()


@pytest.fixture(scope='module')
def frame():
    return generate_frame(8, condition='night')


def _mask_inside_projection(instance_map: np.ndarray, boxes, camera, k: int) -> float:
    proj = boxes[np.array([k])].project_to_image(camera)[0]
    rows, cols = np.nonzero(instance_map == k)
    inside = (cols >= proj[0] - 1) & (cols <= proj[2] + 1) & (rows >= proj[1] - 1) & (rows <= proj[3] + 1)
    return float(inside.mean()) if len(rows) else 1.0


@pytest.mark.parametrize('sensor', ['image_2', 'thermal'])
def test_thing_pixels_lie_inside_their_projected_boxes(sensor):
    boxes = np.array([[12.0, EGO_LANE_Y + 3.5, GROUND_Z + 0.76, 4.2, 1.7, 1.52, 0.3],
                      [9.0, EGO_LANE_Y - 3.0, GROUND_Z + 0.88, 0.7, 0.6, 1.76, 1.0],
                      [20.0, EGO_LANE_Y - 1.0, GROUND_Z + 0.87, 1.8, 0.6, 1.74, -2.5]])
    snap = scene_from_boxes(boxes, ['Car', 'Pedestrian', 'Cyclist']).at(0.0)
    camera = CALIB.cameras['image_2'] if sensor == 'image_2' else CALIB.thermal['thermal']
    render = (render_camera if sensor == 'image_2' else render_thermal)(snap, camera, np.random.default_rng(0))
    part = render.hits.part
    instance = np.where(part >= 0, snap.parts.obj[np.maximum(part, 0)], -1)
    b3 = Boxes3D(snap.boxes)
    for k, name in enumerate(snap.names):
        pix = instance == k
        assert pix.sum() > 200, (sensor, name)
        # The semantic mask says the same class as the box on its pixels.
        assert np.all(render.semantic[pix] == C.THING_TO_ID[name])
        assert _mask_inside_projection(instance, b3, camera, k) == 1.0
        # ... and fills a good part of the projected rectangle (boxes are drawn as few parts).
        proj = b3[np.array([k])].project_to_image(camera)[0]
        area = (proj[2] - proj[0] + 1) * (proj[3] - proj[1] + 1)
        assert pix.sum() > 0.3 * area
    # Pixels with a thing class are exactly the things' pixels.
    things = np.isin(render.semantic, list(C.THING_TO_ID.values()))
    assert np.array_equal(things, instance >= 0)


def test_camera_and_thermal_masks_agree_after_reprojection(frame):
    """A thing pixel of the thermal mask, lifted with its depth and projected into image_2, lands on the same
    class there (up to the few pixels where the parallax uncovers other things)."""
    assert frame.meta['condition'] == 'night'
    cam, th = frame.calib.cameras['image_2'], frame.calib.thermal['thermal']
    snap = make_scene(8, condition='night').at(0.0)
    t_render = render_thermal(snap, th, np.random.default_rng(0))
    rows, cols = np.nonzero(np.isin(t_render.semantic, list(C.THING_TO_ID.values())))
    depth = t_render.hits.t[rows, cols]
    xyz = th.lift(np.stack([cols, rows], 1).astype(float), depth)
    uv, d = cam.project(xyz)
    ok = cam.in_image(uv, d)
    ui, vi = np.round(uv[ok]).astype(int).T
    vi, ui = np.clip(vi, 0, cam.height - 1), np.clip(ui, 0, cam.width - 1)
    same = frame.semantic_2[vi, ui] == t_render.semantic[rows[ok], cols[ok]]
    assert ok.sum() > 1000
    assert same.mean() > 0.9


def test_occlusion_and_truncation_come_from_the_render():
    # A car hidden behind a van, a car half out of the image on the right, a car in full view.
    boxes = np.array([[14.0, EGO_LANE_Y, GROUND_Z + 1.1, 5.0, 2.0, 2.2, 0.0],      # van in front
                      [24.0, EGO_LANE_Y + 1.2, GROUND_Z + 0.75, 4.0, 1.7, 1.5, 0.0],  # car mostly behind the van
                      [8.0, EGO_LANE_Y - 7.0, GROUND_Z + 0.75, 4.0, 1.7, 1.5, 0.0],  # car at the right edge
                      [30.0, EGO_LANE_Y + 3.5, GROUND_Z + 0.75, 4.0, 1.7, 1.5, 0.0]])
    snap = scene_from_boxes(boxes, ['Van', 'Car', 'Car', 'Car']).at(0.0)
    cam = CALIB.cameras['image_2']
    r = render_camera(snap, cam, np.random.default_rng(0))
    labels = kitti_labels(snap, cam, r.hits.part, r.hits.object_pixels, r.hits.object_bbox, CALIB.T_rect_lidar)
    assert labels.occluded[0] == 0 and labels.truncated[0] < 0.01
    assert labels.occluded[1] >= 1  # partly or largely hidden
    assert labels.occluded[3] == 0 and labels.truncated[3] < 0.01
    assert 0.2 < labels.truncated[2] < 0.95
    # The 2D box is amodal: the tight box of the pixels the car covers when rendered alone.
    alone = scene_from_boxes(boxes[3:4], ['Car']).at(0.0)
    r_alone = render_camera(alone, cam, np.random.default_rng(0))
    rows, cols = np.nonzero(r_alone.hits.part >= 0)
    assert np.allclose(labels.bbox_2d[3], (cols.min(), rows.min(), cols.max(), rows.max()))
    instance = np.where(r.hits.part >= 0, snap.parts.obj[np.maximum(r.hits.part, 0)], -1)
    rows, cols = np.nonzero(instance == 1)  # the hidden car's visible pixels lie inside its 2D box
    assert len(rows) > 0 and cols.min() >= labels.bbox_2d[1, 0] and cols.max() <= labels.bbox_2d[1, 2]
    # alpha = ry - atan2(x, z) in the rectified camera frame.
    cam_boxes = labels.boxes.to_kitti_camera(CALIB.T_rect_lidar)
    expected = np.arctan2(np.sin(cam_boxes[:, 6] - np.arctan2(cam_boxes[:, 3], cam_boxes[:, 5])),
                          np.cos(cam_boxes[:, 6] - np.arctan2(cam_boxes[:, 3], cam_boxes[:, 5])))
    assert np.allclose(np.cos(labels.alpha - expected), 1.0)


def test_conditions_change_light_not_labels():
    day = generate_frame(2, condition='day')
    night = generate_frame(2, condition='night')
    assert night.images['image_2'].mean() < 0.6 * day.images['image_2'].mean()
    assert np.array_equal(day.semantic_2, night.semantic_2)
    assert day.labels.names == night.labels.names
    # Thermal is independent of light: people stay warm at night; the sky is cold.
    k = thermal_to_kelvin(night.thermal['thermal'])
    assert k[night.semantic_thermal == C.SKY].mean() < 260
    people = np.isin(night.semantic_thermal, (C.PEDESTRIAN, C.CYCLIST))
    if people.sum() > 50:
        assert np.median(k[people]) > np.median(k[night.semantic_thermal == C.ROAD]) + 5
    assert night.thermal['thermal'].dtype == np.uint16 and night.thermal['thermal'].shape == (512, 640)
    assert abs(KELVIN_SCALE - 100.0) < 1e-9
    eight = thermal_to_8bit(night.thermal['thermal'])
    assert eight.dtype == np.uint8 and eight.max() == 255 and eight.min() == 0


def test_frame_streams_have_the_contract_shapes(frame):
    assert frame.images['image_2'].shape == (375, 1242, 3) and frame.images['image_2'].dtype == np.uint8
    assert frame.semantic_2.shape == (375, 1242) and frame.semantic_thermal.shape == (512, 640)
    assert frame.occupancy.shape == (200, 200) and frame.occupancy.dtype == np.uint8
    assert len(frame.ultrasonic) == 12 and len(frame.calib.ultrasonic) == 12
    assert set(frame.meta) >= {'condition', 'sequence', 'seed', 'faults'}
    names = set(frame.labels.names)
    assert names <= set(C.THING_CLASSES) | {'DontCare'}
    n_cars = frame.labels.names.count('Car') + frame.labels.names.count('DontCare')
    assert 5 <= n_cars <= 18
