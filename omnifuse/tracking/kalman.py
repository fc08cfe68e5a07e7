"""The Kalman filter of one track: constant velocity in x, y, z; yaw and size as slow random walks.

State (10,): x, y, z [m], yaw [rad], dx, dy, dz [m], vx, vy, vz [m/s], in the tracking frame (the world frame
when the tracker has the ego pose, the LiDAR frame otherwise). Measurement (7,): a box (x, y, z, dx, dy, dz,
yaw) reordered to (x, y, z, yaw, dx, dy, dz). Every model is linear, so the plain Kalman equations are exact.

Process noise for a step of dt seconds (per axis, the discretised white-noise acceleration model):
    position/velocity block  q_a^2 * [[dt^3/3, dt^2/2], [dt^2/2, dt]]
    yaw                      q_yaw^2 * dt
    each size                q_size^2 * dt
"""

from __future__ import annotations

import numpy as np

from omnifuse.structures.geometry import wrap_angle
from omnifuse.tracking.config import ClassParams

__all__ = ['BoxKalman', 'box_to_measurement', 'state_to_box']

_H = np.zeros((7, 10))
_H[np.arange(7), np.arange(7)] = 1.0


def box_to_measurement(box: np.ndarray) -> np.ndarray:
    """(7,) box (x, y, z, dx, dy, dz, yaw) -> (7,) measurement (x, y, z, yaw, dx, dy, dz)."""
    return np.array([box[0], box[1], box[2], box[6], box[3], box[4], box[5]], dtype=np.float64)


def state_to_box(x: np.ndarray) -> np.ndarray:
    """(10,) state -> (7,) box (x, y, z, dx, dy, dz, yaw)."""
    return np.array([x[0], x[1], x[2], x[4], x[5], x[6], x[3]], dtype=np.float64)


class BoxKalman:
    """Kalman filter of one box track (see the module docstring)."""

    def __init__(self, box: np.ndarray, params: ClassParams) -> None:
        self.params = params
        self.x = np.zeros(10)
        self.x[:7] = box_to_measurement(np.asarray(box, np.float64))
        self.x[3] = float(wrap_angle(self.x[3]))
        self.R = np.diag(np.r_[np.full(3, params.meas_pos_std ** 2), params.meas_yaw_std ** 2,
                               np.full(3, params.meas_size_std ** 2)])
        self.P = np.zeros((10, 10))
        self.P[:7, :7] = self.R
        self.P[7:, 7:] = np.eye(3) * params.init_vel_std ** 2
        self.P[9, 9] = min(params.init_vel_std, 1.0) ** 2  # objects on the ground rarely move vertically

    def predict(self, dt: float) -> None:
        """Move the state dt seconds ahead (dt >= 0)."""
        if dt <= 0:
            return
        p = self.params
        F = np.eye(10)
        F[0, 7] = F[1, 8] = F[2, 9] = dt
        Q = np.zeros((10, 10))
        for axis, q in ((0, p.accel_std), (1, p.accel_std), (2, p.accel_z_std)):
            v = axis + 7
            q2 = q * q
            Q[axis, axis] = q2 * dt ** 3 / 3
            Q[axis, v] = Q[v, axis] = q2 * dt ** 2 / 2
            Q[v, v] = q2 * dt
        Q[3, 3] = p.yaw_rate_std ** 2 * dt
        Q[4, 4] = Q[5, 5] = Q[6, 6] = p.size_rate_std ** 2 * dt
        self.x = F @ self.x
        self.x[3] = float(wrap_angle(self.x[3]))
        self.P = F @ self.P @ F.T + Q

    def update(self, box: np.ndarray) -> bool:
        """Correct with a detected box (x, y, z, dx, dy, dz, yaw).

        A detection facing the other way (yaw off by more than 90 degrees) is turned around first: detectors
        confuse front and back, and a box turned by pi is the same box.

        Returns:
            Whether the detection was turned around.
        """
        z = box_to_measurement(np.asarray(box, np.float64))
        diff = float(wrap_angle(z[3] - self.x[3]))
        flipped = abs(diff) > np.pi / 2
        if flipped:
            diff = float(wrap_angle(diff + np.pi))
        z[3] = self.x[3] + diff  # innovation without the 2 pi jump
        S = self.P[:7, :7] + self.R
        K = np.linalg.solve(S, self.P[:7, :]).T  # (10, 7) = P H^T S^-1 (S and P symmetric)
        self.x = self.x + K @ (z - self.x[:7])
        self.x[3] = float(wrap_angle(self.x[3]))
        I_KH = np.eye(10) - K @ _H
        self.P = I_KH @ self.P @ I_KH.T + K @ self.R @ K.T  # Joseph form: stays symmetric positive definite
        speed = float(np.linalg.norm(self.x[7:10]))
        if speed > self.params.max_speed:
            self.x[7:10] *= self.params.max_speed / speed
        self.x[4:7] = np.maximum(self.x[4:7], 1e-3)
        return flipped

    @property
    def box(self) -> np.ndarray:
        """(7,) the current box (x, y, z, dx, dy, dz, yaw)."""
        return state_to_box(self.x)

    @property
    def velocity(self) -> np.ndarray:
        """(3,) the current velocity [m/s]."""
        return self.x[7:10].copy()
