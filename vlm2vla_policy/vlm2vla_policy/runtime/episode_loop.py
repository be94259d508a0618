"""The paper's inference loop, ROS-free.

Subtasks once, then per subtask plan -> chunk -> execute -> verify, advancing when verified and
retrying a bounded number of times. The loop talks to the world through two callables, so a ROS
node, the simulator's evaluation and a notebook all run the same code: ``camera()`` returns the
latest RGB image and its age, and ``execute(feed)`` runs the chunk in a
:class:`~vlm2vla_policy.runtime.chunk_feed.ChunkFeed` on the robot and returns whether it
completed.

Streaming (``LoopConfig.streaming``, the default): ``execute`` starts, in a thread of its own, as
the chunk's generation starts; each step goes into the feed the moment the
:class:`~vlm2vla_policy.language.ChunkStreamReader` has read it whole and inside every bound, so
the arm moves while the rest is decoded. When the text turns malformed or stops, the feed closes
with the error: the steps already handed over stand, nothing more is added, and the cycle fails
with the raw text in ``last_error``. Without streaming the whole chunk is parsed first. Either way
malformed model output never reaches ``execute``.

Overlap: verification is asked the moment the motion ends, on the first image taken after it
(never on one from mid-motion); the next cycle's plan, too, only sees an image taken after the
last motion ended. The camera is watched during execution: an image older than
``image_timeout_s`` cancels the running chunk.
"""

from __future__ import annotations

import contextlib
import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from vlm2vla_policy.language import ActionStep, format_plan
from vlm2vla_policy.runtime.chunk_feed import ChunkFeed
from vlm2vla_policy.runtime.errors import OutputParseError, PolicyRuntimeError
from vlm2vla_policy.settings import setting, validate


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

    max_retries_per_subtask: int = setting(
        4, "extra cycles on a subtask (failed verification or bad output) before failing",
        low=0, high=100,
    )  # fmt: skip
    image_timeout_s: float = setting(
        1.0, "never act on an image older than this", unit="s", above=0.0
    )
    image_wait_s: float = setting(
        5.0, "wait this long (PAUSED) for a fresh image before failing", unit="s", low=0.0
    )
    verify: bool = setting(
        True, "ask the verifier after each executed chunk (false: advance without asking)"
    )
    max_subtasks: int = setting(
        10, "longest subtask list acted on (the rest is dropped, with a note)", low=1
    )
    streaming: bool = setting(
        True,
        "hand each chunk step to execution as soon as it is decoded (false: decode the whole "
        "chunk first, then execute it)",
    )
    raw_text_chars: int = setting(
        400, "longest piece of a failed answer quoted in last_error", unit="characters", low=0
    )

    def __post_init__(self) -> None:
        """Reject settings that would make the loop unbounded or blind."""
        validate(self)


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
ImageAge = Callable[[], float]  # age of the latest image, s (inf when there is none); cheap
Execute = Callable[[ChunkFeed], tuple[bool, str]]  # runs a chunk as it arrives: (completed, why)

_WATCH_PERIOD_S = 0.05  # how often the loop looks at the camera and the stop event meanwhile, s


class _StoppedError(Exception):
    """The stop event was set (a new instruction, the stop service, shutdown)."""


class _CancelledError(Exception):
    """The running chunk was cancelled (stale camera, or the executor ended it early)."""


class _Execution:
    """``execute(feed)`` running in a thread of its own, with its outcome."""

    def __init__(self, execute: Execute, feed: ChunkFeed) -> None:
        self.feed = feed
        self.outcome: tuple[bool, str] = (False, "the execution did not report")
        self.ended_s = 0.0
        self._thread = threading.Thread(target=self._run, args=(execute,), daemon=True)
        self._thread.start()

    def _run(self, execute: Execute) -> None:
        try:
            self.outcome = execute(self.feed)
        finally:
            self.ended_s = time.monotonic()
            if not self.feed.closed:  # ended before the chunk was whole: the decoder stops
                self.feed.cancel(f"the execution ended early: {self.outcome[1]}")

    def join(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s``; True when the execution has ended."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()


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
        image_age: ImageAge | None = None,
    ) -> None:
        self.policy = policy
        self.camera = camera
        self.image_age = image_age or (lambda: camera()[1])
        self.execute = execute
        self.config = config or LoopConfig()
        self.on_status = on_status
        self.on_chunk = on_chunk
        self.status = LoopStatus(instruction="")
        self._motion_end_s = 0.0  # when the last motion ended (monotonic, s); 0 before any

    def run(self, instruction: str, stop: threading.Event) -> LoopResult:
        """Carry out ``instruction`` until done, failed or ``stop`` is set."""
        self.policy.reset()
        self._motion_end_s = 0.0
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
        if not self.config.verify:
            why = "done (not verified): every subtask's chunk executed; no verifier was asked"
            return self._end(LoopState.DONE, True, why)
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
        image = self._fresh_image(stop, taken_after_s=self._motion_end_s)
        self._set(replace(self.status, state=LoopState.ACTING))
        plan = self._stage(
            "plan", lambda: self.policy.plan(image, subtask, instruction=instruction)
        )
        if plan is None:
            return False
        plan_text = format_plan(plan.value)
        self._set(replace(self.status, plan=plan_text))
        feed = ChunkFeed(instruction, subtask, self.status.current_index, plan_text)
        run = self._stream_chunk if self.config.streaming else self._whole_chunk
        completed, motion_end_s = run(image, plan.value, feed, stop)
        self._motion_end_s = max(self._motion_end_s, motion_end_s)
        if not completed:
            return False
        if not self.config.verify:
            return True
        after = self._fresh_image(stop, taken_after_s=motion_end_s)
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

    def _whole_chunk(
        self, image: np.ndarray, plan, feed: ChunkFeed, stop: threading.Event
    ) -> tuple[bool, float]:
        """Sequential: parse the whole chunk, then execute it. (completed, motion end time)."""
        chunk = self._stage(
            "chunk",
            lambda: self.policy.chunk(image, feed.subtask, plan, instruction=feed.instruction),
        )
        if chunk is None or not chunk.value:
            return False, 0.0
        feed.append(steps_array(chunk.value))
        feed.close()
        self._timed("first_step", time.monotonic() - feed.started_s)
        self.on_chunk(self._decision(feed, chunk.raw_text))
        self._check(stop)
        self._set(replace(self.status, state=LoopState.EXECUTING))
        return self._await(_Execution(self.execute, feed), _Watch(self, feed, stop))

    def _stream_chunk(
        self, image: np.ndarray, plan, feed: ChunkFeed, stop: threading.Event
    ) -> tuple[bool, float]:
        """Streaming: execute each step as soon as it is read. (completed, motion end time)."""
        reader = self.policy.chunk_reader()
        watch = _Watch(self, feed, stop)
        runs: list[_Execution] = []  # the execution, started with the first step

        def on_text(piece: str) -> None:
            watch.check()
            steps = reader.feed(piece)
            if steps:
                feed.append(steps_array(steps))
                if not runs:
                    self._timed("first_step", time.monotonic() - feed.started_s)
                    self._set(replace(self.status, state=LoopState.EXECUTING))
                    runs.append(_Execution(self.execute, feed))
            if reader.error is not None:
                raise reader.error

        started = time.monotonic()
        failure = ""
        try:
            self.policy.chunk(
                image, feed.subtask, plan, instruction=feed.instruction, on_text=on_text
            )
        except _CancelledError:
            pass  # the execution ended, or the loop cancelled: _await says why
        except OutputParseError as err:
            failure = self._failed_text(err.cause, len(reader.steps), reader.text)
        except (_StoppedError, PolicyRuntimeError) as err:
            feed.cancel("stopped" if isinstance(err, _StoppedError) else str(err))
            for run in runs:
                run.join(None)
            if isinstance(err, _StoppedError):
                raise
            raise _FailedError(f"chunk failed: {err}") from err
        self._timed("chunk", time.monotonic() - started)
        feed.close(error=failure)
        if failure:
            self._set(replace(self.status, last_error=failure))
        if not runs:
            return False, 0.0
        self.on_chunk(self._decision(feed, reader.text))
        completed, motion_end_s = self._await(runs[0], watch)
        return completed and not failure, motion_end_s

    def _await(self, execution: _Execution, watch: _Watch) -> tuple[bool, float]:
        """Wait for the execution, watching the camera and the stop event meanwhile."""
        started = time.monotonic()
        while not execution.join(_WATCH_PERIOD_S):
            with contextlib.suppress(_StoppedError, _CancelledError):
                watch.check()  # cancels the feed: the execution ends shortly
        self._timed("execute", time.monotonic() - started)
        self._check(watch.stop)
        completed, reason = execution.outcome
        if not completed:
            why = f"{watch.reason} ({reason})" if watch.reason else reason
            self._set(replace(self.status, last_error=f"chunk not completed: {why}"))
        return completed, execution.ended_s

    def _decision(self, feed: ChunkFeed, raw_text: str) -> ChunkDecision:
        return ChunkDecision(
            feed.instruction, feed.subtask, feed.subtask_index, feed.plan, raw_text, feed.steps()
        )

    def _failed_text(self, cause: Exception, executed: int, raw_text: str) -> str:
        limit = self.config.raw_text_chars
        quoted = raw_text if len(raw_text) <= limit else raw_text[:limit] + "..."
        return (
            f"chunk: the answer turned malformed or stopped after {executed} step(s) "
            f"(those stand, nothing more moves): {cause}; raw text: {quoted!r}"
        )

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

    def _fresh_image(self, stop: threading.Event, taken_after_s: float = 0.0) -> np.ndarray:
        """The latest image if younger than ``image_timeout_s``; waits (PAUSED) otherwise.

        With ``taken_after_s`` (monotonic, s) only an image taken at or after that time counts
        (the image after a motion, for verification).
        """
        deadline = time.monotonic() + self.config.image_wait_s
        previous = self.status.state
        while True:
            self._check(stop)
            image, age_s = self.camera()
            taken_s = time.monotonic() - age_s
            if (
                image is not None
                and age_s <= self.config.image_timeout_s
                and taken_s >= taken_after_s
            ):
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


class _Watch:
    """Looks at the stop event and the camera while a chunk runs (at most every 50 ms)."""

    def __init__(self, loop: EpisodeLoop, feed: ChunkFeed, stop: threading.Event) -> None:
        self.loop, self.feed, self.stop = loop, feed, stop
        self.next_s = 0.0
        self.reason = ""  # why this watch cancelled the chunk ("" when it did not)

    def check(self) -> None:
        """Cancel the feed and raise when stopped, the camera went stale, or it was cancelled."""
        if self.stop.is_set():
            self.reason = self.reason or "stopped"
            self.feed.cancel("stopped")
            raise _StoppedError
        now = time.monotonic()
        if now >= self.next_s:
            self.next_s = now + _WATCH_PERIOD_S
            age_s = self.loop.image_age()
            limit = self.loop.config.image_timeout_s
            if not age_s <= limit and not self.reason:  # NaN counts as stale
                self.reason = (
                    f"camera stale during execution: the latest image is {age_s:.1f} s old "
                    f"(image_timeout_s {limit} s)"
                )
                self.feed.cancel(self.reason)
        if self.feed.cancelled:
            raise _CancelledError(self.feed.cancelled)
