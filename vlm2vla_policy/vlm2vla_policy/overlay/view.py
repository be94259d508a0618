"""What the annotated image shows, gathered from the episode loop while it runs (thread-safe).

:class:`OverlayTracker` listens to the loop (its status snapshots, each chunk's feed, the
executor's progress) and to the arm (a callable giving the gripper's position now) and hands out
an :class:`OverlayView` per frame. A chunk's path starts where the gripper was when the chunk
began and adds each step's translation (Bridge semantics: steps displace the end effector in the
base frame). The verdict is read from the loop's status: a subtask that was being verified and is
followed by the next one (or by DONE) was judged done; one that is retried (or fails) was not.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from vlm2vla_policy.runtime.chunk_feed import ChunkFeed
from vlm2vla_policy.runtime.episode_loop import Execute, LoopState, LoopStatus

_NOT_DONE_PREFIX = "subtask not done yet: "  # how the loop words a "no" (cut, not to repeat it)
GripperPosition = Callable[[], "np.ndarray | None"]  # gripper (EE) position now, base frame, m


@dataclass(frozen=True, eq=False)
class OverlayView:
    """One frame's annotations. Positions in the base frame, metres."""

    state: str = "idle"  # the loop's state, lower case
    subtask: str = ""  # the current subtask
    subtask_number: int = 0  # 1-based; 0 before the subtask list exists
    subtask_count: int = 0
    plan: str = ""  # the current motion plan
    path_m: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (N + 1) x 3: the
    # gripper when the chunk began, then the target after each of its N steps (so far)
    gripper_open: np.ndarray = field(default_factory=lambda: np.zeros(0))  # N: 1 open, 0 closed
    executed: int = 0  # steps of the chunk executed (0..N)
    gripper_m: np.ndarray | None = None  # the gripper now
    verdict: str = ""  # the last verification, in words ("" before one)
    verdict_done: bool | None = None  # its outcome
    note: str = ""  # why something is not drawn


class OverlayTracker:
    """Collects an :class:`OverlayView` from the loop's callbacks; any thread may call it."""

    def __init__(self, gripper_m: GripperPosition) -> None:
        self._gripper_m = gripper_m
        self._lock = threading.Lock()
        self._status: LoopStatus | None = None
        self._feed: ChunkFeed | None = None
        self._start_m: np.ndarray | None = None
        self._executed = 0
        self._verdict = ("", None)

    def on_status(self, status: LoopStatus) -> None:
        """A status snapshot of the loop (its ``on_status``)."""
        with self._lock:
            previous, self._status = self._status, status
            if previous is None or status.instruction != previous.instruction:
                self._verdict, self._feed, self._start_m = ("", None), None, None
                return
            if previous.state is not LoopState.VERIFYING:
                return
            number = previous.current_index + 1
            if status.current_index > previous.current_index or status.state is LoopState.DONE:
                self._verdict = (f"subtask {number} verified: done", True)
            elif status.retries > previous.retries or status.state is LoopState.FAILED:
                why = status.last_error.removeprefix(_NOT_DONE_PREFIX) or "the verifier said no"
                self._verdict = (f"subtask {number} verified: not done ({why})", False)

    def on_feed(self, feed: ChunkFeed) -> None:
        """A chunk starts executing: its path starts at the gripper's position now."""
        start = self._gripper_m()
        with self._lock:
            self._feed = feed
            self._start_m = None if start is None else np.asarray(start, dtype=float).copy()
            self._executed = 0

    def on_progress(self, steps_done: int) -> None:
        """The executor has completed ``steps_done`` steps of the running chunk."""
        with self._lock:
            self._executed = max(self._executed, int(steps_done))

    def on_chunk_end(self, feed: ChunkFeed, completed: bool) -> None:
        """The chunk's execution ended; a completed one executed every step."""
        with self._lock:
            if completed and feed is self._feed:
                self._executed = feed.count

    def execute(self, execute: Execute) -> Execute:
        """``execute`` (the loop's) that reports each chunk's start and end to this tracker."""

        def tracked(feed: ChunkFeed) -> tuple[bool, str]:
            self.on_feed(feed)
            completed, why = execute(feed)
            self.on_chunk_end(feed, completed)
            return completed, why

        return tracked

    def view(self) -> OverlayView:
        """The annotations for a frame taken now."""
        gripper = self._gripper_m()
        with self._lock:
            status, feed, start = self._status, self._feed, self._start_m
            executed, (verdict, done) = self._executed, self._verdict
        view = OverlayView(
            gripper_m=None if gripper is None else np.asarray(gripper, dtype=float),
            verdict=verdict,
            verdict_done=done,
        )
        if status is not None:
            index = status.current_index
            view = replace(
                view,
                state=status.state.name.lower(),
                subtask=status.subtasks[index] if 0 <= index < len(status.subtasks) else "",
                subtask_number=index + 1 if index >= 0 else 0,
                subtask_count=len(status.subtasks),
                plan=status.plan,
            )
        if feed is None:
            return view
        steps = feed.steps()
        if start is None:
            return replace(view, note="no joint states: the chunk's path is not drawn")
        path = np.vstack([start, start + np.cumsum(steps[:, :3], axis=0)])
        return replace(
            view, path_m=path, gripper_open=steps[:, 3].copy(), executed=min(executed, len(steps))
        )
