"""Input normalisation at inference: make a real scan look like the simulator's before detection.

The shipped detectors were trained on simulated scans whose ground is a perfect plane, horizontal, exactly
`SIM_SENSOR_HEIGHT` below the LiDAR. A real LiDAR is tilted against its road (KITTI sequence 0000: pitch
+0.6 deg, roll -0.5 deg, measured by `omnifuse gap`), which puts the ground 0.3-0.4 m off at 30-40 m and
turns it into obstacles. `InputAdapter(align_ground=True)` fits the ground plane of each scan, rotates and
shifts the points so that it becomes horizontal at -`sensor_height`, and `boxes_to_sensor` maps the
detected boxes back into the sensor's own frame. `intensity_scale` multiplies the intensity (clipped to
[0, 1]), e.g. to bring KITTI's reflectance (median 0.28) to the simulator's (0.09).

A model asks for it in its config (`input_adapter = dict(align_ground=True, sensor_height=1.73)`, see
`InputAdapter.from_config`; the shipped sim-trained 64-beam detectors do), and every inference path applies
it alike: `apis.detection.Detector` (omnifuse detect, bench, the ROS core and replay) and the exported
detector's runtime (`deploy.detector_runtime`, which reads the same setting from the exported file).
`omnifuse detect --align-ground [HEIGHT] / --no-align-ground / --intensity-scale S` override the model's choice.
`omnifuse test` scores a dataset as it is (the simulator's ground is level already).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from omnifuse.datasets.config_settings import settings_from_config
from omnifuse.datasets.domain_gap import fit_ground_plane
from omnifuse.errors import FormatError
from omnifuse.structures.calibration import Calibration, CameraModel
from omnifuse.structures.frame import SensorFrame
from omnifuse.structures.geometry import wrap_angle

__all__ = ['InputAdapter', 'SIM_SENSOR_HEIGHT', 'ground_alignment']

SIM_SENSOR_HEIGHT = 1.73  # the simulator's LiDAR height above its ground (datasets/sim/world.py LIDAR_HEIGHT)


def ground_alignment(points: np.ndarray, *, sensor_height: float = SIM_SENSOR_HEIGHT, seed: int = 0,
                     max_tilt_deg: float = 5.0, max_shift: float = 0.5, every: int = 4, max_points: int = 8000,
                     iterations: int = 100) -> np.ndarray:
    """(4, 4) rigid transform taking the scan's fitted ground plane to z = -sensor_height. The rotation is the
    smallest one turning the plane's normal to +z (no yaw).

    Identity when no plane is found, or when the plane is not a plausible ground for this mounting: tilted by more
    than `max_tilt_deg` or more than `max_shift` metres from -sensor_height under the sensor (levelling corrects a
    mount's small tilt; moving a roof or a wall to the road would invent a scene).

    The plane is fitted on every `every`-th point (a thinning that keeps the scan's layout), at most `max_points`
    ground candidates and `iterations` RANSAC draws: ~8 ms a KITTI scan instead of ~34 ms for the gap tool's full
    fit, the planes within 0.05 deg of it (median over seq0000's scans; RANSAC's own spread is ~0.3 deg)."""
    xyz = np.asarray(points)[::max(1, every), :3].astype(np.float64)
    fit = fit_ground_plane(xyz, np.random.default_rng(seed), max_points=max_points, iterations=iterations)
    T = np.eye(4)
    if fit is None:
        return T
    a, b, c = fit[0]
    if math.degrees(math.atan(math.hypot(a, b))) > max_tilt_deg or abs(c + sensor_height) > max_shift:
        return T
    n = np.array([-a, -b, 1.0]) / math.sqrt(1.0 + a * a + b * b)
    v = np.cross(n, [0.0, 0.0, 1.0])
    s, cz = float(np.linalg.norm(v)), float(n[2])
    if s > 1e-12:
        K = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
        T[:3, :3] = np.eye(3) + K + K @ K * ((1.0 - cz) / (s * s))
    # after the rotation the plane is z = c * cos(tilt) = c * n_z
    T[2, 3] = -sensor_height - c * cz
    return T


@dataclass(frozen=True)
class InputAdapter:
    """Input normalisation of a scan for a sim-trained detector (see the module doc).

    Attributes:
        align_ground: level the scan on its fitted ground plane at -sensor_height.
        sensor_height: the training data's LiDAR height above the ground [m].
        intensity_scale: multiply the intensity column by this (None: unchanged); clipped to [0, 1].
    """

    align_ground: bool = False
    sensor_height: float = SIM_SENSOR_HEIGHT
    intensity_scale: float | None = None

    @classmethod
    def from_config(cls, settings: Mapping[str, Any] | None, *, source: str = 'config') -> InputAdapter:
        """The adapter a model's config asks for (`input_adapter = dict(...)`; None or absent: none).

        Raises:
            FormatError naming `source` and the key: an unknown key.
        """
        return settings_from_config(cls, settings, key='input_adapter', source=source)

    def as_dict(self) -> dict[str, Any]:
        """The settings as a JSON-able dict (what `from_config` reads back)."""
        return dataclasses.asdict(self)

    @property
    def active(self) -> bool:
        """Whether the adapter changes anything."""
        return self.align_ground or self.intensity_scale is not None

    def __call__(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, C) points -> (adapted (N, C) float32 points, the (4, 4) transform applied to x y z)."""
        pts = np.array(points, dtype=np.float32, copy=True)
        T = ground_alignment(pts, sensor_height=self.sensor_height) if self.align_ground else np.eye(4)
        if self.align_ground and not np.array_equal(T, np.eye(4)):
            # float32 (sub-millimetre within 80 m), written out per column: a matrix product would go to numpy's
            # multi-threaded BLAS, whose spinning threads then slow the detector's graphs
            R, t = T[:3, :3].astype(np.float32), T[:3, 3].astype(np.float32)
            x, y, z = pts[:, 0].copy(), pts[:, 1].copy(), pts[:, 2].copy()
            for i in range(3):
                pts[:, i] = x * R[i, 0] + y * R[i, 1] + z * R[i, 2] + t[i]
        if self.intensity_scale is not None and pts.shape[1] > 3:
            pts[:, 3] = np.clip(pts[:, 3] * self.intensity_scale, 0.0, 1.0)
        return pts, T

    def adapt_frame(self, frame: SensorFrame) -> tuple[SensorFrame, np.ndarray]:
        """The frame with adapted points, every camera (colour and thermal) following them
        (T_cam_lidar' = T_cam_lidar · T^-1, so a moved point still projects onto its pixel), and the (4, 4) T.
        The frame itself is not changed."""
        if frame.points is None:
            raise FormatError(f'frame {frame.frame_id}: no LiDAR points to adapt')
        points, T = self(frame.points)
        calib = frame.calib
        if calib is not None and not np.allclose(T, np.eye(4)):
            T_inv = np.linalg.inv(T)

            def follow(cams: Mapping[str, CameraModel]) -> dict[str, CameraModel]:
                return {n: dataclasses.replace(c, T_cam_lidar=c.T_cam_lidar @ T_inv) for n, c in cams.items()}

            calib = Calibration(cameras=follow(calib.cameras), thermal=follow(calib.thermal),
                                ultrasonic=dict(calib.ultrasonic), kitti=dict(calib.kitti))
        return dataclasses.replace(frame, points=points, calib=calib), T

    @staticmethod
    def boxes_to_sensor(boxes: np.ndarray, T: np.ndarray) -> np.ndarray:
        """(K, 7) boxes found in the adapted frame -> the sensor's frame (centre by T^-1, yaw of the rotated
        heading; the box stays upright, a tilt of < 1 deg is not represented)."""
        b = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, 7)
        if len(b) == 0 or np.allclose(T, np.eye(4)):
            return b
        R, t = T[:3, :3], T[:3, 3]
        b[:, :3] = (b[:, :3] - t) @ R  # R^T (x - t), row vectors
        heading = np.stack([np.cos(b[:, 6]), np.sin(b[:, 6]), np.zeros(len(b))], 1) @ R
        b[:, 6] = wrap_angle(np.arctan2(heading[:, 1], heading[:, 0]))
        return b
