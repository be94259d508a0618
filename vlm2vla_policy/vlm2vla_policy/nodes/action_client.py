"""An ActionClient whose requests cannot lose their responses to the executor thread.

rclpy 7.1 (Jazzy)'s ActionClient sends a goal, cancel or result request and only then records
the request's sequence number. When the call comes from another thread than the executor's (a
worker waiting on a chunk, a test), a fast server's response can be taken in between: the client
logs "Ignoring unexpected result response" and the future never completes. Measured with
controller_node, which refuses a too-long chunk in about a millisecond: one result in six
back-to-back refusals was lost, and the caller waited out its whole timeout.
:class:`ThreadSafeActionClient` holds one lock across each send and its bookkeeping, and while
the executor matches responses to requests.
"""

from __future__ import annotations

import threading
from typing import Any

from rclpy.action import ActionClient


class ThreadSafeActionClient(ActionClient):
    """``rclpy.action.ActionClient`` safe to call from any thread while an executor spins it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Reentrant: a response's done-callbacks may send the next request on this thread.
        self._requests_lock = threading.RLock()

    def send_goal_async(self, *args: Any, **kwargs: Any):
        """As ActionClient's, with the request recorded before its response can be taken."""
        with self._requests_lock:
            return super().send_goal_async(*args, **kwargs)

    def _cancel_goal_async(self, goal_handle):
        with self._requests_lock:
            return super()._cancel_goal_async(goal_handle)

    def _get_result_async(self, goal_handle):
        with self._requests_lock:
            return super()._get_result_async(goal_handle)

    async def execute(self, taken_data):
        """Match responses to requests under the lock; feedback and status callbacks outside it.

        Matching completes futures only (their done-callbacks are scheduled, not awaited), so
        the lock is never held across a suspension.
        """
        responses = {k: v for k, v in taken_data.items() if k in _RESPONSES}
        if responses:
            with self._requests_lock:
                await super().execute(responses)
        rest = {k: v for k, v in taken_data.items() if k not in _RESPONSES}
        if rest:
            await super().execute(rest)


_RESPONSES = ("goal", "cancel", "result")  # taken_data keys that answer a request
