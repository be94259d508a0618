"""Keep a simulation in step with a wall clock (for the ROS node's physics loop)."""

from __future__ import annotations

import time
from collections.abc import Callable


class RealTimePacer:
    """How much simulated time to advance at each call so simulated time follows wall time.

    ``rate`` simulated seconds pass per wall-clock second. When the caller falls behind by more
    than ``max_step_s`` (a stall: a slow render, a busy machine), the excess is dropped rather than
    simulated in one burst, and counted in :attr:`dropped_s`.
    """

    def __init__(
        self,
        rate: float = 1.0,
        max_step_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not rate > 0.0 or not max_step_s > 0.0:
            raise ValueError(f"rate and max_step_s must be > 0, got {rate} and {max_step_s}")
        self.rate = rate
        self.max_step_s = max_step_s
        self._clock = clock
        self._last_s = clock()
        self.dropped_s = 0.0

    def due_s(self) -> float:
        """Simulated seconds to step now (since the previous call)."""
        now = self._clock()
        due = (now - self._last_s) * self.rate
        self._last_s = now
        if due > self.max_step_s:
            self.dropped_s += due - self.max_step_s
            return self.max_step_s
        return max(0.0, due)
