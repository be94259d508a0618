"""Dynamixel-style motion profiles: how a joint goal is reached over time.

The Interbotix arm runs its servos with a *time-based* profile: ``Profile_Velocity`` is the time
(ms) a move to a new goal takes and ``Profile_Acceleration`` the time (ms) of its speed ramps
(at most half the move; the driver's default is 2000 ms / 300 ms, Bridge sets 250 ms / 100 ms).
A *velocity-based* profile instead caps the speed (``Profile_Velocity`` in units of 0.229 rev/min,
0 = no limit). :class:`JointProfile` gives the setpoint of every joint at any time for the move
in progress, a trapezoidal speed curve from where the setpoint was when the goal arrived.
Joints in rad, times in s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TIME_BASED = "time"
VELOCITY_BASED = "velocity"
PROFILE_TYPES = (TIME_BASED, VELOCITY_BASED)
# One unit of a velocity-based Profile_Velocity, rad/s (0.229 rev/min).
VELOCITY_UNIT_RAD_S = 0.229 * 2.0 * math.pi / 60.0


@dataclass(frozen=True)
class ProfileSettings:
    """The two profile registers of a servo and how to read them."""

    profile_type: str = TIME_BASED  # "time" or "velocity"
    velocity: int = 2000  # time-based: move time, ms; velocity-based: 0.229 rev/min, 0 = no limit
    acceleration: int = 300  # time-based: ramp time, ms; velocity-based: ignored (ramps 20 %)

    def __post_init__(self) -> None:
        if self.profile_type not in PROFILE_TYPES:
            raise ValueError(f"profile type {self.profile_type!r} is not one of {PROFILE_TYPES}")
        if self.velocity < 0 or self.acceleration < 0:
            raise ValueError(
                f"profile velocity and acceleration must be >= 0, got {self.velocity}, "
                f"{self.acceleration}"
            )

    def move_times_s(self, distance_rad: float) -> tuple[float, float]:
        """(total time, ramp time) in s of a move of ``distance_rad`` (largest joint change)."""
        if self.profile_type == TIME_BASED:
            total = self.velocity / 1000.0
            return total, min(self.acceleration / 1000.0, total / 2.0)
        if self.velocity == 0:
            return 0.0, 0.0
        total = abs(distance_rad) / (self.velocity * VELOCITY_UNIT_RAD_S)
        return total, 0.2 * total


def trapezoid(t_s: float, total_s: float, ramp_s: float) -> tuple[float, float]:
    """(fraction done in [0, 1], its rate in 1/s) of a move with trapezoidal speed, at ``t_s``.

    ``total_s`` is the move time and ``ramp_s`` the time of each speed ramp (at most half the
    move; 0 gives constant speed). Plain floats: this runs every physics step for every joint.
    """
    if t_s >= total_s:
        return 1.0, 0.0
    if t_s <= 0.0:
        return 0.0, 0.0
    ramp_s = min(ramp_s, total_s / 2.0)
    if ramp_s <= 0.0:
        return t_s / total_s, 1.0 / total_s
    peak = 1.0 / (total_s - ramp_s)  # fraction per second at full speed
    if t_s < ramp_s:
        return 0.5 * peak / ramp_s * t_s * t_s, peak * t_s / ramp_s
    left = total_s - t_s
    if left < ramp_s:
        return 1.0 - 0.5 * peak / ramp_s * left * left, peak * left / ramp_s
    return peak * (t_s - ramp_s / 2.0), peak


class JointProfile:
    """Setpoints of a group of joints, each moving to its latest goal under its own profile."""

    def __init__(self, initial_rad: np.ndarray) -> None:
        self._start = np.array(initial_rad, dtype=float)
        self._goal = self._start.copy()
        n = len(self._start)
        self._t0_s = np.zeros(n)
        self._total_s = np.zeros(n)
        self._ramp_s = np.zeros(n)
        self._end_s = 0.0  # when the last move in progress ends, s

    @property
    def goal_rad(self) -> np.ndarray:
        """The goals of the moves in progress (rad)."""
        return self._goal.copy()

    def set_goal(
        self,
        goal_rad: np.ndarray,
        now_s: float,
        settings: tuple[ProfileSettings, ...],
        duration_s: float | None = None,
        joints: np.ndarray | None = None,
    ) -> None:
        """Start moves from the current setpoints to ``goal_rad`` at ``now_s``.

        ``settings`` holds one profile per joint; ``duration_s`` overrides their move time (s);
        ``joints`` (indices) limits the change to those joints, the others keep moving.
        """
        goal = np.asarray(goal_rad, dtype=float)
        if goal.shape != self._start.shape or len(settings) != len(goal):
            raise ValueError(
                f"need {len(self._start)} goals and profiles, got {goal.shape} and {len(settings)}"
            )
        setpoint = self.setpoint(now_s)
        for i in range(len(goal)) if joints is None else joints:
            total, ramp = settings[i].move_times_s(float(goal[i] - setpoint[i]))
            if duration_s is not None:
                total, ramp = duration_s, min(ramp, duration_s / 2.0)
            self._start[i], self._goal[i], self._t0_s[i] = setpoint[i], goal[i], now_s
            self._total_s[i], self._ramp_s[i] = total, ramp
        self._end_s = float(np.max(self._t0_s + self._total_s))

    def hold(self, position_rad: np.ndarray, joints: np.ndarray | None = None) -> None:
        """Stop the moves of ``joints`` (default all): their setpoints become ``position_rad``."""
        index = slice(None) if joints is None else joints
        self._start[index] = np.asarray(position_rad, dtype=float)[index]
        self._goal[index] = self._start[index]
        self._total_s[index] = 0.0

    def setpoint(self, now_s: float) -> np.ndarray:
        """Where the joints should be at ``now_s`` (rad)."""
        return self.state(now_s)[0]

    def state(self, now_s: float) -> tuple[np.ndarray, np.ndarray]:
        """(setpoints in rad, their speeds in rad/s) at ``now_s``."""
        span = self._goal - self._start
        if now_s >= self._end_s:
            return self._goal.copy(), np.zeros_like(span)
        done = [
            trapezoid(now_s - t0, total, ramp)
            for t0, total, ramp in zip(self._t0_s, self._total_s, self._ramp_s, strict=True)
        ]
        fraction, rate = np.array(done).T
        return self._start + span * fraction, span * rate
