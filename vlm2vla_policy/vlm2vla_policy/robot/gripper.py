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
from vlm2vla_policy.settings import require, setting, validate


class GripperMode(enum.Enum):
    """Operating mode of the driver's ``gripper`` joint."""

    PWM = "pwm"  # effort command, positive = open (xs_sdk default)
    POSITION = "position"  # position command in the driver's gripper-joint units


@dataclass(frozen=True)
class GripperConfig:
    """How gripper values become driver commands."""

    mode: GripperMode = setting(
        GripperMode.PWM, "driver gripper mode: pwm (P-loop on the finger) or position"
    )
    open_threshold: float = setting(
        0.5, "a chunk value at or above this means open (Bridge evaluations: 0.5)",
        above=0.0, below=1.0,
    )  # fmt: skip
    pwm_limit: float = setting(
        350.0, "largest PWM magnitude sent, driver units (Bridge: 350)", above=0.0
    )
    pwm_gain_per_m: float = setting(
        70000.0, "P-loop gain per metre of finger error (5 mm saturates)", unit="PWM/m",
        above=0.0,
    )  # fmt: skip
    finger_open_m: float = setting(
        WX250S.finger_open_m, "finger position target when open", unit="m"
    )
    finger_closed_m: float = setting(
        WX250S.finger_closed_m, "finger position target when closed", unit="m"
    )
    position_open: float | None = setting(
        None, "position mode: the driver's gripper command for open (rad on xs_sdk)"
    )
    position_closed: float | None = setting(
        None, "position mode: the driver's gripper command for closed (rad on xs_sdk)"
    )
    loop_period_s: float = setting(
        0.02, "period of the PWM P-loop the caller runs (Bridge: 50 Hz)", unit="s", above=0.0
    )

    def __post_init__(self) -> None:
        validate(self)
        require(
            self.finger_closed_m < self.finger_open_m,
            "GripperConfig.finger_closed_m must be below finger_open_m",
        )
        require(
            self.mode is not GripperMode.POSITION
            or (self.position_open is not None and self.position_closed is not None),
            "GripperConfig in position mode needs position_open and position_closed (the "
            "driver's gripper-joint commands for open and closed, rad on xs_sdk)",
        )


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
