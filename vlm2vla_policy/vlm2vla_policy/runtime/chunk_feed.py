"""One action chunk handed from the decoder to the executor while it is being written.

The loop appends each step the moment the chunk reader has read it (its closing ``]`` decoded),
closes the feed when the answer ends (with an error when it turned malformed or stopped), and
cancels it when the chunk must stop (stale camera, a stop request). The executor (the ROS node's
ExecuteChunk client, the simulator's controller) reads steps as they come and cancels the feed
when the motion ended early, which tells the decoder to stop. Thread-safe.

Steps are rows ``[dx, dy, dz, gripper]``: metres in the robot base frame (+x forward, +y left,
+z up), gripper 1 = open, 0 = closed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np


class ChunkFeed:
    """The steps of one chunk so far, whether more will come, and whether it was cancelled."""

    def __init__(self, instruction: str, subtask: str, subtask_index: int, plan: str) -> None:
        self.instruction = instruction
        self.subtask = subtask
        self.subtask_index = subtask_index
        self.plan = plan
        self.started_s = time.monotonic()  # when the chunk's generation began (monotonic, s)
        self.first_step_s: float | None = None  # when its first step arrived (monotonic, s)
        self._cond = threading.Condition()
        self._steps = np.zeros((0, 4))
        self._closed = False
        self._error = ""
        self._cancelled = ""
        self._on_cancel: list[Callable[[str], None]] = []

    def append(self, steps: np.ndarray) -> None:
        """Add final steps ((k, 4), metres, base frame); ignored once closed or cancelled."""
        steps = np.asarray(steps, dtype=float).reshape(-1, 4)
        with self._cond:
            if self._closed or self._cancelled or not len(steps):
                return
            if self.first_step_s is None:
                self.first_step_s = time.monotonic()
            self._steps = np.vstack([self._steps, steps])
            self._cond.notify_all()

    def close(self, error: str = "") -> None:
        """No step follows; ``error`` says why the answer ended early ("" when it is whole)."""
        with self._cond:
            if not self._closed:
                self._closed, self._error = True, error
            self._cond.notify_all()

    def cancel(self, reason: str) -> None:
        """The chunk must stop now (no further step executes, the decoder stops).

        Valid at any time, also after :meth:`close`: the steps already handed over stop too.
        """
        with self._cond:
            if self._cancelled:
                return
            self._cancelled = reason
            callbacks, self._on_cancel = self._on_cancel, []
            self._cond.notify_all()
        for callback in callbacks:
            callback(reason)

    def on_cancel(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(reason)`` once when the feed is cancelled (now, if it already is)."""
        with self._cond:
            if not self._cancelled:
                self._on_cancel.append(callback)
                return
            reason = self._cancelled
        callback(reason)

    def wait(self, have: int, timeout_s: float | None = None) -> bool:
        """Block until there are more than ``have`` steps, the feed closes or is cancelled.

        Returns False when ``timeout_s`` passed first.
        """
        with self._cond:
            return self._cond.wait_for(
                lambda: len(self._steps) > have or self._closed or bool(self._cancelled),
                timeout_s,
            )

    def steps(self) -> np.ndarray:
        """A copy of every step so far, (n, 4)."""
        with self._cond:
            return self._steps.copy()

    @property
    def count(self) -> int:
        """Steps so far."""
        with self._cond:
            return len(self._steps)

    @property
    def closed(self) -> bool:
        """True once no step will follow."""
        with self._cond:
            return self._closed

    @property
    def error(self) -> str:
        """Why the answer ended early ("" while open or when it was whole)."""
        with self._cond:
            return self._error

    @property
    def cancelled(self) -> str:
        """Why the chunk was cancelled ("" when it was not)."""
        with self._cond:
            return self._cancelled

    @property
    def time_to_first_step_s(self) -> float | None:
        """From the start of generation to the first step, s (None before it)."""
        return None if self.first_step_s is None else self.first_step_s - self.started_s
