"""Two sim graphs on one ROS domain, in namespaces arm1 and arm2 (``vlm2vla-launch sim``).

Each is the whole stack (widowx_sim, policy_node with the tiny Gemma-3, controller_node): an
instruction to /arm1 makes /arm1's chunks and moves /arm1's simulated arm and nothing of /arm2,
then one to /arm2 does the same for /arm2. Then both graphs share one batching ``vlm2vla-serve``
(``backend: remote``) and get their instructions at once: each arm moves, on its own chunks
only. The controllers skip the start move through a parameter file whose ``/**/controller_node``
section must reach them in their namespaces, so every arm command comes from a chunk.
"""

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from interbotix_xs_msgs.msg import JointGroupCommand
from vlm2vla_msgs.msg import ActionChunk, PolicyStatus
from vlm2vla_policy.nodes.qos import LATCHED
from vlm2vla_policy.processes import stop_processes
from vlm2vla_policy.testing.probe import SpinningNode
from vlm2vla_policy.testing.serve_process import serving

pytestmark = pytest.mark.slow
NAMESPACES = ("arm1", "arm2")
LOAD_S = 120.0  # longest wait for both policies to load the model, s
ACT_S = 120.0  # longest wait from an instruction to its first arm command, s
LEAK_S = 1.0  # what would leak from one namespace to the other has come after this long, s
# Applies in every namespace, as the packaged config/vlm2vla.yaml's sections do.
PARAMS_YAML = "/**/controller_node:\n  ros__parameters:\n    move_to_start: false\n"
ALL = QoSProfile(
    depth=1000, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.05)


def launch(namespace: str, model: Path | str, seed: int, params_file: Path) -> subprocess.Popen:
    """``vlm2vla-launch sim`` in ``namespace``, the tiny model, no verifier."""
    args = [f"namespace:={namespace}", f"model:={model}", "verifier:=none", f"seed:={seed}",
            f"params_file:={params_file}"]  # fmt: skip
    return subprocess.Popen(["vlm2vla-launch", "sim", *args])


class Robot:
    """One namespace seen from the test's node: status, chunks, arm commands, the instruction."""

    def __init__(self, node: Node, namespace: str) -> None:
        self.status: list[PolicyStatus] = []
        self.chunks: list[ActionChunk] = []
        self.commands = 0  # JointGroupCommands seen
        node.create_subscription(
            PolicyStatus, f"/{namespace}/vlm2vla/status", self.status.append, ALL
        )
        node.create_subscription(
            ActionChunk, f"/{namespace}/vlm2vla/action_chunk", self.chunks.append, 10
        )
        node.create_subscription(
            JointGroupCommand, f"/{namespace}/wx250s/commands/joint_group", self._on_command, 100
        )
        self.instruction = node.create_publisher(
            String, f"/{namespace}/vlm2vla/instruction", LATCHED
        )

    def _on_command(self, _msg: JointGroupCommand) -> None:
        self.commands += 1

    def instructions(self) -> set[str]:
        return {s.instruction for s in self.status if s.instruction}

    def idle(self) -> bool:
        return any(s.state_name == "idle" for s in self.status)


@contextmanager
def graphs(models: list[Path | str], params_file: Path) -> Iterator[dict[str, Robot]]:
    """Both sim graphs (the given model for each) and a test node watching them."""
    procs = [
        launch(ns, model, seed, params_file)
        for seed, (ns, model) in enumerate(zip(NAMESPACES, models, strict=True))
    ]
    spinning = SpinningNode("namespaced_graphs_test")
    node = spinning.node
    try:
        yield {ns: Robot(node, ns) for ns in NAMESPACES}
    finally:
        spinning.close()
        stop_processes(procs, grace_s=30.0)  # vlm2vla-launch stops its own children first


@pytest.fixture
def robots(tiny_gemma3_dir, tmp_path):
    params_file = tmp_path / "params.yaml"
    params_file.write_text(PARAMS_YAML)
    with graphs([tiny_gemma3_dir, tiny_gemma3_dir], params_file) as watched:
        yield watched


def test_each_namespace_acts_on_its_own_instruction_only(robots):
    arm1, arm2 = robots["arm1"], robots["arm2"]
    wait_until(lambda: arm1.idle() and arm2.idle(), LOAD_S, "both policies to load the model")
    arm1.instruction.publish(String(data="put the carrot on the plate"))
    wait_until(lambda: arm1.commands > 0, ACT_S, "/arm1's first arm command")
    wait_until(lambda: arm1.chunks, ACT_S, "/arm1's first ActionChunk")
    time.sleep(LEAK_S)
    assert arm2.commands == 0, "an instruction to /arm1 moved /arm2"
    assert arm2.chunks == [] and arm2.instructions() == set(), "/arm2 heard /arm1's instruction"

    arm2.instruction.publish(String(data="put the carrot on the plate"))
    wait_until(lambda: arm2.commands > 0, ACT_S, "/arm2's first arm command")
    wait_until(lambda: arm2.chunks, ACT_S, "/arm2's first ActionChunk")
    assert arm1.instructions() == arm2.instructions() == {"put the carrot on the plate"}


def test_two_namespaces_share_one_batching_server_at_once(tiny_gemma3_dir, tmp_path):
    """One vlm2vla-serve for both graphs; both instructions at once; each arm on its own chunks."""
    server_args = ["--model", str(tiny_gemma3_dir), "--port", "0", "--seed", "0"]
    with serving(server_args) as url:
        params_file = tmp_path / "params.yaml"
        params_file.write_text(
            PARAMS_YAML + "/**/policy_node:\n  ros__parameters:\n    backend: remote\n"
            f"    remote_url: {url}\n    remote_api_key_env: ''\n"
        )
        with graphs(["", ""], params_file) as robots:
            arm1, arm2 = robots["arm1"], robots["arm2"]
            wait_until(lambda: arm1.idle() and arm2.idle(), LOAD_S, "both policies to start")
            tasks = {"arm1": "put the carrot on the plate", "arm2": "put the spoon in the pot"}
            for namespace, task in tasks.items():
                robots[namespace].instruction.publish(String(data=task))
            for namespace, robot in robots.items():
                wait_until(lambda r=robot: r.commands > 0, ACT_S, f"/{namespace}'s first command")
            for namespace, robot in robots.items():
                # A streamed chunk is published once decided, after its first steps have moved.
                wait_until(lambda r=robot: r.chunks, ACT_S, f"/{namespace}'s first ActionChunk")
            for namespace, robot in robots.items():
                assert robot.instructions() == {tasks[namespace]}, f"/{namespace} heard the other"
                chunk_tasks = {chunk.instruction for chunk in robot.chunks}
                assert chunk_tasks == {tasks[namespace]}, f"/{namespace} got the other's chunks"
