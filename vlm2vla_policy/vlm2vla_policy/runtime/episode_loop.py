"""The paper's inference loop, ROS-free.

Subtasks once, then per subtask plan -> chunk -> execute -> verify, advancing when verified and
retrying a bounded number of times. The loop talks to the world through two callables, so a ROS
node, the simulator's evaluation and a notebook all run the same code: ``camera()`` returns the
latest RGB image and its age, and ``execute(decision)`` runs a chunk on the robot and returns
whether it completed. Malformed model output never reaches ``execute``: the
:class:`~vlm2vla_policy.runtime.policy.Policy` returns only parsed values, and an output that
cannot be parsed counts as a retry.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from vlm2vla_policy.language import ActionStep, format_plan
from vlm2vla_policy.runtime.errors import OutputParseError, PolicyRuntimeError


class LoopState(enum.IntEnum):
    """States of the loop; the values equal ``vlm2vla_msgs/PolicyStatus`` constants."""

    IDLE = 0
    PLANNING = 1
    ACTING = 2
    EXECUTING = 3
    VERIFYING = 4
    DONE = 5
    FAILED = 6
    PAUSED = 7
    STOPPED = 8


@dataclass(frozen=True)
class LoopConfig:
    """How the loop runs an instruction."""

    max_retries_per_subtask: int = 4  # extra cycles on one subtask (failed verify or bad output)
    image_timeout_s: float = 1.0  # an image older than this is stale: never act on it, s
    image_wait_s: float = 5.0  # how long to wait (PAUSED) for a fresh image before failing, s
    verify: bool = True  # False: advance after each executed chunk without asking the verifier
    max_subtasks: int = 10  # longest subtask list acted on (the rest is dropped, with a note)

    def __post_init__(self) -> None:
        """Reject settings that would make the loop unbounded or blind."""
        if self.max_retries_per_subtask < 0:
            raise ValueError("max_retries_per_subtask must be >= 0")
        if self.image_timeout_s <= 0 or self.image_wait_s < 0:
            raise ValueError("image_timeout_s must be > 0 and image_wait_s >= 0")
        if self.max_subtasks < 1:
            raise ValueError("max_subtasks must be >= 1")


@dataclass(frozen=True)
class LoopStatus:
    """A snapshot of the loop, published on every change."""

    instruction: str
    state: LoopState = LoopState.IDLE
    subtasks: tuple[str, ...] = ()
    current_index: int = -1  # 0-based; -1 before the subtask list exists
    plan: str = ""  # the current motion plan
    retries: int = 0  # retries on the current subtask
    total_retries: int = 0  # retries in the whole episode
    last_error: str = ""
    stage_s: dict[str, float] = field(default_factory=dict)  # last time of each stage, s
    last_cycle_s: float = 0.0  # last plan + chunk + execute + verify, s


@dataclass(frozen=True)
class ChunkDecision:
    """A chunk the loop decided to execute, with what it was conditioned on (for audit)."""

    instruction: str
    subtask: str
    subtask_index: int
    plan: str
    raw_text: str  # the model's text for the chunk stage
    steps: np.ndarray  # (N, 4) [dx, dy, dz (m, base frame), gripper 1 open / 0 closed]


@dataclass(frozen=True)
class LoopResult:
    """How an instruction ended."""

    success: bool
    message: str
    subtasks: tuple[str, ...]


Camera = Callable[[], tuple[np.ndarray | None, float]]  # latest RGB image and its age, s
Execute = Callable[[ChunkDecision], tuple[bool, str]]  # runs a chunk: (completed, reason)


class _StoppedError(Exception):
    """The stop event was set (a new instruction, the stop service, shutdown)."""


def steps_array(steps: list[ActionStep]) -> np.ndarray:
    """(N, 4) array of action steps (metres, base frame; gripper 0/1)."""
    return np.array([[s.dx_m, s.dy_m, s.dz_m, s.gripper] for s in steps], dtype=float)


class EpisodeLoop:
    """Runs one instruction at a time with a :class:`Policy` (or anything with its methods)."""

    def __init__(
        self,
        policy,
        camera: Camera,
        execute: Execute,
        config: LoopConfig | None = None,
        *,
        on_status: Callable[[LoopStatus], None] = lambda _: None,
        on_chunk: Callable[[ChunkDecision], None] = lambda _: None,
    ) -> None:
        self.policy = policy
        self.camera = camera
        self.execute = execute
        self.config = config or LoopConfig()
        self.on_status = on_status
        self.on_chunk = on_chunk
        self.status = LoopStatus(instruction="")

    def run(self, instruction: str, stop: threading.Event) -> LoopResult:
        """Carry out ``instruction`` until done, failed or ``stop`` is set."""
        self.policy.reset()
        self._set(LoopStatus(instruction=instruction, state=LoopState.PLANNING))
        try:
            subtasks = self._subtasks(instruction, stop)
            for index, subtask in enumerate(subtasks):
                self._set(replace(self.status, current_index=index, retries=0, plan=""))
                following = subtasks[index + 1] if index + 1 < len(subtasks) else None
                self._do_subtask(instruction, subtask, following, stop)
        except _StoppedError:
            return self._end(LoopState.STOPPED, False, "stopped")
        except _FailedError as failure:
            return self._end(LoopState.FAILED, False, str(failure))
        return self._end(LoopState.DONE, True, "done: every subtask verified")

    def _subtasks(self, instruction: str, stop: threading.Event) -> tuple[str, ...]:
        image = self._fresh_image(stop)
        result = self._stage("subtasks", lambda: self.policy.subtasks(image, instruction))
        if result is None:
            raise _FailedError(f"could not write a subtask list: {self.status.last_error}")
        subtasks = tuple(result.value[: self.config.max_subtasks])
        self._set(replace(self.status, subtasks=subtasks))
        return subtasks

    def _do_subtask(
        self, instruction: str, subtask: str, following: str | None, stop: threading.Event
    ) -> None:
        while True:
            started = time.monotonic()
            if self._cycle(instruction, subtask, following, stop):
                self._set(replace(self.status, last_cycle_s=time.monotonic() - started))
                return
            self._set(replace(self.status, last_cycle_s=time.monotonic() - started))
            if self.status.retries >= self.config.max_retries_per_subtask:
                raise _FailedError(
                    f"subtask {subtask!r} not done after {self.status.retries + 1} tries: "
                    f"{self.status.last_error}"
                )
            self._set(
                replace(
                    self.status,
                    retries=self.status.retries + 1,
                    total_retries=self.status.total_retries + 1,
                )
            )

    def _cycle(
        self, instruction: str, subtask: str, following: str | None, stop: threading.Event
    ) -> bool:
        """One plan -> chunk -> execute -> verify cycle; True when the subtask is done."""
        image = self._fresh_image(stop)
        self._set(replace(self.status, state=LoopState.ACTING))
        plan = self._stage(
            "plan", lambda: self.policy.plan(image, subtask, instruction=instruction)
        )
        if plan is None:
            return False
        plan_text = format_plan(plan.value)
        self._set(replace(self.status, plan=plan_text))
        chunk = self._stage(
            "chunk",
            lambda: self.policy.chunk(image, subtask, plan.value, instruction=instruction),
        )
        if chunk is None or not chunk.value:
            return False
        decision = ChunkDecision(
            instruction, subtask, self.status.current_index, plan_text, chunk.raw_text,
            steps_array(chunk.value),
        )  # fmt: skip
        self.on_chunk(decision)
        self._check(stop)
        self._set(replace(self.status, state=LoopState.EXECUTING))
        started = time.monotonic()
        completed, reason = self.execute(decision)
        self._timed("execute", time.monotonic() - started)
        self._check(stop)
        if not completed:
            self._set(replace(self.status, last_error=f"chunk not completed: {reason}"))
            return False
        if not self.config.verify:
            return True
        after = self._fresh_image(stop)
        self._set(replace(self.status, state=LoopState.VERIFYING))
        verdict = self._stage(
            "verify", lambda: self.policy.verify(image, after, subtask, following)
        )
        if verdict is None:
            return False
        if not verdict.value.done:
            why = verdict.value.reason or "the verifier said no"
            self._set(replace(self.status, last_error=f"subtask not done yet: {why}"))
        return verdict.value.done

    def _stage(self, name: str, call):
        """Run a policy stage; None (with last_error set) when its output could not be parsed."""
        started = time.monotonic()
        try:
            result = call()
        except OutputParseError as err:
            self._timed(name, time.monotonic() - started)
            self._set(replace(self.status, last_error=f"{name}: {err}"))
            return None
        except PolicyRuntimeError as err:
            raise _FailedError(f"{name} failed: {err}") from err
        self._timed(name, time.monotonic() - started)
        return result

    def _fresh_image(self, stop: threading.Event) -> np.ndarray:
        """The latest image if younger than ``image_timeout_s``; waits (PAUSED) otherwise."""
        deadline = time.monotonic() + self.config.image_wait_s
        previous = self.status.state
        while True:
            self._check(stop)
            image, age_s = self.camera()
            if image is not None and age_s <= self.config.image_timeout_s:
                if self.status.state is LoopState.PAUSED:
                    self._set(replace(self.status, state=previous))
                return image
            if time.monotonic() >= deadline:
                what = "no image" if image is None else f"the latest image is {age_s:.1f} s old"
                raise _FailedError(
                    f"stale image: {what} (limit {self.config.image_timeout_s} s); "
                    "check the camera topic"
                )
            if self.status.state is not LoopState.PAUSED:
                self._set(replace(self.status, state=LoopState.PAUSED))
            stop.wait(0.05)

    def _timed(self, stage: str, seconds: float) -> None:
        self._set(replace(self.status, stage_s={**self.status.stage_s, stage: seconds}))

    def _check(self, stop: threading.Event) -> None:
        if stop.is_set():
            raise _StoppedError

    def _set(self, status: LoopStatus) -> None:
        changed = status.state != self.status.state or status != self.status
        self.status = status
        if changed:
            self.on_status(status)

    def _end(self, state: LoopState, success: bool, message: str) -> LoopResult:
        error = "" if success else message
        self._set(replace(self.status, state=state, last_error=error or self.status.last_error))
        return LoopResult(success, message, self.status.subtasks)


class _FailedError(Exception):
    """The instruction cannot be completed; the message says why."""
