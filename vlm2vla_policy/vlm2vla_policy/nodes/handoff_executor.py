"""A MultiThreadedExecutor that hands each ready callback to a worker before it waits again.

rclpy 7.1 (Jazzy)'s MultiThreadedExecutor yields a task again on every spin while it is still
queued in the thread pool (not yet executing, not done), without waiting: the spin thread
resubmits the same task thousands of times a second and, holding the GIL, starves the workers
that would run it (ros2/rclpy#1452; rolling no longer re-yields queued tasks). Measured on
controller_node on 2 cores: ~5000 spins/s, over 2000 queued duplicates, control ticks ~1 s late
and the lease lapsing during a chunk. :class:`HandoffExecutor` waits until a worker has started
the task (or ``handoff_timeout_s`` passed, when every worker is busy) before the next wait, so a
queued task is never yielded twice in a row and the spin thread sleeps in the wait set.
"""

import threading
import time
from collections.abc import Callable

from rclpy.executors import (
    ConditionReachedException,
    ExternalShutdownException,
    MultiThreadedExecutor,
    ShutdownException,
    TimeoutException,
)

_NOT_READY = (
    ConditionReachedException,
    ExternalShutdownException,
    ShutdownException,
    TimeoutException,
)


class HandoffExecutor(MultiThreadedExecutor):
    """MultiThreadedExecutor whose spin thread waits for a worker to take each callback."""

    def __init__(self, num_threads: int, handoff_timeout_s: float = 0.05) -> None:
        """``handoff_timeout_s``: longest wait for a free worker before spinning on, s."""
        super().__init__(num_threads=num_threads)
        self.handoff_timeout_s = handoff_timeout_s

    def _spin_once_impl(
        self,
        timeout_sec: float | None = None,
        wait_condition: Callable[[], bool] = lambda: False,
    ) -> None:
        try:
            handler, _entity, _node = self.wait_for_ready_callbacks(
                timeout_sec, None, wait_condition
            )
        except _NOT_READY:
            return
        started = threading.Event()

        def run() -> None:
            started.set()
            handler()

        self._executor.submit(run)
        self._futures.append(handler)
        started.wait(self.handoff_timeout_s)
        for future in self._futures[:]:
            if future.done():
                self._futures.remove(future)
                future.result()  # raise any exceptions

    def settle(self, timeout_s: float) -> list[BaseException]:
        """Wait up to ``timeout_s`` for the callbacks still running; return the errors of the ended.

        For shutdown, once spinning has stopped: no later spin would collect these callbacks, and
        rclpy prints the error of an uncollected one ("never retrieved") when it is collected.
        """
        deadline = time.monotonic() + timeout_s
        while any(not f.done() for f in self._futures) and time.monotonic() < deadline:
            time.sleep(0.01)
        errors = []
        for future in [f for f in self._futures if f.done()]:
            self._futures.remove(future)
            error = future.exception()
            if error is not None:
                errors.append(error)
        return errors
