"""A real ROS graph for tests, every node a process on real DDS, and the test's observer node.

The model is a local scripted OpenAI-compatible endpoint (subtasks and plan as JSON, the chunk
as Server-Sent Events written piece by piece with a delay), so each test knows what the model
writes and when; policy_node (remote backend), controller_node and the fake Interbotix driver
are the real executables; the camera is a bag player process. Used by test_streaming_graph and
test_faults (the ``graph`` fixture is in conftest.py).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from action_msgs.msg import GoalStatus, GoalStatusArray
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String

from interbotix_xs_msgs.msg import JointGroupCommand, JointSingleCommand
from vlm2vla_bringup.bags.sample import CAMERA_TOPIC
from vlm2vla_msgs.msg import ActionChunk, ChunkSteps, PolicyStatus
from vlm2vla_policy.nodes.qos import LATCHED, SENSOR
from vlm2vla_policy.processes import ros_executable, stop_process
from vlm2vla_policy.testing.probe import SpinningNode

ALL = QoSProfile(
    depth=1000, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
TASK = "pick up the red block"
LEASE_TIMEOUT_S = 0.5  # the controller's default lease_timeout_s
PERIOD_S = 0.2  # the controller's default control period (5 Hz)
IMAGE_TIMEOUT_S = 1.0  # policy_node's default image_timeout_s
DDS_MARGIN_S = 0.15  # delivery of the last command to this process on a loaded 2-core machine
CHUNK_ACTION = "/controller_node/execute_chunk"


def chunk_text(steps: list[tuple[float, float, float, int]]) -> str:
    return "[" + ", ".join(f"[{x:.1f}, {y:.1f}, {z:.1f}, {g}]" for x, y, z, g in steps) + "]"


SIX_STEPS = chunk_text(
    [
        (0.5, 0, 0, 1),
        (0, 0.5, 0, 1),
        (-0.5, 0, 0, 1),
        (0, -0.5, 0, 1),
        (0, 0, 0.5, 1),
        (0, 0, -0.5, 1),
    ]
)
LONG = chunk_text([(2.0, 0, 0, 1), (-2.0, 0, 0, 1)] * 10)  # 20 steps, 2 periods each: 8 s


class ScriptedModel:
    """A local endpoint: one subtask, plan "move forward", the chunk streamed piece by piece.

    ``answer`` decides each reply (override it to script more); ``requests`` records every
    request as (receipt time, the messages as JSON).
    """

    def __init__(self, chunk: str, piece_chars: int = 4, piece_delay_s: float = 0.0) -> None:
        self.chunk = chunk
        self.piece_chars = piece_chars
        self.piece_delay_s = piece_delay_s
        self.chunk_sent_s: list[float] = []  # when the chunk's last piece was sent, per request
        self.requests: list[tuple[float, str]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def answer(self, prompt: str) -> str:
        """The reply to a request whose messages, as JSON, are ``prompt``."""
        if "Motion plan:" in prompt:
            return self.chunk
        if "List the subtasks" in prompt:
            return "1. grasp the red block"
        return "move forward"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        model = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = json.dumps(body["messages"])
                model.requests.append((time.monotonic(), prompt))
                answer = model.answer(prompt)
                if body.get("stream"):
                    model.stream(self, answer)
                else:
                    model.reply(self, answer)

            def log_message(self, *args) -> None:
                pass

        return Handler

    def reply(self, handler: BaseHTTPRequestHandler, answer: str) -> None:
        data = json.dumps({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5},
        }).encode()  # fmt: skip
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def stream(self, handler: BaseHTTPRequestHandler, answer: str) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        pieces = [answer[i : i + self.piece_chars] for i in range(0, len(answer), self.piece_chars)]
        try:
            for piece in pieces:
                time.sleep(self.piece_delay_s)
                self._event(handler, {"choices": [{"index": 0, "delta": {"content": piece}}]})
            self.chunk_sent_s.append(time.monotonic())
            self._event(handler, {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            handler.wfile.write(b"data: [DONE]\n\n")
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading (it saw the answer turn malformed)

    @staticmethod
    def _event(handler: BaseHTTPRequestHandler, payload: dict) -> None:
        handler.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
        handler.wfile.flush()

    def close(self) -> None:
        self.server.shutdown()


class Observer:
    """The test's node: records what every node publishes (with receipt times, monotonic s)
    and publishes instructions."""

    def __init__(self) -> None:
        self.spinning = SpinningNode("streaming_observer")
        self.node = self.spinning.node
        self.status: list[PolicyStatus] = []
        self.chunks: list[ActionChunk] = []
        self.commands: list[float] = []  # receipt times of the arm's JointGroupCommand
        self.gripper: list[float] = []  # receipt times of the gripper's JointSingleCommand
        self.steps: list[float] = []  # receipt times of policy_node's ChunkSteps (lease, steps)
        self.images = 0  # camera images seen
        self.last_image_s = math.nan
        self.last_state_s = math.nan  # the latest joint state from the driver
        self.last_valid_state_s = math.nan  # the latest with one finite position per name
        self.goals: dict[bytes, int] = {}  # the controller's goals: their latest GoalStatus
        self.node.create_subscription(PolicyStatus, "/vlm2vla/status", self.status.append, ALL)
        self.node.create_subscription(ActionChunk, "/vlm2vla/action_chunk", self.chunks.append, 10)
        self.command_sub = self.node.create_subscription(
            JointGroupCommand, "/wx250s/commands/joint_group",
            lambda _: self.commands.append(time.monotonic()), 1000,
        )  # fmt: skip
        self.node.create_subscription(
            JointSingleCommand, "/wx250s/commands/joint_single",
            lambda _: self.gripper.append(time.monotonic()), 1000,
        )  # fmt: skip
        self.node.create_subscription(
            ChunkSteps, f"{CHUNK_ACTION[: CHUNK_ACTION.rindex('/')]}/chunk_steps",
            lambda _: self.steps.append(time.monotonic()), 1000,
        )  # fmt: skip
        self.node.create_subscription(JointState, "/wx250s/joint_states", self._on_state, 100)
        self.node.create_subscription(
            GoalStatusArray, f"{CHUNK_ACTION}/_action/status", self._on_goals, ALL
        )
        self.node.create_subscription(Image, CAMERA_TOPIC, self._on_image, SENSOR)
        self.instruction = self.node.create_publisher(String, "/vlm2vla/instruction", LATCHED)

    def states(self, instruction: str = TASK) -> list[str]:
        return [s.state_name for s in self.status if s.instruction == instruction]

    def _on_image(self, _msg: Image) -> None:
        self.images += 1
        self.last_image_s = time.monotonic()

    def _on_state(self, msg: JointState) -> None:
        self.last_state_s = time.monotonic()
        if len(msg.position) == len(msg.name) and all(map(math.isfinite, msg.position)):
            self.last_valid_state_s = self.last_state_s

    def _on_goals(self, msg: GoalStatusArray) -> None:
        for goal in msg.status_list:
            self.goals[bytes(goal.goal_info.goal_id.uuid)] = goal.status

    def goal_outcomes(self) -> list[str]:
        """Every controller goal's latest status, by name (aborted, canceled, succeeded...)."""
        names = {v: k.removeprefix("STATUS_").lower() for k, v in vars(GoalStatus).items()
                 if k.startswith("STATUS_")}  # fmt: skip
        return [names.get(status, str(status)) for status in self.goals.values()]

    def commands_seen(self) -> str:
        """The arm commands so far (count; receipt times after the first, s), the controller's
        goal outcomes and the policy's states: what a failed count of commands should show."""
        times = list(self.commands)
        relative = ", ".join(f"{t - times[0]:.2f}" for t in times)
        return (
            f"{len(times)} arm commands at [{relative}] s; goals {self.goal_outcomes()}; "
            f"states {[s.state_name for s in self.status]}"
        )

    def wait_ready(self) -> None:
        """Until policy_node is idle, the camera publishes (so the first cycle has an image) and
        the controller's arm commands reach this node (else the first ones are missed)."""
        wait_until(lambda: any(s.state_name == "idle" for s in self.status), 120.0, "policy_node")
        wait_until(lambda: self.images >= 2, 60.0, "the camera (bag player)")
        wait_until(
            lambda: self.command_sub.get_publisher_count() > 0, 30.0, "the controller's commands"
        )

    def final(self, state: str, instruction: str = TASK) -> PolicyStatus:
        wait_until(lambda: state in self.states(instruction), 60.0, f"the policy to say {state!r}")
        return [s for s in self.status if s.state_name == state and s.instruction == instruction][
            -1
        ]

    def say(self, text: str = TASK) -> float:
        """Publish the instruction ``text`` (latched); returns when."""
        self.instruction.publish(String(data=text))
        return time.monotonic()

    def close(self) -> None:
        self.spinning.close()


def wait_until(condition, timeout_s: float, what: str | Callable[[], str]) -> None:
    """Poll ``condition`` until true; fail after ``timeout_s``, saying ``what`` (called then)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            pytest.fail(
                f"timed out after {timeout_s} s waiting for {what() if callable(what) else what}"
            )
        time.sleep(0.01)


def after(times: list[float], t_s: float) -> list[float]:
    """The receipt times in ``times`` later than ``t_s``."""
    return [t for t in list(times) if t > t_s]


def ros(package: str, executable: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([ros_executable(package, executable), "--ros-args", *args])


class Graph:
    """The processes of one test's graph, started by :meth:`start`, and its observer."""

    def __init__(self, model_dir: Path, bag: Path) -> None:
        self.model_dir = model_dir
        self.bag = bag
        self.observer = Observer()
        self.processes: dict[str, subprocess.Popen] = {}
        self.models: list[ScriptedModel] = []
        self.policy_params: tuple[str, ...] = ()

    def start(
        self,
        model: ScriptedModel,
        *policy_params: str,
        camera: bool = True,
        driver: tuple[str, ...] = (),
    ) -> None:
        """Start the fake driver (``driver`` parameters), the controller, policy_node on
        ``model`` (``policy_params``) and, with ``camera``, the bag player."""
        self.models.append(model)
        self.policy_params = (f"remote_url:={model.url}", *policy_params)
        self.processes["driver"] = ros(
            "vlm2vla_policy", "fake_xs_driver", *[a for p in driver for a in ("-p", p)]
        )
        # No start move: every arm command the observer counts comes from the policy's chunks.
        self.processes["controller"] = ros(
            "vlm2vla_policy", "controller_node", "-p", "move_to_start:=false"
        )
        self.start_policy()
        if camera:
            self.processes["camera"] = subprocess.Popen(
                ["vlm2vla-bag", "play", str(self.bag), "--loop", "--topics", CAMERA_TOPIC],
                stdout=subprocess.DEVNULL,
            )

    def start_policy(self) -> None:
        """(Re)start policy_node with the parameters :meth:`start` gave it."""
        args = ["-r", f"image:={CAMERA_TOPIC}", "-p", f"model:={self.model_dir}",
                "-p", "verifier:=none", "-p", "backend:=remote",
                "-p", "remote_guided_decoding:=none"]  # fmt: skip
        for p in self.policy_params:
            args += ["-p", p]
        self.processes["policy"] = ros("vlm2vla_policy", "policy_node", *args)

    def kill(self, name: str) -> float:
        """SIGKILL the process ``name`` (no goodbye); returns when, once it is gone."""
        proc = self.processes[name]
        os.kill(proc.pid, signal.SIGKILL)
        killed_s = time.monotonic()
        proc.wait()
        return killed_s

    def close(self) -> None:
        self.observer.close()
        for proc in self.processes.values():
            stop_process(proc, grace_s=10.0)
        for model in self.models:
            model.close()
