"""The episode loop: stage order, retries, stale images, stop, and bad output never executed.

Both execution modes: sequential (the whole chunk parsed, then executed) and streaming (each step
handed to the executor as soon as its text is complete, while the rest is decoded).
"""

import threading
import time

import numpy as np
import pytest

from vlm2vla_policy.language import ChunkStreamReader, MotionPlan, Verdict, parse_plan
from vlm2vla_policy.runtime import ModelConfig, OutputParseError, PolicyConfig, make_policy
from vlm2vla_policy.runtime.episode_loop import EpisodeLoop, LoopConfig, LoopState

IMAGE = np.zeros((32, 32, 3), np.uint8)


class Result:
    def __init__(self, value, raw_text: str = "") -> None:
        self.value = value
        self.raw_text = raw_text


class ScriptedPolicy:
    """A policy double that answers from scripts (the loop is under test, not the model)."""

    def __init__(
        self,
        verdicts: list[bool],
        bad_chunks: int = 0,
        chunk_text: str = "[[0.0, 0.0, -2.0, 1]]",
        char_delay_s: float = 0.0,
    ) -> None:
        self.verdicts = list(verdicts)
        self.bad_chunks = bad_chunks
        self.chunk_text = chunk_text
        self.char_delay_s = char_delay_s
        self.calls: list[str] = []
        self.chunk_written_s = 0.0  # when the last chunk's text was complete
        self.verified_after: list[np.ndarray] = []

    def chunk_reader(self) -> ChunkStreamReader:
        return ChunkStreamReader()

    def reset(self) -> None:
        self.calls.append("reset")

    def subtasks(self, image, instruction):
        self.calls.append("subtasks")
        return Result(["grasp the block", "lift the block"])

    def plan(self, image, subtask, *, instruction) -> Result:
        self.calls.append("plan")
        return Result(parse_plan("move down"))

    def chunk(self, image, subtask, plan: MotionPlan, *, instruction, on_text=None) -> Result:
        self.calls.append("chunk")
        text = self.chunk_text
        if self.bad_chunks:
            self.bad_chunks -= 1
            text = "[[1.0, 2.0]"
        if on_text is not None:
            try:
                for char in text:
                    time.sleep(self.char_delay_s)
                    on_text(char)
            except ValueError as err:  # the loop's reader stopped a malformed answer
                raise OutputParseError("chunk", 1, text, err) from err
        self.chunk_written_s = time.monotonic()
        reader = ChunkStreamReader()
        try:
            reader.feed(text)
            return Result(reader.finish(), text)
        except ValueError as err:
            raise OutputParseError("chunk", 1, text, err) from err

    def verify(self, before, after, subtask, following) -> Result:
        self.calls.append("verify")
        self.verified_after.append(after)
        return Result(Verdict(self.verdicts.pop(0), ""))


class Executor:
    """``execute(feed)``: takes steps as they arrive, a period per step, and records them."""

    def __init__(self, period_s: float = 0.0) -> None:
        self.period_s = period_s
        self.chunks: list[np.ndarray] = []
        self.first_step_s: list[float] = []
        self.feeds = []
        self.decisions = []  # what the loop published for audit (on_chunk)

    def __call__(self, feed) -> tuple[bool, str]:
        self.feeds.append(feed)
        done = 0
        while True:
            feed.wait(done)
            if feed.cancelled:
                self.chunks.append(feed.steps()[:done])
                return False, f"cancelled: {feed.cancelled}"
            if feed.count > done:
                if done == 0:
                    self.first_step_s.append(time.monotonic())
                done += 1
                time.sleep(self.period_s)
            elif feed.closed:
                self.chunks.append(feed.steps())
                return True, "done"


def run_loop(  # noqa: PLR0917 (the tests name what they change)
    policy,
    camera=lambda: (IMAGE, 0.0),
    config=None,
    stop=None,
    executor=None,
    image_age=None,
):
    executor = executor or Executor()
    states = []
    loop = EpisodeLoop(
        policy, camera, executor, config or LoopConfig(streaming=False),
        on_status=lambda s: states.append(s.state), on_chunk=executor.decisions.append,
        image_age=image_age,
    )  # fmt: skip
    result = loop.run("pick up the block", stop or threading.Event())
    return result, executor.chunks, states, loop.status


def test_subtasks_once_then_plan_chunk_execute_verify_per_subtask():
    policy = ScriptedPolicy(verdicts=[True, True])
    executor = Executor()
    result, executed, states, status = run_loop(policy, executor=executor)
    assert result.success
    assert policy.calls == ["reset", "subtasks"] + ["plan", "chunk", "verify"] * 2
    assert [d.raw_text for d in executor.decisions] == ["[[0.0, 0.0, -2.0, 1]]"] * 2
    assert len(executed) == 2
    np.testing.assert_allclose(executed[0], [[0.0, 0.0, -0.02, 1.0]])
    assert states[0] is LoopState.PLANNING
    assert {LoopState.ACTING, LoopState.EXECUTING, LoopState.VERIFYING} <= set(states)
    assert states[-1] is LoopState.DONE
    assert status.stage_s.keys() >= {"subtasks", "plan", "chunk", "execute", "verify"}
    assert result.message == "done: every subtask verified"


def test_done_without_a_verifier_says_not_verified():
    policy = ScriptedPolicy(verdicts=[])
    result, executed, states, _ = run_loop(policy, config=LoopConfig(streaming=False, verify=False))
    assert result.success and states[-1] is LoopState.DONE
    assert "verify" not in policy.calls and len(executed) == 2
    assert result.message.startswith("done (not verified)"), result.message
    assert "verified" not in result.message.replace("not verified", "")


def test_failed_verification_retries_and_is_bounded():
    policy = ScriptedPolicy(verdicts=[False, False, True, False, False, False])
    result, executed, _, status = run_loop(policy, config=LoopConfig(max_retries_per_subtask=2))
    assert not result.success
    assert "'lift the block' not done after 3 tries" in result.message
    assert len(executed) == 6
    assert status.state is LoopState.FAILED
    assert status.total_retries == 4


def test_unparseable_chunks_are_retried_and_never_executed():
    policy = ScriptedPolicy(verdicts=[True, True], bad_chunks=2)
    result, executed, _, status = run_loop(policy)
    assert result.success
    assert len(executed) == 2
    assert status.total_retries == 2
    failing = ScriptedPolicy(verdicts=[], bad_chunks=100)
    result, executed, _, _ = run_loop(failing, config=LoopConfig(max_retries_per_subtask=1))
    assert not result.success
    assert "chunk" in result.message
    assert executed == []


def test_stale_images_pause_then_fail_without_acting():
    policy = ScriptedPolicy(verdicts=[True, True])
    config = LoopConfig(image_timeout_s=0.5, image_wait_s=0.2)
    result, executed, states, _ = run_loop(policy, camera=lambda: (IMAGE, 3.0), config=config)
    assert not result.success
    assert "stale image" in result.message
    assert LoopState.PAUSED in states
    assert executed == []
    assert policy.calls == ["reset"]


def test_stop_event_ends_the_instruction():
    stop = threading.Event()
    stop.set()
    result, executed, states, _ = run_loop(ScriptedPolicy(verdicts=[]), stop=stop)
    assert not result.success
    assert states[-1] is LoopState.STOPPED
    assert executed == []


@pytest.mark.slow
def test_the_real_policy_on_a_tiny_model_completes_or_fails_cleanly(tiny_gemma3_dir):
    policy = make_policy(PolicyConfig(model=ModelConfig(model=str(tiny_gemma3_dir)), seed=0))
    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    result, executed, states, status = run_loop(
        policy, camera=lambda: (image, 0.0), config=LoopConfig(max_retries_per_subtask=1)
    )
    assert states[-1] in (LoopState.DONE, LoopState.FAILED)
    assert result.success == (states[-1] is LoopState.DONE)
    assert status.subtasks, "the subtask stage always parses under constrained decoding"
    for steps in executed:
        assert steps.ndim == 2
        assert steps.shape[1] == 4
        assert np.all(np.abs(steps[:, :3]) <= 0.1)


STREAMING = LoopConfig(streaming=True, max_retries_per_subtask=0)
SIX_STEPS = "[" + ", ".join(f"[{i}.0, 0.0, 0.0, 1]" for i in range(1, 7)) + "]"


def test_streaming_hands_the_first_step_over_before_the_chunk_is_written():
    policy = ScriptedPolicy(verdicts=[True, True], chunk_text=SIX_STEPS, char_delay_s=0.005)
    executor = Executor(period_s=0.01)
    result, executed, states, status = run_loop(policy, config=STREAMING, executor=executor)
    assert result.success, result.message
    assert executor.first_step_s[0] < policy.chunk_written_s - 0.1, "the arm waited for the text"
    np.testing.assert_allclose(executed[0][:, 0], [0.01 * i for i in range(1, 7)])
    assert status.stage_s["first_step"] < status.stage_s["chunk"] / 2
    assert executor.decisions[0].raw_text == SIX_STEPS
    assert LoopState.EXECUTING in states


def test_streaming_malformed_after_two_steps_executes_exactly_two_and_fails_with_the_text():
    text = "[[1.0, 0.0, 0.0, 1], [2.0, 0.0, 0.0, 1], [oops, 0, 0, 1]]"
    policy = ScriptedPolicy(verdicts=[True], chunk_text=text, char_delay_s=0.001)
    executor = Executor()
    result, executed, _, status = run_loop(policy, config=STREAMING, executor=executor)
    assert not result.success
    assert len(executed) == 1
    np.testing.assert_allclose(executed[0][:, 0], [0.01, 0.02])
    assert executor.feeds[0].error, "the feed closed with the reason"
    assert "after 2 step(s)" in status.last_error
    assert "[2.0, 0.0, 0.0, 1], [o" in status.last_error, "the status quotes the raw text"
    assert policy.calls.count("chunk") == 1, "a streamed chunk is not silently retried"


def test_streaming_a_malformed_first_step_executes_nothing():
    policy = ScriptedPolicy(verdicts=[], chunk_text="[[1.0, 2.0], [nan, 0, 0, 1]]")
    executor = Executor()
    result, executed, _, status = run_loop(policy, config=STREAMING, executor=executor)
    assert not result.success
    assert executed == [], "no execution starts before a step is complete"
    assert "after 0 step(s)" in status.last_error


def test_a_camera_that_goes_stale_during_execution_cancels_the_chunk():
    policy = ScriptedPolicy(verdicts=[True], chunk_text=SIX_STEPS)
    executor = Executor(period_s=0.2)
    started = time.monotonic()

    def image_age() -> float:  # the camera dies 0.3 s into the episode
        return 0.0 if time.monotonic() - started < 0.3 else time.monotonic() - started - 0.3

    config = LoopConfig(streaming=True, max_retries_per_subtask=0, image_timeout_s=0.5)
    result, executed, _, status = run_loop(
        policy, config=config, executor=executor, image_age=image_age
    )
    assert not result.success
    cancelled = executor.feeds[0].cancelled
    assert "camera stale" in cancelled
    assert len(executed[0]) < 6, "the chunk ran to its end after the camera died"
    assert "camera stale" in status.last_error


def test_stop_during_a_streamed_chunk_cancels_it():
    policy = ScriptedPolicy(verdicts=[], chunk_text=SIX_STEPS, char_delay_s=0.01)
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    executor = Executor(period_s=0.05)
    result, _, states, _ = run_loop(policy, config=STREAMING, stop=stop, executor=executor)
    assert not result.success
    assert states[-1] is LoopState.STOPPED
    assert executor.feeds and executor.feeds[0].cancelled == "stopped"


class FrameAfterMotion(Executor):
    """An executor whose camera shows a new frame (pixels = chunks run) 0.2 s after a motion."""

    def __init__(self) -> None:
        super().__init__()
        self.frame = (IMAGE, time.monotonic())  # (image, monotonic time it was taken)

    def camera(self) -> tuple[np.ndarray, float]:
        image, taken_s = self.frame
        return image, time.monotonic() - taken_s

    def __call__(self, feed) -> tuple[bool, str]:
        outcome = super().__call__(feed)
        after = np.full_like(IMAGE, len(self.chunks))

        def new_frame() -> None:
            self.frame = (after, time.monotonic())

        threading.Timer(0.2, new_frame).start()  # the next camera frame, after the motion
        return outcome


def test_verification_waits_for_an_image_taken_after_the_motion():
    policy = ScriptedPolicy(verdicts=[True, True])
    executor = FrameAfterMotion()
    result, _, _, _ = run_loop(policy, camera=executor.camera, executor=executor)
    assert result.success
    assert [int(img[0, 0, 0]) for img in policy.verified_after] == [1, 2]


def test_without_verification_the_next_plan_sees_an_image_taken_after_the_motion():
    policy = ScriptedPolicy(verdicts=[])
    planned: list[int] = []
    plan = policy.plan

    def recording_plan(image, subtask, *, instruction):
        planned.append(int(image[0, 0, 0]))
        return plan(image, subtask, instruction=instruction)

    policy.plan = recording_plan
    executor = FrameAfterMotion()
    config = LoopConfig(streaming=False, verify=False)
    result, _, _, _ = run_loop(policy, camera=executor.camera, config=config, executor=executor)
    assert result.success
    assert planned == [int(IMAGE[0, 0, 0]), 1], "the second plan saw an image from mid-motion"
