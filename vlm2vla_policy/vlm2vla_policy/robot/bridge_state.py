"""Bridge's end-effector state convention, and that state from joint states (docs/facts.md §2).

The hook :data:`JointStateToEE` turns one ``sensor_msgs/JointState`` (names and positions) into a
Bridge-layout state ``[x, y, z, roll, pitch, yaw, gripper]``: position of ``ee_gripper_link`` in
``wx250s/base_link`` (m), orientation as roll/pitch/yaw (rad) relative to the gripper pointing
straight down (Bridge's reference; ``R = Rz(yaw) Ry(pitch) Rx(roll) R_down``), gripper the measured
finger opening normalised to [0, 1] (1 = open).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from vlm2vla_policy.robot.description import WX250S, RobotDescription
from vlm2vla_policy.robot.kinematics import ArmKinematics

JointStateToEE = Callable[[Sequence[str], Sequence[float]], "np.ndarray | None"]
"""(joint names, positions) -> (7,) EE state, or None when a needed joint is missing."""

GRIPPER_DOWN = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
"""EE orientation (base frame) with the gripper pointing straight down: the home EE frame
(pointing along +x) pitched by +90 deg; Bridge's roll/pitch/yaw are relative to it."""


def rpy_from_matrix(rotation: np.ndarray) -> tuple[float, float, float]:
    """(roll, pitch, yaw) in rad with ``rotation = Rz(yaw) @ Ry(pitch) @ Rx(roll)``."""
    pitch = math.asin(max(-1.0, min(1.0, -float(rotation[2, 0]))))
    roll = math.atan2(float(rotation[2, 1]), float(rotation[2, 2]))
    yaw = math.atan2(float(rotation[1, 0]), float(rotation[0, 0]))
    return roll, pitch, yaw


def bridge_rpy(rotation: np.ndarray) -> tuple[float, float, float]:
    """Bridge's (roll, pitch, yaw) in rad of an EE orientation (base frame), as in its state.

    Relative to :data:`GRIPPER_DOWN`: ``rotation = Rz(yaw) Ry(pitch) Rx(roll) GRIPPER_DOWN``.
    """
    return rpy_from_matrix(rotation @ GRIPPER_DOWN.T)


class KinematicEEState:
    """A :data:`JointStateToEE` for one arm description (the wx250s by default)."""

    def __init__(self, robot: RobotDescription = WX250S) -> None:
        self.robot = robot
        self.kinematics = ArmKinematics(robot)

    def __call__(self, names: Sequence[str], positions: Sequence[float]) -> np.ndarray | None:
        """EE state (m, rad, base frame; gripper in [0, 1]) or None if a joint is missing."""
        joints = self.robot.arm_positions(names, positions)
        finger_m = self.robot.finger_position_m(names, positions)
        if joints is None or finger_m is None:
            return None
        pose = self.kinematics.fk(joints)
        roll, pitch, yaw = bridge_rpy(pose[:3, :3])
        span = self.robot.finger_open_m - self.robot.finger_closed_m
        gripper = min(1.0, max(0.0, (finger_m - self.robot.finger_closed_m) / span))
        return np.array([*pose[:3, 3], roll, pitch, yaw, gripper])
