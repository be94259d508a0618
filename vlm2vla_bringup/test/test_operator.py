"""The operator's ``vlm2vla`` command, run as the installed console script against real graphs.

The graphs are graph_harness's (fake driver, controller_node, policy_node on a scripted model,
a bag as camera; every node a process on real DDS) and a ``vlm2vla-launch sim`` in a namespace.
Motion is what the test's observer sees on the driver's command topic.
"""

import itertools
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import pytest
from graph_harness import (
    DDS_MARGIN_S,
    LONG,
    PERIOD_S,
    SIX_STEPS,
    TASK,
    ScriptedModel,
    after,
    wait_until,
)
from rclpy.node import Node
from test_namespaced_graphs import Robot, launch

from vlm2vla_policy.processes import stop_process, stop_processes
from vlm2vla_policy.testing.probe import SpinningNode

ANSWER_S = 30.0  # longest a command may take on a loaded 2-core machine, s


class Command:
    """``vlm2vla ARGS`` running in the background; its output collected line by line."""

    started: ClassVar[list[subprocess.Popen]] = []  # stopped after each test (stop_commands)

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            ["vlm2vla", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        Command.started.append(self.proc)
        self.out: list[str] = []
        self.err: list[str] = []
        self.readers = [
            threading.Thread(target=lambda s=s, to=to: to.extend(s), daemon=True)
            for s, to in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for reader in self.readers:
            reader.start()

    def finish(self, timeout_s: float = ANSWER_S) -> int:
        """Wait for the exit (killed after ``timeout_s``: the test fails); the exit code."""
        try:
            rc = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stop_process(self.proc, grace_s=2.0)
            pytest.fail(f"{self.proc.args} still running after {timeout_s} s: {self.text()}")
        for reader in self.readers:
            reader.join(timeout=5.0)
        return rc

    def interrupt(self) -> int:
        """Ctrl-C; the exit code."""
        self.proc.send_signal(signal.SIGINT)
        return self.finish()

    def text(self) -> str:
        return f"stdout {''.join(self.out)!r}, stderr {''.join(self.err)!r}"


@pytest.fixture(autouse=True)
def stop_commands() -> Iterator[None]:
    """A test that fails leaves no command running (``status --follow`` would run for ever)."""
    yield
    stop_processes(Command.started, grace_s=5.0)
    Command.started.clear()


def run(*args: str) -> Command:
    """``vlm2vla ARGS`` to its end."""
    command = Command(*args)
    command.finish()
    return command


def expect(command: Command, rc: int) -> None:
    code = command.proc.returncode
    assert code == rc, f"{command.proc.args} exited {code}, expected {rc}: {command.text()}"
    assert "Traceback" not in "".join(command.err), command.text()


def states(lines: list[str]) -> list[str]:
    """The state word of each printed status line (after its time)."""
    return [line.split()[1] for line in lines]


# --- without a graph: usage and nothing found ------------------------------------------
@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("status",), "/nowhere/vlm2vla/status"),
        (("chunks", "--follow"), "/nowhere/vlm2vla/action_chunk"),
        (("say", TASK), "/nowhere/policy_node/execute_instruction"),
        (("say", "--topic", TASK), "/nowhere/vlm2vla/instruction"),
        (("estop",), "/nowhere/controller_node/estop"),
    ],
)
def test_nothing_found_exits_2_naming_the_name_and_the_namespace(args, named):
    started = time.monotonic()
    command = run("--namespace", "nowhere", "--timeout", "1", *args)
    expect(command, 2)
    message = "".join(command.err)
    assert named in message and "namespace /nowhere" in message, message
    assert len(command.err) == 1, "one line"
    assert time.monotonic() - started < ANSWER_S / 2, "it waited longer than --timeout"


@pytest.mark.parametrize(
    "args", [("say", "  "), ("jump",), ("--namespace", "arm-1", "status"), ("--timeout", "-1")]
)
def test_usage_errors_exit_2(args):
    command = run(*args)
    expect(command, 2)
    assert "error:" in "".join(command.err)


# --- on a graph -------------------------------------------------------------------------
def test_say_moves_the_arm_status_follow_prints_the_transitions_and_estop_stops_it(graph):
    graph.start(ScriptedModel(LONG), "max_retries_per_subtask:=0")  # 8 s of motion
    graph.observer.wait_ready()
    follow = Command("status", "--follow")
    wait_until(lambda: follow.out, ANSWER_S, "status --follow's first line (the current status)")
    say = Command("say", TASK)
    wait_until(lambda: len(graph.observer.commands) >= 3, 60.0, "the arm to move after say")

    estop = run("estop")
    stopped_s = time.monotonic()
    expect(estop, 0)
    assert say.finish() == 1, f"say of an e-stopped instruction: {say.text()}"
    assert "e-stop" in "".join(say.err), say.text()
    assert "executing" in states(say.out), f"no feedback line while executing: {say.out}"
    time.sleep(1.5)
    late = after(graph.observer.commands, stopped_s + PERIOD_S + DDS_MARGIN_S)
    assert late == [], f"{len(late)} arm command(s) after the e-stop answered"

    home = run("home")
    expect(home, 1)
    assert "e-stop latched" in "".join(home.err), home.text()
    expect(run("resume"), 0)
    home = run("home")  # answered once the arm is measured at home
    expect(home, 0)
    assert len(home.out) == 1 and home.out[0].startswith("home: at home"), home.text()
    follow.interrupt()
    expect(follow, 0)  # Ctrl-C is how --follow ends
    seen = states(follow.out)
    order = ["planning", "acting", "executing", "failed"]
    assert all(s in seen for s in order), f"status --follow printed {follow.out}"
    assert [seen.index(s) for s in order] == sorted(seen.index(s) for s in order), seen
    lines = [line.split(maxsplit=1)[1] for line in follow.out]
    assert all(a != b for a, b in itertools.pairwise(lines)), "a line repeated"


def test_say_exits_0_when_done_status_prints_it_once_and_chunks_prints_the_chunk(graph):
    graph.start(ScriptedModel(SIX_STEPS))
    graph.observer.wait_ready()
    chunks = Command("chunks")
    topic = "/vlm2vla/action_chunk"
    wait_until(lambda: graph.observer.node.count_subscribers(topic) >= 2, ANSWER_S, "chunks")

    say = run("say", TASK)
    expect(say, 0)
    assert "done (not verified)" in say.out[-1], say.text()
    assert len(graph.observer.commands) == 6, (
        f"six steps of 0.5 cm, one control period each: {graph.observer.commands_seen()}"
    )
    chunks.finish()
    expect(chunks, 0)
    assert len(chunks.out) == 1 and SIX_STEPS in chunks.out[0], chunks.text()

    status = run("status")
    expect(status, 0)
    assert len(status.out) == 1, status.text()
    assert "done (not verified)" in status.out[0] and TASK in status.out[0], status.text()


def test_ctrl_c_cancels_say_and_the_arm_stops_then_say_topic_no_wait_and_stop(graph):
    graph.start(ScriptedModel(LONG), "max_retries_per_subtask:=0")
    graph.observer.wait_ready()
    say = Command("say", TASK)
    wait_until(lambda: len(graph.observer.commands) >= 3, 60.0, "the arm to move after say")
    assert say.interrupt() == 130, say.text()
    interrupted_s = time.monotonic()
    expect(say, 130)
    assert "cancelled" in "".join(say.err), say.text()
    graph.observer.final("stopped")
    time.sleep(1.0)
    late = after(graph.observer.commands, interrupted_s + PERIOD_S + DDS_MARGIN_S)
    assert late == [], f"{len(late)} arm command(s) after say was interrupted"

    moved = len(graph.observer.commands)
    graph.observer.status.clear()
    expect(run("say", "--topic", TASK), 0)  # latched, as `ros2 topic pub`: the policy acts
    wait_until(lambda: len(graph.observer.commands) > moved, 60.0, "the arm to move after --topic")
    expect(run("stop"), 0)
    graph.observer.final("stopped")

    moved = len(graph.observer.commands)
    graph.observer.status.clear()
    expect(run("say", "--no-wait", TASK), 0)  # returns once the goal is accepted
    wait_until(lambda: len(graph.observer.commands) > moved, 60.0, "the arm to move after it")
    expect(run("stop"), 0)
    graph.observer.final("stopped")


@contextmanager
def watching(namespace: str) -> Iterator[tuple[Node, Robot]]:
    """A node of the test's watching ``namespace`` (test_namespaced_graphs' Robot)."""
    spinning = SpinningNode("operator_test")
    node = spinning.node
    robot = Robot(node, namespace)
    try:
        yield node, robot
    finally:
        spinning.close()


def test_namespace_selects_the_graph(tmp_path):
    """A sim graph under /arm1: ``-n arm1 say`` moves its arm; the root has no policy_node."""
    model = ScriptedModel(SIX_STEPS)
    params = tmp_path / "params.yaml"
    params.write_text(
        "/**/controller_node:\n  ros__parameters:\n    move_to_start: false\n"
        "/**/policy_node:\n  ros__parameters:\n    backend: remote\n"
        f"    remote_url: {model.url}\n    remote_api_key_env: ''\n"
        "    remote_guided_decoding: none\n"
    )
    graph = launch("arm1", "", 0, params)
    try:
        status = run("--namespace", "arm1", "--timeout", "120", "status")
        expect(status, 0)
        assert "idle" in status.out[0], status.text()
        expect(run("status", "--timeout", "2"), 2)  # the root namespace: nothing there
        with watching("arm1") as (node, arm1):
            wait_until(lambda: node.count_publishers("/arm1/wx250s/commands/joint_group"),
                     ANSWER_S, "the /arm1 controller")  # fmt: skip
            expect(run("-n", "arm1", "say", TASK), 0)
            wait_until(lambda: arm1.commands > 0, 5.0, "/arm1's arm commands")
    finally:
        stop_process(graph, grace_s=30.0)
        model.close()
