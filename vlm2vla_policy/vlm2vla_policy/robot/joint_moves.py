"""Slow joint-space moves (start, home and sleep poses), one waypoint per control period.

Used outside chunk execution, e.g. to bring the arm to a start pose before an episode. The path is
a straight line in joint space, paced so no joint exceeds ``speed_rad_s``.
"""

import math

import numpy as np

from vlm2vla_policy.robot.bridge_state import GRIPPER_DOWN
from vlm2vla_policy.robot.description import WX250S, RobotDescription
from vlm2vla_policy.robot.kinematics import ArmKinematics, IKConfig, IKResult


def joint_path(
    start_rad: np.ndarray, goal_rad: np.ndarray, speed_rad_s: float, period_s: float
) -> list[np.ndarray]:
    """Waypoints (rad) from ``start`` to ``goal``, one per period, the last equal to ``goal``."""
    if speed_rad_s <= 0 or period_s <= 0:
        raise ValueError("speed_rad_s and period_s must be > 0")
    start = np.asarray(start_rad, dtype=float)
    goal = np.asarray(goal_rad, dtype=float)
    largest = float(np.max(np.abs(goal - start))) if start.size else 0.0
    periods = max(1, math.ceil(largest / (speed_rad_s * period_s)))
    return [start + (goal - start) * (i / periods) for i in range(1, periods + 1)]


def gripper_down_pose(position_m: tuple[float, float, float]) -> np.ndarray:
    """EE pose (4x4, base frame) at ``position_m`` with the gripper pointing straight down."""
    pose = np.eye(4)
    pose[:3, :3] = GRIPPER_DOWN
    pose[:3, 3] = position_m
    return pose


def solve_start_pose(
    position_m: tuple[float, float, float],
    seed_rad: np.ndarray,
    robot: RobotDescription = WX250S,
) -> IKResult:
    """Joints (rad) that put the EE at ``position_m`` (base frame, m), gripper down."""
    return ArmKinematics(robot).ik(gripper_down_pose(position_m), seed_rad, IKConfig())
