"""Rotation helpers: exp/log round trips (including near pi) and quaternions."""

import math

import numpy as np
import pytest

from vlm2vla_policy.robot import matrix_to_quaternion_xyzw
from vlm2vla_policy.robot.transforms import euler_xyz_to_matrix, so3_exp, so3_log


@pytest.mark.parametrize("angle", [0.0, 1e-12, 0.3, 2.0, math.pi - 1e-6, math.pi])
def test_log_inverts_exp(angle):
    axis = np.array([1.0, -2.0, 0.5]) / np.linalg.norm([1.0, -2.0, 0.5])
    rotation = so3_exp(axis * angle)
    assert np.allclose(so3_exp(so3_log(rotation)), rotation, atol=1e-9)
    assert np.linalg.norm(so3_log(rotation)) == pytest.approx(angle, abs=1e-9)


def test_euler_is_roll_then_pitch_then_yaw_about_fixed_axes():
    roll, pitch, yaw = 0.1, -0.2, 0.3
    expected = (
        so3_exp(np.array([0, 0, yaw]))
        @ so3_exp(np.array([0, pitch, 0]))
        @ so3_exp(np.array([roll, 0, 0]))
    )
    assert np.allclose(euler_xyz_to_matrix(roll, pitch, yaw), expected)


def test_quaternion_of_a_half_turn_about_z():
    x, y, z, w = matrix_to_quaternion_xyzw(so3_exp(np.array([0.0, 0.0, math.pi])))
    assert np.allclose([abs(x), abs(y), abs(z), w], [0.0, 0.0, 1.0, 0.0], atol=1e-9)
