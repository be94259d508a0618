"""Checks every arm command must pass: fresh measurement, joint positions and joint speeds.

The driver does not check limits (docs/facts.md §3), so nothing is commanded unless
:meth:`SafetyLimits.check_command` says OK. Joints in radians, chain order, times in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vlm2vla_policy.robot.description import RobotDescription
from vlm2vla_policy.robot.status import OK, ControlOutcome, ControlStatus

CLOCK_HINT = "check the driver is running and both sides use the same clock (use_sim_time)"


def check_age(what: str, stamp_s: float, now_s: float, max_age_s: float) -> ControlOutcome:
    """OK when ``what``, stamped ``stamp_s``, is at most ``max_age_s`` old at ``now_s`` (s).

    A stamp that far in the future is stale too (two clocks disagree). So is any NaN or infinite
    time: ``abs(nan) > limit`` is false, so a plain comparison would pass a NaN as fresh.
    """
    age_s = now_s - stamp_s
    if not (math.isfinite(age_s) and math.isfinite(max_age_s)):
        return ControlOutcome(
            ControlStatus.STALE_JOINT_STATES,
            f"{what} time is not finite (stamp {stamp_s} s, now {now_s} s, limit {max_age_s} s): "
            f"treated as stale; {CLOCK_HINT}",
        )
    if abs(age_s) <= max_age_s:
        return OK
    when = "old" if age_s > 0 else "in the future"
    return ControlOutcome(
        ControlStatus.STALE_JOINT_STATES,
        f"{what} is {abs(age_s):.3f} s {when} (limit {max_age_s} s); {CLOCK_HINT}",
    )


@dataclass(frozen=True)
class SafetyLimits:
    """Position, velocity and freshness limits of one arm."""

    joint_names: tuple[str, ...]  # arm joints in chain order, for messages
    lower_rad: tuple[float, ...]  # per joint lowest commandable position, rad
    upper_rad: tuple[float, ...]  # per joint highest commandable position, rad
    velocity_rad_s: tuple[float, ...]  # per joint highest speed, rad/s
    max_joint_state_age_s: float = 0.5  # oldest joint measurement a command may be based on, s

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        if not len(self.lower_rad) == len(self.upper_rad) == len(self.velocity_rad_s) == n:
            raise ValueError(
                f"SafetyLimits needs one lower, upper and velocity limit per joint ({n})"
            )
        if not self.max_joint_state_age_s > 0.0:
            raise ValueError("SafetyLimits.max_joint_state_age_s must be > 0")

    @classmethod
    def for_robot(cls, robot: RobotDescription, max_joint_state_age_s: float = 0.5) -> SafetyLimits:
        """Build the limits published in the robot description."""
        return cls(
            joint_names=robot.joint_names,
            lower_rad=robot.lower_limits_rad,
            upper_rad=robot.upper_limits_rad,
            velocity_rad_s=robot.velocity_limits_rad_s,
            max_joint_state_age_s=max_joint_state_age_s,
        )

    def check_measurement(
        self, joints_rad: np.ndarray | None, stamp_s: float, now_s: float
    ) -> ControlOutcome:
        """Check the joint measurement is usable at ``now_s``: well formed, at most max age old.

        NaN or infinite times are stale (:func:`check_age`).
        """
        verdict = self.check_joints(joints_rad)
        if not verdict.ok:
            return verdict
        return check_age("joint state", stamp_s, now_s, self.max_joint_state_age_s)

    def check_joints(self, joints_rad: np.ndarray | None) -> ControlOutcome:
        """Check the joint measurement is present with one finite angle per joint."""
        if joints_rad is None:
            return ControlOutcome(
                ControlStatus.STALE_JOINT_STATES,
                "no joint state received yet; check that the driver publishes joint_states",
            )
        joints = np.asarray(joints_rad, dtype=float)
        if joints.shape != (len(self.joint_names),) or not np.all(np.isfinite(joints)):
            return ControlOutcome(
                ControlStatus.INVALID_INPUT,
                f"joint measurement must be {len(self.joint_names)} finite angles "
                f"{self.joint_names} in rad, got {joints_rad!r}",
            )
        return OK

    def check_command(
        self, command_rad: np.ndarray, reference_rad: np.ndarray, period_s: float
    ) -> ControlOutcome:
        """Check that ``command_rad`` may be sent, the arm being at ``reference_rad`` now.

        Position check: every joint within [lower, upper]. Velocity check: the change from the
        reference over ``period_s`` within each joint's speed limit.
        """
        command = np.asarray(command_rad, dtype=float)
        if command.shape != (len(self.joint_names),) or not np.all(np.isfinite(command)):
            return ControlOutcome(
                ControlStatus.INVALID_INPUT,
                f"command must be {len(self.joint_names)} finite angles in rad, "
                f"got {command_rad!r}",
            )
        for name, value, low, high in zip(
            self.joint_names, command, self.lower_rad, self.upper_rad, strict=True
        ):
            if not low <= value <= high:
                return ControlOutcome(
                    ControlStatus.JOINT_LIMIT,
                    f"{name} command {value:+.4f} rad is outside [{low:+.4f}, {high:+.4f}] rad",
                )
        speeds = np.abs(command - np.asarray(reference_rad, dtype=float)) / period_s
        for name, speed, limit in zip(self.joint_names, speeds, self.velocity_rad_s, strict=True):
            if speed > limit:
                return ControlOutcome(
                    ControlStatus.VELOCITY_LIMIT,
                    f"{name} would move at {speed:.3f} rad/s (limit {limit:.3f} rad/s) over "
                    f"{period_s} s; the target jumped away from the measured joints: reset the "
                    "target to the measured pose or take smaller steps",
                )
        return OK
