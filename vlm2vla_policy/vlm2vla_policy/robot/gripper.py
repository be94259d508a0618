"""Gripper: binary open/close from the chunk's gripper value, as the driver's mode wants it.

The chunk writes 1 = open, 0 = closed; a value is thresholded once and a command is produced only
when the open/closed state changes. In PWM mode (the Interbotix default, positive = open) the
command carries the saturated effort, and :meth:`GripperController.pwm_effort` is the finger
position P-loop Bridge runs at 50 Hz. In position mode the command carries the driver's
open/closed gripper-joint value.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from vlm2vla_policy.robot.description import WX250S


class GripperMode(enum.Enum):
    """Operating mode of the driver's ``gripper`` joint."""

    PWM = "pwm"  # effort command, positive = open (xs_sdk default)
    POSITION = "position"  # position command in the driver's gripper-joint units


@dataclass(frozen=True)
class GripperConfig:
    """How gripper values become driver commands."""

    mode: GripperMode = GripperMode.PWM  # the mode the driver runs the gripper in
    open_threshold: float = 0.5  # a chunk value >= this means open (Bridge evaluations use 0.5)
    pwm_limit: float = 350.0  # largest PWM magnitude sent, driver units (Bridge caps at 350)
    pwm_gain_per_m: float = 70000.0  # P-loop gain, PWM per metre of finger error (5 mm saturates)
    finger_open_m: float = WX250S.finger_open_m  # finger position target when open, m
    finger_closed_m: float = WX250S.finger_closed_m  # finger position target when closed, m
    position_open: float | None = None  # position mode: command for open (rad on xs_sdk)
    position_closed: float | None = None  # position mode: command for closed (rad on xs_sdk)
    loop_period_s: float = 0.02  # period of the PWM P-loop the caller runs, s (Bridge: 50 Hz)

    def __post_init__(self) -> None:
        if not 0.0 < self.open_threshold < 1.0:
            raise ValueError("GripperConfig.open_threshold must lie strictly between 0 and 1")
        if not self.pwm_limit > 0.0 or not self.pwm_gain_per_m > 0.0:
            raise ValueError("GripperConfig.pwm_limit and pwm_gain_per_m must be > 0")
        if not self.finger_closed_m < self.finger_open_m:
            raise ValueError("GripperConfig.finger_closed_m must be below finger_open_m")
        if self.mode is GripperMode.POSITION and (
            self.position_open is None or self.position_closed is None
        ):
            raise ValueError(
                "GripperConfig in position mode needs position_open and position_closed (the "
                "driver's gripper-joint commands for open and closed, rad on xs_sdk)"
            )
        if not self.loop_period_s > 0.0:
            raise ValueError("GripperConfig.loop_period_s must be > 0")


@dataclass(frozen=True)
class GripperCommand:
    """One command for the driver's ``gripper`` joint (a JointSingleCommand's ``cmd``)."""

    open: bool  # True = open, False = closed
    mode: GripperMode  # how to read ``value``
    value: float  # PWM effort (positive = open) or position command, per ``mode``


class GripperController:
    """Remembers the last commanded gripper state and turns changes into driver commands."""

    def __init__(self, config: GripperConfig | None = None) -> None:
        self.config = config or GripperConfig()
        self._is_open: bool | None = None

    @property
    def is_open(self) -> bool | None:
        """Last commanded state; None before the first command."""
        return self._is_open

    def request(self, value: float) -> GripperCommand | None:
        """Command for the chunk value ``value``, or None when the state does not change."""
        want_open = value >= self.config.open_threshold
        if want_open == self._is_open:
            return None
        self._is_open = want_open
        return self.command(want_open)

    def command(self, open_: bool) -> GripperCommand:
        """Build the driver command for a state without recording it (e.g. to re-send it)."""
        cfg = self.config
        if cfg.mode is GripperMode.PWM:
            value = cfg.pwm_limit if open_ else -cfg.pwm_limit
        else:
            value = cfg.position_open if open_ else cfg.position_closed
        return GripperCommand(open=open_, mode=cfg.mode, value=float(value))

    def forget(self) -> None:
        """Forget the commanded state, so the next request always produces a command."""
        self._is_open = None

    def pwm_effort(self, measured_finger_m: float) -> float:
        """P-loop effort (PWM, positive = open) toward the commanded finger position.

        Call every ``loop_period_s`` in PWM mode with the measured finger position (m). Returns
        0 before the first command. Holding an object keeps the closing effort saturated, which
        is the grip force.
        """
        if self._is_open is None:
            return 0.0
        cfg = self.config
        target_m = cfg.finger_open_m if self._is_open else cfg.finger_closed_m
        effort = cfg.pwm_gain_per_m * (target_m - measured_finger_m)
        return max(-cfg.pwm_limit, min(cfg.pwm_limit, effort))
