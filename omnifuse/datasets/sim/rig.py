"""The simulated sensor rig: KITTI-like camera, a thermal camera beside it and 12 ultrasonic sensors.

All poses are relative to the LiDAR frame (x forward, y left, z up), the LiDAR 1.73 m above the ground.

- image_2: KITTI's colour camera 2 (P2 and R0_rect . Tr_velo_to_cam of a KITTI raw calibration),
  1242 x 375 pixels; the camera sits ~0.27 m ahead of and ~0.08 m below the LiDAR (1.65 m above ground).
- thermal: a 640 x 512 long-wave infrared camera (fx = fy = 650 px, ~52 x 43 deg field of view), 6 cm to
  the left of and 3 cm above the colour camera, turned by under a degree (panned 0.8 deg, tilted 0.3 deg,
  rolled -0.5 deg). Its calibration is written as `thermal_thermal_P/_T/_size` lines.
- ultrasonic: 6 sensors on the front bumper (x = 2.45 m) and 6 on the rear bumper (x = -1.95 m), 0.5 m
  above the ground; corners look 70 deg sideways, the middle pairs +-10 and +-35 deg; cone half-angle
  35 deg, range 0.15 - 5.5 m. Names: front_left_corner, front_left_outer, front_left_inner, ...
"""

from __future__ import annotations

import math

import numpy as np

from omnifuse.datasets.sim.world import EGO_BOX, GROUND_Z
from omnifuse.structures import Calibration, CameraModel, UltrasonicSensor
from omnifuse.structures.geometry import rotation_from_euler

__all__ = ['default_calibration', 'KITTI_P2', 'KITTI_R0_RECT', 'KITTI_TR_VELO_TO_CAM', 'IMAGE_SIZE',
           'THERMAL_SIZE', 'ultrasonic_sensors']

IMAGE_SIZE = (1242, 375)    # width, height
THERMAL_SIZE = (640, 512)
# A KITTI raw-data calibration (2011_09_26): facts about the KITTI rig.
KITTI_P2 = np.array([[721.5377, 0.0, 609.5593, 44.85728],
                     [0.0, 721.5377, 172.854, 0.2163791],
                     [0.0, 0.0, 1.0, 0.002745884]])
KITTI_R0_RECT = np.array([[0.9999239, 0.00983776, -0.007445048],
                          [-0.009869795, 0.9999421, -0.004278459],
                          [0.007402527, 0.004351614, 0.9999631]])
KITTI_TR_VELO_TO_CAM = np.array([[0.007533745, -0.9999714, -0.000616602, -0.004069766],
                                 [0.01480249, 0.0007280733, -0.9998902, -0.07631618],
                                 [0.9998621, 0.00752379, 0.01480755, -0.2717806]])


def _thermal_camera() -> CameraModel:
    T_rect_lidar = np.eye(4)
    T_rect_lidar[:3] = KITTI_R0_RECT @ KITTI_TR_VELO_TO_CAM
    T_lidar_rect = np.linalg.inv(T_rect_lidar)
    # The thermal camera frame relative to the rectified camera frame (x right, y down, z forward):
    # small rotation and a few cm offset (6 cm left = -x, 3 cm up = -y).
    # Tilt about the camera x axis, pan about its y (down) axis, roll about its z (optical) axis.
    R_off = rotation_from_euler(math.radians(0.3), math.radians(0.8), math.radians(-0.5))
    T_rect_th = np.eye(4)
    T_rect_th[:3, :3] = R_off
    T_rect_th[:3, 3] = (-0.06, -0.03, 0.01)
    T_th_lidar = np.linalg.inv(T_lidar_rect @ T_rect_th)
    K = np.array([[650.0, 0.0, 320.0, 0.0], [0.0, 650.0, 256.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    return CameraModel(K, T_th_lidar, *THERMAL_SIZE)


def ultrasonic_sensors() -> dict[str, UltrasonicSensor]:
    """The 12 bumper sensors, LiDAR frame (see the module docstring)."""
    front_x = EGO_BOX[0] + EGO_BOX[3] / 2 - 0.05
    rear_x = EGO_BOX[0] - EGO_BOX[3] / 2 + 0.05
    z = GROUND_Z + 0.5
    half = math.radians(35.0)
    layout = (('left_corner', 0.85, 70.0, 0.15), ('left_outer', 0.55, 35.0, 0.05), ('left_inner', 0.2, 10.0, 0.0),
              ('right_inner', -0.2, -10.0, 0.0), ('right_outer', -0.55, -35.0, 0.05),
              ('right_corner', -0.85, -70.0, 0.15))
    out = {}
    for end, x, base in (('front', front_x, 0.0), ('rear', rear_x, math.pi)):
        sign = 1.0 if end == 'front' else -1.0
        for name, y, yaw_deg, setback in layout:
            yaw = base + sign * math.radians(yaw_deg)
            yaw = math.remainder(yaw, 2 * math.pi)
            out[f'{end}_{name}'] = UltrasonicSensor(x - sign * setback, y, z, yaw, half, 0.15, 5.5)
    return out


def default_calibration() -> Calibration:
    """The calibration of the simulated rig (KITTI matrices kept in `calib.kitti`)."""
    T = np.eye(4)
    T[:3] = KITTI_R0_RECT @ KITTI_TR_VELO_TO_CAM
    P0 = KITTI_P2.copy()
    P0[:, 3] = 0.0
    P1 = P0.copy()
    P1[0, 3] = -387.5744  # KITTI's grey right camera, 0.54 m baseline
    P3 = P0.copy()
    P3[:, 3] = (-339.5242, 2.199936, 0.002729905)
    calib = Calibration(kitti={'P0': P0, 'P1': P1, 'P2': KITTI_P2.copy(), 'P3': P3, 'R0_rect': KITTI_R0_RECT.copy(),
                               'Tr_velo_to_cam': KITTI_TR_VELO_TO_CAM.copy()})
    calib.cameras['image_2'] = CameraModel(KITTI_P2, T, *IMAGE_SIZE)
    calib.thermal['thermal'] = _thermal_camera()
    calib.ultrasonic.update(ultrasonic_sensors())
    return calib
