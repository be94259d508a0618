"""What the controller reports instead of raising: one status per control period or request."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ControlStatus(enum.Enum):
    """Outcome of a control period, a chunk start, a reset or a safety check."""

    OK = "ok"  # command produced (or request accepted)
    WORKSPACE_CLIPPED = "workspace_clipped"  # warning: command produced, target clipped to bounds
    IDLE = "idle"  # no chunk is executing; nothing to command
    IK_FAILED = "ik_failed"  # stop: no joints reach the next target; target frozen
    JOINT_LIMIT = "joint_limit"  # stop: the next command would leave a joint's position range
    VELOCITY_LIMIT = "velocity_limit"  # stop: the next command would move a joint too fast
    STALE_JOINT_STATES = "stale_joint_states"  # stop: no fresh joint measurement
    EFFORT_LIMIT = "effort_limit"  # stop: a joint's measured effort stayed above its limit
    INVALID_INPUT = "invalid_input"  # stop/reject: malformed chunk or joint measurement
    ESTOPPED = "estopped"  # stop: emergency stop latched; nothing moves until released
    CANCELLED = "cancelled"  # stop: the chunk was cancelled by the caller
    WAITING = "waiting"  # streamed chunk: every received step executed, more to come; holding
    TOO_LONG = "too_long"  # reject/stop: more steps or a longer motion than the limits allow
    STEPS_LOST = "steps_lost"  # stop: streamed steps do not follow the steps received so far
    STREAM_ERROR = "stream_error"  # stop: the producer ended its stream early (its error says why)
    LEASE_LAPSED = "lease_lapsed"  # stop: the goal's producer stopped renewing its lease
    NOT_REACHED = "not_reached"  # stop: a pose move's arm did not come within its tolerance

    @property
    def commands(self) -> bool:
        """True for the statuses that come with a command (OK and the warning)."""
        return self in (ControlStatus.OK, ControlStatus.WORKSPACE_CLIPPED)


@dataclass(frozen=True)
class ControlOutcome:
    """A status with the reason for it."""

    status: ControlStatus  # outcome
    reason: str = ""  # what was wrong and what to do; for OK an optional note (what was clipped)

    @property
    def ok(self) -> bool:
        """True when the status allows the command or request."""
        return self.status.commands


OK = ControlOutcome(ControlStatus.OK)
