"""Small synthetic SensorFrames for the ROS tests, the replay benchmark and demos (numpy only).

A flat ground with a few box-shaped objects (points sampled on their surfaces) moving slowly,
one colour camera, one thermal camera and a ring of ultrasonic sensors, all calibrated. This is
not the simulator (omnifuse/datasets/sim); it only exercises the ROS plumbing.
"""

from __future__ import annotations

import math

import numpy as np

from omnifuse.structures import Boxes3D, Calibration, CameraModel, ObjectLabels, SensorFrame, UltrasonicSensor

__all__ = ['front_camera', 'synthetic_calibration', 'synthetic_frames']

# LiDAR (x fwd, y left, z up) -> optical (x right, y down, z fwd).
_R_OPT = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def front_camera(width: int = 64, height: int = 48, *, x: float = 0.2, z: float = -0.1) -> CameraModel:
    """A forward-looking pinhole camera at (x, 0, z) in the LiDAR frame."""
    f = 0.8 * width
    P = np.array([[f, 0, width / 2, 0], [0, f, height / 2, 0], [0, 0, 1, 0]], dtype=np.float64)
    T = np.eye(4)
    T[:3, :3] = _R_OPT
    T[:3, 3] = -_R_OPT @ np.array([x, 0.0, z])
    return CameraModel(P, T, width, height)


def synthetic_calibration(*, image_size: tuple[int, int] = (64, 48), n_ultrasonic: int = 12) -> Calibration:
    """Front camera, front thermal camera, and `n_ultrasonic` sensors on a ring of radius 2 m."""
    calib = Calibration()
    calib.cameras['front'] = front_camera(*image_size)
    calib.thermal['front'] = front_camera(32, 24, x=0.25)
    for i in range(n_ultrasonic):
        yaw = 2 * math.pi * i / max(n_ultrasonic, 1) - math.pi
        calib.ultrasonic[f'us{i:02d}'] = UltrasonicSensor(2.0 * math.cos(yaw), 1.0 * math.sin(yaw), -0.5, yaw)
    return calib


def _box_surface(box: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    x, y, z, dx, dy, dz, yaw = box
    face = rng.integers(0, 5, n)  # 4 sides + roof
    u = rng.uniform(-0.5, 0.5, (n, 3)) * (dx, dy, dz)
    u[face == 0, 0] = dx / 2
    u[face == 1, 0] = -dx / 2
    u[face == 2, 1] = dy / 2
    u[face == 3, 1] = -dy / 2
    u[face == 4, 2] = dz / 2
    c, s = math.cos(yaw), math.sin(yaw)
    return np.stack([x + c * u[:, 0] - s * u[:, 1], y + s * u[:, 0] + c * u[:, 1], z + u[:, 2]], 1)


def synthetic_frames(n: int = 5, *, seed: int = 0, n_points: int = 6000, image_size: tuple[int, int] = (64, 48),
                     n_ultrasonic: int = 12, start_ns: int = 1_700_000_000_000_000_000,
                     period_ns: int = 100_000_000, camera_delay_ns: int = 5_000_000) -> list[SensorFrame]:
    """`n` frames at 1/period; each has points (x y z intensity), a camera image, a thermal image
    (uint16), ultrasonic ranges and ground-truth labels; camera/thermal stamps lag the LiDAR by
    `camera_delay_ns`."""
    rng = np.random.default_rng(seed)
    calib = synthetic_calibration(image_size=image_size, n_ultrasonic=n_ultrasonic)
    base = np.array([[12.0, 3.0, -0.95, 4.2, 1.8, 1.5, 0.3],
                     [8.0, -4.0, -0.85, 0.7, 0.6, 1.7, 0.0],
                     [20.0, -1.0, -0.95, 4.5, 1.9, 1.5, -1.2]])
    names = ['Car', 'Pedestrian', 'Car']
    frames = []
    for i in range(n):
        boxes = base.copy()
        boxes[:, 0] += 0.3 * i  # objects drift forward
        n_obj = max(n_points // 10, 50)
        ground = np.stack([rng.uniform(-30, 30, n_points), rng.uniform(-30, 30, n_points),
                           rng.normal(-1.7, 0.01, n_points)], 1)
        parts = [ground] + [_box_surface(b, n_obj, rng) for b in boxes]
        xyz = np.concatenate(parts, 0)
        pts = np.concatenate([xyz, rng.uniform(0, 1, (len(xyz), 1))], 1).astype(np.float32)
        w, h = image_size
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        thermal = rng.integers(27000, 31000, (24, 32), dtype=np.uint16)
        ranges = {name: float(rng.uniform(0.3, 4.0)) if rng.uniform() < 0.8 else math.nan
                  for name in calib.ultrasonic}
        stamp = start_ns + i * period_ns
        k = len(boxes)
        labels = ObjectLabels(Boxes3D(boxes), list(names), np.zeros(k), np.zeros(k, int), np.zeros(k),
                              np.zeros((k, 4)))
        stamps = {'lidar': stamp, 'camera/front': stamp + camera_delay_ns, 'thermal/front': stamp + camera_delay_ns}
        stamps.update({f'ultrasonic/{u}': stamp + 2_000_000 for u in ranges})
        frames.append(SensorFrame(frame_id=f'{i:06d}', stamp_ns=stamp, points=pts, images={'front': img},
                                  thermal={'front': thermal}, ultrasonic=ranges, calib=calib, stamps_ns=stamps,
                                  labels=labels))
    return frames
