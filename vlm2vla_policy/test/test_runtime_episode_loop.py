"""The episode loop: stage order, retries, stale images, stop, and bad output never executed."""

import threading

import numpy as np
import pytest

from vlm2vla_policy.language import ActionStep, MotionPlan, Verdict, parse_plan
from vlm2vla_policy.runtime import ModelConfig, OutputParseError, PolicyConfig, make_policy
from vlm2vla_policy.runtime.episode_loop import EpisodeLoop, LoopConfig, LoopState

IMAGE = np.zeros((32, 32, 3), np.uint8)


class Result:
    def __init__(self, value, raw_text: str = "") -> None:
        self.value = value
        self.raw_text = raw_text


class ScriptedPolicy:
    """A policy double that answers from scripts (the loop is under test, not the model)."""

    def __init__(self, verdicts: list[bool], bad_chunks: int = 0) -> None:
        self.verdicts = list(verdicts)
        self.bad_chunks = bad_chunks
        self.calls: list[str] = []

    def reset(self) -> None:
        self.calls.append("reset")

    def subtasks(self, image, instruction):
        self.calls.append("subtasks")
        return Result(["grasp the block", "lift the block"])

    def plan(self, image, subtask, *, instruction) -> Result:
        self.calls.append("plan")
        return Result(parse_plan("move down"))

    def chunk(self, image, subtask, plan: MotionPlan, *, instruction) -> Result:
        self.calls.append("chunk")
        if self.bad_chunks:
            self.bad_chunks -= 1
            raise OutputParseError("chunk", 3, "[[1.0, 2.0]", ValueError("wrong arity"))
        return Result([ActionStep(0.0, 0.0, -0.02, 1)], "[[0.0, 0.0, -2.0, 1]]")

    def verify(self, before, after, subtask, following) -> Result:
        self.calls.append("verify")
        return Result(Verdict(self.verdicts.pop(0), ""))


def run_loop(policy, camera=lambda: (IMAGE, 0.0), config=None, stop=None):
    executed, states = [], []
    loop = EpisodeLoop(
        policy, camera, lambda d: (executed.append(d) or True, "done"), config or LoopConfig(),
        on_status=lambda s: states.append(s.state),
    )  # fmt: skip
    result = loop.run("pick up the block", stop or threading.Event())
    return result, executed, states, loop.status


def test_subtasks_once_then_plan_chunk_execute_verify_per_subtask():
    policy = ScriptedPolicy(verdicts=[True, True])
    result, executed, states, status = run_loop(policy)
    assert result.success
    assert policy.calls == ["reset", "subtasks"] + ["plan", "chunk", "verify"] * 2
    assert len(executed) == 2
    np.testing.assert_allclose(executed[0].steps, [[0.0, 0.0, -0.02, 1.0]])
    assert executed[0].raw_text == "[[0.0, 0.0, -2.0, 1]]"
    assert states[0] is LoopState.PLANNING
    assert {LoopState.ACTING, LoopState.EXECUTING, LoopState.VERIFYING} <= set(states)
    assert states[-1] is LoopState.DONE
    assert status.stage_s.keys() >= {"subtasks", "plan", "chunk", "execute", "verify"}


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
    for decision in executed:
        assert decision.steps.ndim == 2
        assert decision.steps.shape[1] == 4
        assert np.all(np.abs(decision.steps[:, :3]) <= 0.1)
