"""Slow joint-space moves (start, home and sleep poses), closed loop, one waypoint per period.

Used outside chunk execution, e.g. to bring the arm to a start pose before an episode. The path is
a straight line in joint space from the measured joints, paced so no joint exceeds
``speed_rad_s``. :class:`PoseMove` runs it against the measurement, with the checks a chunk's
commands pass (:class:`~vlm2vla_policy.robot.safety.SafetyLimits`): a move starts only on a fresh
joint state; each waypoint is sent only when a joint state has come since the previous one
(otherwise the move holds that period), the measurement is fresh and the waypoint is within the
position limits and reachable from the measured joints within the speed limits; after the last
waypoint the move succeeds once every joint is within ``tolerance_rad`` of the pose, and fails
when that takes longer than ``settle_s``. Any failed check ends the move at once, with no further
command, and says why. Times are any clock in seconds, passed in by the caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vlm2vla_policy.robot.bridge_state import GRIPPER_DOWN
from vlm2vla_policy.robot.description import WX250S, RobotDescription
from vlm2vla_policy.robot.kinematics import ArmKinematics, IKConfig, IKResult
from vlm2vla_policy.robot.safety import SafetyLimits
from vlm2vla_policy.robot.status import OK, ControlOutcome, ControlStatus
from vlm2vla_policy.settings import setting, validate


@dataclass(frozen=True)
class PoseMoveConfig:
    """How start, home and sleep moves run."""

    speed_rad_s: float = setting(
        0.5, "joint speed of start/home/sleep moves", unit="rad/s", low=0.05, high=3.0
    )
    tolerance_rad: float = setting(
        0.03,
        "a start/home/sleep move succeeds only when every arm joint is measured this close to "
        "the pose",
        unit="rad",
        above=0.0,
    )
    settle_s: float = setting(
        2.0,
        "after its last waypoint, a start/home/sleep move fails when the arm has not come within "
        "the tolerance for this long",
        unit="s",
        above=0.0,
    )

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True, eq=False)
class PoseStep:
    """One period of a pose move. Publish ``joints_rad`` when it is not None."""

    status: ControlStatus  # OK with a command or on success; WAITING while holding; else why
    reason: str  # why it failed or holds; what was reached on success
    joints_rad: np.ndarray | None  # arm command (rad, chain order) or None
    finished: bool  # True on the period that ends the move (reached, or failed)

    @property
    def succeeded(self) -> bool:
        """True when this period ended the move with the arm at the pose."""
        return self.finished and self.status.commands


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


class PoseMove:
    """A closed-loop slow move of the arm to one joint pose; :meth:`tick` once per period."""

    def __init__(
        self,
        name: str,
        goal_rad: np.ndarray,
        safety: SafetyLimits,
        period_s: float,
        config: PoseMoveConfig | None = None,
    ) -> None:
        """Move to ``goal_rad`` (rad, chain order), called ``name`` in messages ("home")."""
        self.name = name
        self.goal = np.asarray(goal_rad, dtype=float)
        self.safety = safety
        self.period_s = period_s
        self.config = config or PoseMoveConfig()
        self._path: list[np.ndarray] = []
        self._sent_s: float | None = None  # when the last waypoint was sent
        self._settle_by_s = math.inf  # the arm must be at the pose by then (after the path)
        self._planned_s = 0.0
        self.result: PoseStep | None = None  # the finishing period, once the move ended

    @property
    def planned_s(self) -> float:
        """How long the move takes from :meth:`start` without holds: its path and settling, s."""
        return self._planned_s

    def start(
        self, measured_rad: np.ndarray | None, stamp_s: float, now_s: float
    ) -> ControlOutcome:
        """Plan the path from the measured joints (received at ``stamp_s``); OK or why not.

        An OK outcome has an empty reason; a refusal's reason starts "cannot move to <name>".
        """
        verdict = self.safety.check_measurement(measured_rad, stamp_s, now_s)
        if verdict.ok:
            verdict = self.safety.check_command(self.goal, self.goal, self.period_s)
        if not verdict.ok:
            return ControlOutcome(verdict.status, f"cannot move to {self.name}: {verdict.reason}")
        self._path = joint_path(measured_rad, self.goal, self.config.speed_rad_s, self.period_s)
        self._planned_s = len(self._path) * self.period_s + self.config.settle_s
        return OK

    def tick(self, measured_rad: np.ndarray | None, stamp_s: float, now_s: float) -> PoseStep:
        """One period: the next waypoint, a hold, or the move's end (success or why it failed).

        ``measured_rad`` are the latest arm joints (rad), received at ``stamp_s``; ``now_s`` is
        the current time on the same clock (s).
        """
        if self.result is not None:
            return self.result
        verdict = self.safety.check_measurement(measured_rad, stamp_s, now_s)
        if not verdict.ok:
            return self.fail(verdict.reason, verdict.status)
        measured = np.asarray(measured_rad, dtype=float)
        if self._path:
            if self._sent_s is not None and not stamp_s > self._sent_s:
                why = "no joint state since the last waypoint: holding"
                return PoseStep(ControlStatus.WAITING, why, None, finished=False)
            waypoint = self._path[0]
            verdict = self.safety.check_command(waypoint, measured, self.period_s)
            if not verdict.ok:
                return self.fail(verdict.reason, verdict.status)
            self._path.pop(0)
            self._sent_s = now_s
            if not self._path:
                self._settle_by_s = now_s + self.config.settle_s
            return PoseStep(ControlStatus.OK, "", waypoint, finished=False)
        errors = np.abs(measured - self.goal)
        worst = int(np.argmax(errors))
        tolerance = self.config.tolerance_rad
        if errors[worst] <= tolerance:
            reached = (
                f"at {self.name} (every joint within {tolerance} rad; largest error "
                f"{errors[worst]:.3f} rad)"
            )
            return self._end(PoseStep(ControlStatus.OK, reached, None, finished=True))
        if now_s > self._settle_by_s:
            joint = self.safety.joint_names[worst]
            return self.fail(
                f"the arm did not reach the pose: {joint} is {errors[worst]:.3f} rad from it "
                f"{self.config.settle_s} s after the last waypoint (tolerance {tolerance} rad); "
                "is the arm blocked, or the driver not following commands?",
                ControlStatus.NOT_REACHED,
            )
        why = f"settling: {errors[worst]:.3f} rad from the pose"
        return PoseStep(ControlStatus.WAITING, why, None, finished=False)

    def fail(self, reason: str, status: ControlStatus = ControlStatus.CANCELLED) -> PoseStep:
        """End the move now, with no further command; its final output (``status``, why)."""
        if self.result is not None:
            return self.result
        return self._end(PoseStep(status, f"{self.name} move failed: {reason}", None, True))

    def _end(self, step: PoseStep) -> PoseStep:
        self._path = []
        self.result = step
        return step


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
