"""Streaming and liveness on a real ROS graph: every node a process, real DDS.

The model is a local scripted OpenAI-compatible endpoint (subtasks and plan as JSON, the chunk
as Server-Sent Events written piece by piece with a delay), so each test knows what the model
writes and when; policy_node (remote backend), controller_node and the fake Interbotix driver
are the real executables; the camera is a bag player process.
"""

import json
import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String
from std_srvs.srv import Trigger

from interbotix_xs_msgs.msg import JointGroupCommand
from vlm2vla_bringup.bags.sample import CAMERA_TOPIC, write_sample_bag
from vlm2vla_msgs.msg import ActionChunk, PolicyStatus
from vlm2vla_policy.nodes.qos import LATCHED, SENSOR
from vlm2vla_policy.processes import ros_executable, stop_process

pytestmark = pytest.mark.slow
ALL = QoSProfile(
    depth=1000, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
TASK = "pick up the red block"
LEASE_TIMEOUT_S = 0.5  # the controller's default lease_timeout_s
PERIOD_S = 0.2  # the controller's default control period (5 Hz)
DDS_MARGIN_S = 0.15  # delivery of the last command to this process on a loaded 2-core machine


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
    """A local endpoint: one subtask, plan "move forward", the chunk streamed piece by piece."""

    def __init__(self, chunk: str, piece_chars: int = 4, piece_delay_s: float = 0.0) -> None:
        self.chunk = chunk
        self.piece_chars = piece_chars
        self.piece_delay_s = piece_delay_s
        self.chunk_sent_s: list[float] = []  # when the chunk's last piece was sent, per request
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        model = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                text = json.dumps(body["messages"])
                if "Motion plan:" in text:
                    answer = model.chunk
                elif "List the subtasks" in text:
                    answer = "1. grasp the red block"
                else:
                    answer = "move forward"
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
    """The test's node: records status, chunks and driver commands; publishes instructions."""

    def __init__(self) -> None:
        rclpy.init()
        self.node = Node("streaming_observer")
        self.status: list[PolicyStatus] = []
        self.chunks: list[ActionChunk] = []
        self.commands: list[float] = []  # receive times of JointGroupCommand (monotonic)
        self.images = 0  # camera images seen
        self.node.create_subscription(PolicyStatus, "/vlm2vla/status", self.status.append, ALL)
        self.node.create_subscription(ActionChunk, "/vlm2vla/action_chunk", self.chunks.append, 10)
        self.command_sub = self.node.create_subscription(
            JointGroupCommand, "/wx250s/commands/joint_group",
            lambda _: self.commands.append(time.monotonic()), 1000,
        )  # fmt: skip
        self.node.create_subscription(Image, CAMERA_TOPIC, self._on_image, SENSOR)
        self.instruction = self.node.create_publisher(String, "/vlm2vla/instruction", LATCHED)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()

    def states(self) -> list[str]:
        return [s.state_name for s in self.status if s.instruction == TASK]

    def _on_image(self, _msg: Image) -> None:
        self.images += 1

    def wait_ready(self) -> None:
        """Until policy_node is idle, the camera publishes (so the first cycle has an image) and
        the controller's arm commands reach this node (else the first ones are missed)."""
        wait_until(lambda: any(s.state_name == "idle" for s in self.status), 120.0, "policy_node")
        wait_until(lambda: self.images >= 2, 60.0, "the camera (bag player)")
        wait_until(
            lambda: self.command_sub.get_publisher_count() > 0, 30.0, "the controller's commands"
        )

    def final(self, state: str) -> PolicyStatus:
        wait_until(lambda: state in self.states(), 60.0, f"the policy to say {state!r}")
        return [s for s in self.status if s.state_name == state][-1]

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown()


def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def sample_bag(tmp_path_factory) -> Path:
    return write_sample_bag(tmp_path_factory.mktemp("bags") / "sample", seconds=8.0)


@pytest.fixture
def graph(tiny_gemma3_dir, sample_bag):
    """Starts the graph for a scripted model; yields (start, observer, processes)."""
    observer = Observer()
    processes: dict[str, subprocess.Popen] = {}
    models: list[ScriptedModel] = []

    def start(model: ScriptedModel, *params: str, camera: bool = True) -> None:
        models.append(model)
        processes["driver"] = ros("vlm2vla_policy", "fake_xs_driver")
        # No start move: every arm command the observer counts comes from the policy's chunks.
        processes["controller"] = ros(
            "vlm2vla_policy", "controller_node", "-p", "move_to_start:=false"
        )
        processes["policy"] = policy_process(tiny_gemma3_dir, model.url, *params)
        if camera:
            processes["camera"] = subprocess.Popen(
                ["vlm2vla-bag", "play", str(sample_bag), "--loop", "--topics", CAMERA_TOPIC],
                stdout=subprocess.DEVNULL,
            )

    yield start, observer, processes
    observer.close()
    for proc in processes.values():
        stop_process(proc, grace_s=10.0)
    for model in models:
        model.close()


def ros(package: str, executable: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([ros_executable(package, executable), "--ros-args", *args])


def policy_process(model_dir: Path, url: str, *params: str) -> subprocess.Popen:
    args = ["-r", f"image:={CAMERA_TOPIC}", "-p", f"model:={model_dir}", "-p", "verifier:=none",
            "-p", "backend:=remote", "-p", f"remote_url:={url}",
            "-p", "remote_guided_decoding:=none"]  # fmt: skip
    for p in params:
        args += ["-p", p]
    return ros("vlm2vla_policy", "policy_node", *args)


def say(observer: Observer) -> float:
    observer.instruction.publish(String(data=TASK))
    return time.monotonic()


def test_a_the_first_command_leaves_before_the_model_has_written_the_last_step(graph):
    start, observer, _ = graph
    model = ScriptedModel(SIX_STEPS, piece_delay_s=0.12)  # ~4 s to write the chunk
    start(model)
    observer.wait_ready()
    say(observer)
    final = observer.final("done")
    assert not final.verified, "verifier:=none: done, but nothing was verified"
    assert model.chunk_sent_s, "the chunk was never streamed"
    first_command = observer.commands[0]
    assert first_command < model.chunk_sent_s[0], (
        f"first arm command {first_command - model.chunk_sent_s[0]:+.2f} s after the chunk's "
        "last step was sent: the arm waited for the whole chunk"
    )
    assert final.first_step_s < final.chunk_s / 2, "the first step came late in the generation"
    assert len(observer.commands) == 6, "six 0.5 cm steps take one control period each"
    assert observer.chunks[-1].raw_text == SIX_STEPS


def test_b_malformed_after_two_steps_executes_exactly_two(graph):
    start, observer, _ = graph
    bad = chunk_text([(0.5, 0, 0, 1), (0, 0.5, 0, 1)])[:-1] + ", [oops, 0, 0, 1]]"
    start(ScriptedModel(bad, piece_delay_s=0.05), "max_retries_per_subtask:=0")
    observer.wait_ready()
    say(observer)
    final = observer.final("failed")
    time.sleep(1.5)  # anything still queued would move now
    assert len(observer.commands) == 2, f"{len(observer.commands)} commands, expected 2"
    assert "after 2 step(s)" in final.last_error
    assert "[0.0, 0.5, 0.0, 1], [o" in final.last_error, "the status quotes the raw text"
    assert len(observer.chunks) == 1
    assert len(observer.chunks[0].translations_m) == 2


def test_c_sigkill_of_the_policy_stops_the_arm_within_the_lease(graph):
    start, observer, processes = graph
    start(ScriptedModel(LONG))
    observer.wait_ready()
    say(observer)
    wait_until(lambda: len(observer.commands) >= 3, 60.0, "the arm to move")
    os.kill(processes["policy"].pid, signal.SIGKILL)
    killed = time.monotonic()
    time.sleep(2.0)
    late = observer.commands[-1] - killed
    bound = LEASE_TIMEOUT_S + PERIOD_S + DDS_MARGIN_S
    assert late <= bound, f"an arm command {late:.2f} s after the kill (bound {bound:.2f} s)"
    assert len(observer.commands) < 40, "the chunk ran on after its producer died"


def test_d_a_camera_that_stops_mid_chunk_cancels_it(graph):
    start, observer, processes = graph
    start(ScriptedModel(LONG), "max_retries_per_subtask:=0")
    observer.wait_ready()
    say(observer)
    wait_until(lambda: len(observer.commands) >= 3, 60.0, "the arm to move")
    os.kill(processes["camera"].pid, signal.SIGKILL)
    stopped = time.monotonic()
    final = observer.final("failed")
    time.sleep(1.0)
    image_timeout_s = 1.0  # policy_node's default
    late = observer.commands[-1] - stopped
    bound = image_timeout_s + 0.5 + PERIOD_S + DDS_MARGIN_S
    assert late <= bound, f"an arm command {late:.2f} s after the camera stopped (bound {bound})"
    assert "camera stale" in final.last_error or "stale image" in final.last_error


def test_e_a_restarted_policy_ignores_the_latched_instruction(graph):
    start, observer, _ = graph
    say(observer)  # latched, published before the policy node exists
    time.sleep(0.5)
    start(ScriptedModel(SIX_STEPS))
    observer.wait_ready()
    wait_until(
        lambda: any("ignored instruction" in s.last_error for s in observer.status),
        30.0,
        "the status to say the instruction was ignored",
    )
    time.sleep(3.0)
    assert observer.commands == [], "the arm moved on an instruction older than the node"
    assert observer.chunks == []
    assert "acting" not in observer.states()


def test_g_estop_during_a_streamed_chunk_holds_until_resume_and_a_new_goal(graph):
    start, observer, _ = graph
    start(ScriptedModel(LONG, piece_delay_s=0.05), "max_retries_per_subtask:=0")
    observer.wait_ready()
    say(observer)
    wait_until(lambda: len(observer.commands) >= 2, 60.0, "the arm to move")
    estop = observer.node.create_client(Trigger, "/controller_node/estop")
    resume = observer.node.create_client(Trigger, "/controller_node/resume")
    assert estop.wait_for_service(timeout_sec=10.0) and resume.wait_for_service(timeout_sec=10.0)
    called = estop.call_async(Trigger.Request())
    stopped = time.monotonic()
    wait_until(called.done, 10.0, "the e-stop service")
    observer.final("failed")
    time.sleep(1.0)
    assert observer.commands[-1] - stopped <= PERIOD_S + DDS_MARGIN_S, "moved after the e-stop"
    resumed = resume.call_async(Trigger.Request())
    wait_until(resumed.done, 10.0, "the resume service")
    assert resumed.result().success, resumed.result().message
    sent = len(observer.commands)
    time.sleep(1.5)
    assert len(observer.commands) == sent, "the arm moved after resume without a new goal"
    observer.status.clear()
    say(observer)
    wait_until(lambda: len(observer.commands) > sent, 60.0, "a new goal to move the arm again")
