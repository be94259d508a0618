"""Rotation and rigid-transform helpers (radians, right-handed frames, 4x4 homogeneous poses).

A pose is a 4x4 float array ``T`` whose upper-left 3x3 block is a rotation matrix and whose last
column holds the position in metres; ``T`` maps coordinates in the moving frame to the fixed frame.
"""

from __future__ import annotations

import math

import numpy as np

# Below this rotation angle (rad) the log map uses its small-angle form.
_SMALL_ANGLE_RAD = 1e-9


def skew(v: np.ndarray) -> np.ndarray:
    """Return the 3x3 skew-symmetric matrix ``[v]`` with ``[v] @ u == cross(v, u)``."""
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


def so3_exp(rotvec: np.ndarray) -> np.ndarray:
    """Rotation matrix of a rotation vector (axis times angle in rad), by Rodrigues' formula."""
    rotvec = np.asarray(rotvec, dtype=float)
    angle = float(np.linalg.norm(rotvec))
    if angle < _SMALL_ANGLE_RAD:
        return np.eye(3) + skew(rotvec)
    k = skew(rotvec / angle)
    return np.eye(3) + math.sin(angle) * k + (1.0 - math.cos(angle)) * (k @ k)


def so3_log(rotation: np.ndarray) -> np.ndarray:
    """Rotation vector (axis times angle, rad, angle in [0, pi]) of a rotation matrix."""
    r = rotation
    cos_angle = min(1.0, max(-1.0, (r[0, 0] + r[1, 1] + r[2, 2] - 1.0) / 2.0))
    axis_sin = 0.5 * np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    sin_angle = float(np.linalg.norm(axis_sin))
    angle = math.atan2(sin_angle, cos_angle)
    if sin_angle < _SMALL_ANGLE_RAD and cos_angle > 0.0:
        return axis_sin
    if cos_angle > -0.5:
        return axis_sin * (angle / sin_angle)
    # Near pi the antisymmetric part vanishes: read the axis from the symmetric part instead.
    sym = (r + r.T) / 2.0 - cos_angle * np.eye(3)
    column = int(np.argmax(np.diag(sym)))
    axis = sym[:, column] / math.sqrt(max(sym[column, column], _SMALL_ANGLE_RAD))
    if float(axis @ axis_sin) < 0.0:
        axis = -axis
    return axis / np.linalg.norm(axis) * angle


def euler_xyz_to_matrix(roll_rad: float, pitch_rad: float, yaw_rad: float) -> np.ndarray:
    """Rotation ``Rz(yaw) @ Ry(pitch) @ Rx(roll)``: roll, then pitch, then yaw about fixed axes."""
    cr, sr = math.cos(roll_rad), math.sin(roll_rad)
    cp, sp = math.cos(pitch_rad), math.sin(pitch_rad)
    cy, sy = math.cos(yaw_rad), math.sin(yaw_rad)
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )


def matrix_to_quaternion_xyzw(rotation: np.ndarray) -> tuple[float, float, float, float]:
    """Convert to a unit quaternion ``(x, y, z, w)``, ``w >= 0`` (geometry_msgs order)."""
    rotvec = so3_log(rotation)
    angle = float(np.linalg.norm(rotvec))
    if angle < _SMALL_ANGLE_RAD:
        return (0.0, 0.0, 0.0, 1.0)
    x, y, z = rotvec / angle * math.sin(angle / 2.0)
    return (float(x), float(y), float(z), math.cos(angle / 2.0))


def pose_error(current: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Distance between two poses: (position error in m, rotation angle between them in rad)."""
    position_m = float(np.linalg.norm(target[:3, 3] - current[:3, 3]))
    angle_rad = float(np.linalg.norm(so3_log(target[:3, :3] @ current[:3, :3].T)))
    return position_m, angle_rad
