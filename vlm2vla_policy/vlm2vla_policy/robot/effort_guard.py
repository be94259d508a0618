"""Stop a chunk when an arm joint pushes too hard: the effort guard (no ROS).

The Interbotix driver (``xs_sdk``) reports each joint's effort in ``joint_states`` as the motor
current, in mA. A joint that stays above its current limit is pushing against something (the
table, an object, a person) or is blocked. :class:`EffortGuard` takes every joint_states reading
and trips when any arm joint's ``|effort|`` has exceeded its limit for at least ``effort_hold_s``
(measured between the readings' stamps, so one noisy reading does not stop the arm); it clears
as soon as every joint is back within its limit. A non-finite effort counts as over the limit.
A reading without efforts (simulators publish none) changes nothing. Times are any clock in
seconds, passed in by the caller (no clock is read here).

Default limits: bridge_data_robot's ``ABS_MAX_JOINT_EFFORTS`` (``widowx_controller.py``: [800,
1000, 600, 600, 600, 700] mA x 1.7, "experimental values"), the check the Bridge data was
collected under; they lie well below the servos' own current limits (the Dynamixel
``Current_Limit`` register: about 3.2 A on an XM430-W350, 5.5 A on an XM540-W270).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from vlm2vla_policy.robot.description import WX250S, RobotDescription
from vlm2vla_policy.robot.status import OK, ControlOutcome, ControlStatus
from vlm2vla_policy.settings import setting, validate

BRIDGE_EFFORT_LIMITS_MA = tuple(round(e * 1.7, 1) for e in (800, 1000, 600, 600, 600, 700))
"""bridge_data_robot's ABS_MAX_JOINT_EFFORTS, mA, in WX250S.joint_names order."""


def _one_per_arm_joint_or_none(value: tuple[float, ...]) -> str | None:
    if len(value) in (0, WX250S.num_joints):
        return None
    return f"must have one limit per arm joint {WX250S.joint_names} or none (guard off)"


@dataclass(frozen=True)
class EffortGuardConfig:
    """The effort guard's limits. An empty ``effort_limits_ma`` (or all zeros) turns it off."""

    effort_limits_ma: tuple[float, ...] = setting(
        BRIDGE_EFFORT_LIMITS_MA,
        "stop the chunk (and hold) when an arm joint's |effort| in joint_states (xs_sdk: motor "
        "current) stays above its limit, one per joint in the driver's arm order (waist, "
        "shoulder, elbow, forearm_roll, wrist_angle, wrist_rotate; default: Bridge's "
        "ABS_MAX_JOINT_EFFORTS); 0 turns a joint's check off, all zeros or an empty list the guard",
        unit="mA",
        low=0.0,
        check=_one_per_arm_joint_or_none,
    )
    effort_hold_s: float = setting(
        0.1,
        "how long an effort must stay above its limit before the chunk stops (0: at the first "
        "reading over it)",
        unit="s",
        low=0.0,
    )

    def __post_init__(self) -> None:
        validate(self)

    @property
    def enabled(self) -> bool:
        """True when at least one joint has a limit."""
        return any(limit > 0.0 for limit in self.effort_limits_ma)


class EffortGuard:
    """Tracks how long each arm joint's effort has been over its limit; trips after a hold time."""

    def __init__(self, config: EffortGuardConfig, robot: RobotDescription = WX250S) -> None:
        """Guard the arm joints of ``robot`` (``robot.joint_names`` order) with ``config``."""
        limits = config.effort_limits_ma
        if limits and len(limits) != robot.num_joints:
            raise ValueError(
                f"effort_limits_ma has {len(limits)} entries; {robot.name} has "
                f"{robot.num_joints} arm joints {robot.joint_names}"
            )
        self.config = config
        self.robot = robot
        self._over_since_s: list[float | None] = [None] * robot.num_joints  # first stamp over
        self._effort_ma = [0.0] * robot.num_joints  # latest reading per joint, mA
        self._stamp_s: float | None = None  # stamp of the latest reading with efforts, s

    def observe(self, names: Sequence[str], efforts: Sequence[float], stamp_s: float) -> bool:
        """Take one joint_states reading (joint names, efforts in mA) stamped ``stamp_s`` (s).

        Returns False, changing nothing, when the reading has no effort for some arm joint (a
        driver that publishes none, or a malformed message).
        """
        if not self.config.enabled:
            return True
        index = {name: i for i, name in enumerate(names)}
        picked = [index.get(name) for name in self.robot.joint_names]
        if any(i is None or i >= len(efforts) for i in picked):
            return False
        self._stamp_s = stamp_s
        for joint, i in enumerate(picked):
            effort = float(efforts[i])
            limit = self.config.effort_limits_ma[joint]
            self._effort_ma[joint] = effort
            over = limit > 0.0 and not abs(effort) <= limit  # NaN counts as over
            if not over:
                self._over_since_s[joint] = None
            elif self._over_since_s[joint] is None:
                self._over_since_s[joint] = stamp_s
        return True

    def check(self) -> ControlOutcome:
        """OK, or EFFORT_LIMIT naming the first joint over its limit for ``effort_hold_s``."""
        if self._stamp_s is None:
            return OK
        for joint, since_s in enumerate(self._over_since_s):
            if since_s is None:
                continue
            held_s = self._stamp_s - since_s
            # Not `held_s >= hold`: a NaN or infinite stamp must trip the guard, not disable it.
            if not (math.isfinite(held_s) and held_s < self.config.effort_hold_s):
                return ControlOutcome(ControlStatus.EFFORT_LIMIT, self._reason(joint, held_s))
        return OK

    def _reason(self, joint: int, held_s: float) -> str:
        effort = self._effort_ma[joint]
        measured = f"{effort:+.0f} mA" if math.isfinite(effort) else f"{effort} (not a number)"
        return (
            f"{self.robot.joint_names[joint]} effort {measured} above its limit "
            f"effort_limits_ma[{joint}] = {self.config.effort_limits_ma[joint]:g} mA for "
            f"{held_s:.2f} s (effort_hold_s = {self.config.effort_hold_s} s); stopped and "
            "holding: the arm is pushing against something or is blocked. Clear it, then send a "
            "new chunk (or raise effort_limits_ma; 0 turns a joint's check off)"
        )
