"""The WidowX 250 6DOF (``wx250s``) as data: screw axes, home pose, limits, named poses.

Product-of-exponentials description in the space frame ``wx250s/base_link`` with the end effector
``ee_gripper_link`` (docs/facts.md §3). Lengths in metres, angles in radians.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class RobotDescription:
    """An open-chain arm described by product of exponentials, plus its limits and named poses."""

    name: str  # robot model and ROS namespace, e.g. "wx250s"
    base_frame: str  # space frame of every pose, e.g. "wx250s/base_link"
    ee_frame: str  # frame whose pose the kinematics computes, e.g. "ee_gripper_link"
    joint_names: tuple[str, ...]  # arm joints in chain order (the driver's "arm" group order)
    screw_axes: tuple[tuple[float, ...], ...]  # per joint (wx, wy, wz, vx, vy, vz), space frame, m
    home_position_m: tuple[float, float, float]  # EE position at all-zero joints, base frame, m
    lower_limits_rad: tuple[float, ...]  # per joint lower position limit, rad
    upper_limits_rad: tuple[float, ...]  # per joint upper position limit, rad
    velocity_limits_rad_s: tuple[float, ...]  # per joint speed limit, rad/s
    sleep_joints_rad: tuple[float, ...]  # the driver's sleep pose, rad
    finger_joint_name: str  # joint_states entry of the measured finger position, m
    finger_open_m: float  # finger position when fully open, m
    finger_closed_m: float  # finger position when fully closed, m

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        per_joint = {
            "screw_axes": self.screw_axes,
            "lower_limits_rad": self.lower_limits_rad,
            "upper_limits_rad": self.upper_limits_rad,
            "velocity_limits_rad_s": self.velocity_limits_rad_s,
            "sleep_joints_rad": self.sleep_joints_rad,
        }
        for field_name, values in per_joint.items():
            if len(values) != n:
                raise ValueError(
                    f"RobotDescription.{field_name} has {len(values)} entries but there are "
                    f"{n} joints {self.joint_names}; give one entry per joint."
                )
        for axis in self.screw_axes:
            if len(axis) != 6 or not math.isclose(math.hypot(*axis[:3]), 1.0, abs_tol=1e-9):
                raise ValueError(
                    f"screw axis {axis} is not (wx, wy, wz, vx, vy, vz) with a unit w; only "
                    "revolute joints are supported."
                )
        if any(
            lo >= hi for lo, hi in zip(self.lower_limits_rad, self.upper_limits_rad, strict=True)
        ):
            raise ValueError("every lower joint limit must be below its upper limit")

    @property
    def num_joints(self) -> int:
        """Number of arm joints."""
        return len(self.joint_names)

    @cached_property
    def screw_matrix(self) -> np.ndarray:
        """Screw axes as a (6, n) array, one column per joint (the ``Slist`` of modern_robotics)."""
        return np.array(self.screw_axes, dtype=float).T

    @cached_property
    def home_pose(self) -> np.ndarray:
        """EE pose at all-zero joints (``M``): identity rotation, ``home_position_m``."""
        pose = np.eye(4)
        pose[:3, 3] = self.home_position_m
        return pose

    @cached_property
    def lower_limits(self) -> np.ndarray:
        """Lower joint limits as an array, rad."""
        return np.array(self.lower_limits_rad, dtype=float)

    @cached_property
    def upper_limits(self) -> np.ndarray:
        """Upper joint limits as an array, rad."""
        return np.array(self.upper_limits_rad, dtype=float)

    def arm_positions(self, names: Sequence[str], positions: Sequence[float]) -> np.ndarray | None:
        """Arm joint positions (rad, chain order) picked by name from a joint_states message.

        Returns None when a joint is missing, so a partial message never reads as a full state,
        and when there are not as many positions as names: which belongs to which is unknown.
        """
        index = {name: i for i, name in enumerate(names)}
        if any(name not in index for name in self.joint_names) or len(positions) != len(names):
            return None
        return np.array([positions[index[name]] for name in self.joint_names], dtype=float)

    def finger_position_m(self, names: Sequence[str], positions: Sequence[float]) -> float | None:
        """Return the measured finger position (m) in a joint_states message, None if absent.

        None too when there are not as many positions as names (a malformed message: which
        position is the finger's is unknown).
        """
        if len(positions) != len(names):
            return None
        for name, position in zip(names, positions, strict=True):
            if name == self.finger_joint_name:
                return float(position)
        return None


# The wx250s as published by Interbotix (docs/facts.md §3).
WX250S = RobotDescription(
    name="wx250s",
    base_frame="wx250s/base_link",
    ee_frame="ee_gripper_link",
    joint_names=("waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate"),
    screw_axes=(
        (0.0, 0.0, 1.0, 0.0, 0.0, 0.0),
        (0.0, 1.0, 0.0, -0.11065, 0.0, 0.0),
        (0.0, 1.0, 0.0, -0.36065, 0.0, 0.04975),
        (1.0, 0.0, 0.0, 0.0, 0.36065, 0.0),
        (0.0, 1.0, 0.0, -0.36065, 0.0, 0.29975),
        (1.0, 0.0, 0.0, 0.0, 0.36065, 0.0),
    ),
    home_position_m=(0.458325, 0.0, 0.36065),
    lower_limits_rad=(-math.pi, -1.8850, -2.1468, -math.pi, -1.7453, -math.pi),
    upper_limits_rad=(math.pi, 1.9897, 1.6057, math.pi, 2.1468, math.pi),
    velocity_limits_rad_s=(math.pi,) * 6,
    sleep_joints_rad=(0.0, -1.80, 1.55, 0.0, 0.8, 0.0),
    finger_joint_name="left_finger",
    finger_open_m=0.037,
    finger_closed_m=0.015,
)

# Bridge's neutral arm pose (gripper down above the table), rad, in WX250S.joint_names order:
# bridge_data_robot's NEUTRAL_JOINT_STATE (widowx_controller.py), where its reset moves the arm.
BRIDGE_NEUTRAL_JOINTS_RAD = (-0.1319, -0.7624, 0.4449, -0.0199, 1.7564, -0.1595)

# Where a Bridge evaluation episode starts: from the neutral pose, the EE moves to this position
# (base frame, m) with the gripper straight down (Octo's and bridge_data_robot's WidowX evaluation
# scripts: initial_eep = [0.3, 0.0, 0.15], no rotation; docs/facts.md §3). A start move solves
# it seeded with BRIDGE_NEUTRAL_JOINTS_RAD, so it lands on the same IK branch as Bridge's.
BRIDGE_START_POSITION_M = (0.3, 0.0, 0.15)
