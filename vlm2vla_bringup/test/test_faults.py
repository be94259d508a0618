"""Fault injection on a real ROS graph: one test per fault, each measuring what the arm did.

Every node is a process on real DDS (graph_harness.py): fake Interbotix driver, controller_node,
policy_node (remote backend on a scripted model), a bag-player camera; the test's observer
records every arm and gripper command, policy_node's lease messages, joint states, camera images,
the controller's goal outcomes and the policy status, each with its receipt time. Each test
injects one fault, then asserts the commands published after it, the time from the fault (or
from the last valid input) to the last command, and the final status; and that no publisher sent
anything more than 0.5 s after its input went stale. It prints one ``FAULT`` line with the
measurements (also recorded as junit properties): docs/faults.md tabulates them, and the last
test checks that its table names every test here.

Home with the driver dead is test_nodes_controller's
test_home_with_the_driver_dead_fails_within_a_second_and_commands_nothing_after (controller and
driver only); the instruction counts of a 1000-burst without a camera are
test_nodes_policy_status's.
"""

import re
import time
from pathlib import Path

import pytest
from graph_harness import (
    ALL,
    DDS_MARGIN_S,
    IMAGE_TIMEOUT_S,
    LEASE_TIMEOUT_S,
    LONG,
    PERIOD_S,
    SIX_STEPS,
    TASK,
    Observer,
    ScriptedModel,
    after,
    wait_until,
)
from std_msgs.msg import String
from std_srvs.srv import Trigger

ROOT = Path(__file__).resolve().parents[2]
STALE_BOUND_S = 0.5  # the acceptance bound: nothing more than this after an input went stale
NEW_TASK = "put the carrot on the plate"
NEW_SUBTASKS_DELAY_S = 1.0  # the new instruction's subtask list comes this late (see TwoTasks)


def report(record_property, fault: str, observer: Observer, final=None, **measured) -> None:
    """Print the fault's measurements in one line (docs/faults.md) and record them.

    The controller's goal outcomes are added, and the state and error of ``final`` (a status).
    """
    measured["goals"] = ",".join(observer.goal_outcomes())
    if final is not None:
        measured.update(status=final.state_name, last_error=final.last_error[:120])
    for key, value in measured.items():
        record_property(key, value)
    print(f"\nFAULT {fault}: " + "; ".join(f"{k}={v}" for k, v in measured.items()))


def counted(what: str, times: list[float], t_s: float) -> dict[str, object]:
    """How many of ``times`` are later than ``t_s``, and the last of them relative to it (s)."""
    later = after(times, t_s)
    last = f"{later[-1] - t_s:+.2f}" if later else "none"
    return {f"{what}_after": len(later), f"last_{what}_s": last}


def assert_quiet(times: list[float], stale_s: float, what: str) -> None:
    """Nothing in ``times`` later than STALE_BOUND_S (plus delivery) after ``stale_s``."""
    late = after(times, stale_s + STALE_BOUND_S + DDS_MARGIN_S)
    assert not late, (
        f"{len(late)} {what} more than {STALE_BOUND_S} s after the input went stale, the last "
        f"{late[-1] - stale_s:.2f} s after"
    )


def moving(graph, model: ScriptedModel, *params: str, driver: tuple[str, ...] = ()) -> Observer:
    """Start the graph, say TASK and wait until the arm has moved 3 periods."""
    graph.start(model, *params, driver=driver)
    observer = graph.observer
    observer.wait_ready()
    observer.say()
    wait_until(lambda: len(observer.commands) >= 3, 60.0, "the arm to move")
    return observer


def call(observer: Observer, service: str) -> Trigger.Response:
    client = observer.node.create_client(Trigger, service)
    assert client.wait_for_service(timeout_sec=10.0), f"{service} never appeared"
    future = client.call_async(Trigger.Request())
    wait_until(future.done, 10.0, service)
    return future.result()


def arm_and_gripper_stopped(record_property, fault: str, observer: Observer, stale_s, final):
    """Report the arm and gripper commands after the last valid joint state (``stale_s``);
    assert both stopped within STALE_BOUND_S of it."""
    report(
        record_property, fault, observer, final, **counted("arm", observer.commands, stale_s),
        **counted("gripper", observer.gripper, stale_s),
    )  # fmt: skip
    assert_quiet(observer.commands, stale_s, "arm commands")
    assert_quiet(observer.gripper, stale_s, "gripper commands")


# --- the driver -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_driver_killed_mid_chunk(graph, record_property):
    # Default retries: each retry's chunk reaches a controller without joint states.
    observer = moving(graph, ScriptedModel(LONG))
    graph.kill("driver")
    time.sleep(0.2)  # its last messages in flight arrive
    stale_s = observer.last_state_s  # no joint state after this one
    final = observer.final("failed")
    time.sleep(1.0)
    arm_and_gripper_stopped(record_property, "driver killed mid-chunk", observer, stale_s, final)
    assert "stale" in final.last_error, final.last_error
    assert "succeeded" not in observer.goal_outcomes()


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["not_a_number", "short"])
def test_corrupt_joint_states(graph, record_property, fault):
    # From the 4th arm command on, every joint state is NaN ("not_a_number") or has one position
    # fewer than names ("short": the last finger's left out, so positions and names do not match).
    driver = (f"fault:={fault}", "fault_after_commands:=3")
    observer = moving(graph, ScriptedModel(LONG), driver=driver)
    final = observer.final("failed")
    time.sleep(1.0)
    stale_s = observer.last_valid_state_s
    assert observer.last_state_s > stale_s + 0.9, "the corrupt joint states never came"
    arm_and_gripper_stopped(record_property, f"joint states {fault}", observer, stale_s, final)
    expected = "finite angles" if fault == "not_a_number" else "stale"
    assert expected in final.last_error, final.last_error


# --- the camera and the policy --------------------------------------------------------------------
@pytest.mark.slow
def test_camera_stall(graph, record_property):
    observer = moving(graph, ScriptedModel(LONG), "max_retries_per_subtask:=0")
    graph.kill("camera")
    time.sleep(0.2)
    stale_s = observer.last_image_s + IMAGE_TIMEOUT_S  # policy_node's image turns stale
    final = observer.final("failed")
    time.sleep(1.0)
    report(
        record_property, "camera stall", observer, final,
        **counted("arm", observer.commands, stale_s),
        last_arm_after_last_image_s=f"{observer.commands[-1] - observer.last_image_s:+.2f}",
        **counted("lease", observer.steps, stale_s),
    )  # fmt: skip
    assert_quiet(observer.commands, stale_s, "arm commands")
    assert_quiet(observer.steps, stale_s, "lease messages of policy_node")
    assert "camera stale" in final.last_error or "stale image" in final.last_error


@pytest.mark.slow
def test_policy_node_killed(graph, record_property):
    observer = moving(graph, ScriptedModel(LONG))
    killed_s = graph.kill("policy")
    time.sleep(2.0)
    stale_s = observer.steps[-1] + LEASE_TIMEOUT_S  # the controller's lease lapses
    report(
        record_property, "policy_node killed", observer,
        **counted("arm", observer.commands, killed_s),
        last_arm_after_lapse_s=f"{observer.commands[-1] - stale_s:+.2f}",
    )  # fmt: skip
    assert after(observer.commands, stale_s + DDS_MARGIN_S) == [], "moved after the lease lapsed"
    assert observer.commands[-1] - killed_s <= LEASE_TIMEOUT_S + PERIOD_S + DDS_MARGIN_S
    assert len(observer.commands) < 40, "the chunk ran on after its producer died"
    wait_until(lambda: "aborted" in observer.goal_outcomes(), 5.0, "the goal to be aborted")


@pytest.mark.slow
def test_estop_and_resume(graph, record_property):
    observer = moving(graph, ScriptedModel(LONG, piece_delay_s=0.05), "max_retries_per_subtask:=0")
    called = time.monotonic()
    assert call(observer, "/controller_node/estop").success
    stopped_s = time.monotonic()
    final = observer.final("failed")
    time.sleep(1.0)
    after_stop = len(after(observer.commands, called))
    assert call(observer, "/controller_node/resume").success
    sent = len(observer.commands)
    time.sleep(1.5)
    after_resume = len(observer.commands) - sent
    observer.status.clear()
    said = observer.say()
    wait_until(lambda: len(observer.commands) > sent, 60.0, "a new instruction to move the arm")
    report(
        record_property, "e-stop and resume", observer, final,
        arm_after_estop=after_stop,
        last_arm_s=f"{observer.commands[sent - 1] - called:+.2f}",
        estop_answered_s=f"{stopped_s - called:.2f}", commands_after_resume=after_resume,
        new_instruction_moves_in_s=f"{observer.commands[sent] - said:.2f}",
    )  # fmt: skip
    assert after(observer.commands[:sent], stopped_s + PERIOD_S + DDS_MARGIN_S) == []
    assert after_resume == 0, "the arm moved after resume without a new instruction"
    assert "e-stop" in final.last_error, final.last_error


class TwoTasks(ScriptedModel):
    """LONG for TASK; SIX_STEPS for NEW_TASK, whose subtask list comes NEW_SUBTASKS_DELAY_S late
    (so every arm command before its chunk request is the old chunk's)."""

    def answer(self, prompt: str) -> str:
        if f"Instruction: {NEW_TASK}" not in prompt:
            return super().answer(prompt)
        if "Motion plan:" in prompt:
            return SIX_STEPS
        if "List the subtasks" in prompt:
            time.sleep(NEW_SUBTASKS_DELAY_S)
        return super().answer(prompt)

    def chunk_requested_s(self, instruction: str) -> list[float]:
        return [t for t, p in self.requests if f"Instruction: {instruction}" in p
                and "Motion plan:" in p]  # fmt: skip


@pytest.mark.slow
def test_instruction_changed_mid_task(graph, record_property):
    model = TwoTasks(LONG)
    observer = moving(graph, model)
    changed_s = observer.say(NEW_TASK)
    done = observer.final("done", NEW_TASK)
    time.sleep(0.5)
    new_chunk_s = model.chunk_requested_s(NEW_TASK)[0]
    old = [t for t in after(observer.commands, changed_s) if t < new_chunk_s]
    new = after(observer.commands, new_chunk_s)
    old_stopped = observer.final("stopped")
    report(
        record_property, "instruction changed mid-task", observer,
        old_commands_after_change=len(old),
        last_old_s=f"{old[-1] - changed_s:+.2f}" if old else "none",
        new_chunk_requested_s=f"{new_chunk_s - changed_s:.2f}", new_commands=len(new),
        old_status=old_stopped.state_name, new_status=done.state_name,
        preempted=done.instructions_preempted,
    )  # fmt: skip
    assert not old or old[-1] - changed_s <= PERIOD_S + DDS_MARGIN_S, "the old chunk ran on"
    assert len(new) == 6, f"{len(new)} commands for the new chunk's six 0.5 cm steps"
    assert model.chunk_requested_s(TASK) and len(model.chunk_requested_s(NEW_TASK)) == 1
    assert (done.instructions_received, done.instructions_preempted) == (2, 1)
    assert "canceled" in observer.goal_outcomes()


class SlowSubtasks(ScriptedModel):
    """SIX_STEPS, the subtask list 0.3 s late: a burst preempts instructions that still wait
    for it, so only the burst's last one reaches its chunk."""

    def answer(self, prompt: str) -> str:
        if "List the subtasks" in prompt:
            time.sleep(0.3)
        return super().answer(prompt)


@pytest.mark.slow
def test_1000_instructions_then_a_1_mb_instruction(graph, record_property):
    model = SlowSubtasks(SIX_STEPS)
    graph.start(model)
    observer = graph.observer
    observer.wait_ready()
    flood = observer.node.create_publisher(String, "/vlm2vla/instruction", ALL)
    wait_until(lambda: flood.get_subscription_count() > 0, 30.0, "the instruction subscription")
    names = [f"task {i:04d}" for i in range(1000)]
    burst_s = time.monotonic()
    for name in names:
        flood.publish(String(data=name))
    burst_s = time.monotonic() - burst_s
    done = observer.final("done", names[-1])
    time.sleep(1.0)
    commands = len(observer.commands)
    chunked = {p.split("Instruction: ")[1][:9] for _, p in model.requests if "Motion plan:" in p}

    huge = ("pick up the red block " * 50_000)[:999_999] + "."  # 1,000,000 characters
    said = observer.say(huge)
    wait_until(lambda: "instruction refused" in observer.status[-1].last_error, 30.0, "the refusal")
    refused_s = time.monotonic() - said
    refusal = observer.status[-1]
    time.sleep(1.5)
    report(
        record_property, "1000 instructions, then a 1 MB one", observer,
        burst_s=f"{burst_s:.2f}", received=done.instructions_received,
        dropped=done.instructions_dropped, preempted=done.instructions_preempted,
        instructions_chunked=len(chunked), arm_commands=commands, status=done.state_name,
        mb_refused_in_s=f"{refused_s:.2f}", mb_commands=len(observer.commands) - commands,
        mb_error=refusal.last_error[:90],
    )  # fmt: skip
    assert done.instructions_received == 1000
    assert done.instructions_dropped + done.instructions_preempted == 999
    assert chunked == {names[-1]}, f"chunks for {sorted(chunked)[:5]}: not only the last one"
    assert commands == 6, f"{commands} arm commands: the last instruction's six steps expected"
    assert "1000000 characters > max_instruction_chars 500" in refusal.last_error
    assert len(observer.commands) == commands, "the arm moved for a refused instruction"
    assert refusal.instructions_received == 1000, "a refused instruction was counted as received"


@pytest.mark.slow
def test_restart_with_a_latched_instruction(graph, record_property):
    graph.start(ScriptedModel(SIX_STEPS))
    observer = graph.observer
    observer.wait_ready()
    observer.say()  # latched: the observer's publisher holds it for every later subscriber
    observer.final("done")
    wait_until(lambda: len(observer.commands) == 6, 10.0,
               lambda: f"the six steps' commands; {observer.commands_seen()}")  # fmt: skip
    graph.kill("policy")
    restarted_s = time.monotonic()
    observer.status.clear()
    graph.start_policy()
    wait_until(
        lambda: any("ignored instruction" in s.last_error for s in observer.status),
        120.0, "the restarted policy to say it ignored the latched instruction",
    )  # fmt: skip
    ignored_s = time.monotonic() - restarted_s
    time.sleep(3.0)
    report(
        record_property, "restart with a latched instruction", observer,
        ignored_after_restart_s=f"{ignored_s:.2f}",
        **counted("arm", observer.commands, restarted_s),
        states_after_restart=",".join(sorted({s.state_name for s in observer.status})),
    )  # fmt: skip
    assert after(observer.commands, restarted_s) == [], "the arm moved on the old instruction"
    assert "acting" not in observer.states(), "the restarted policy acted on it"


def test_the_fault_table_in_docs_names_every_test_of_the_suite():
    table = (ROOT / "docs" / "faults.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(test_\w+)", table))
    suite = {name for name in globals() if name.startswith("test_") and "table" not in name}
    assert suite <= named, f"not in docs/faults.md: {sorted(suite - named)}"
    others = "\n".join(p.read_text(encoding="utf-8") for p in ROOT.glob("*/test/test_*.py"))
    missing = [n for n in named - suite if f"def {n}(" not in others]
    assert not missing, f"docs/faults.md names tests that do not exist: {missing}"
