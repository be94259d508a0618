"""A node says at start, naming the topic, when an input it needs has nobody publishing on it.

Real processes on real DDS: policy_node with its camera remapped to a topic without publisher
(before, a missing camera was reported only once an instruction came, without the topic), and
controller_node with a driver whose joint states go elsewhere.
"""

import queue
import subprocess
import threading
import time

import rclpy
from rclpy.node import Node
from sensor_msgs.msg import Image

from vlm2vla_policy.nodes.publisher_watch import PUBLISHER_WAIT_S
from vlm2vla_policy.nodes.qos import SENSOR
from vlm2vla_policy.processes import ros_executable, stop_process

CAMERA = "/startup_test/camera/image_raw"
SLACK_S = 5.0  # a loaded machine's delay on top of PUBLISHER_WAIT_S, s


class Output:
    """The lines of a process (stdout and stderr), read as they come."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.lines.put((time.monotonic(), line.rstrip()))

    def wait_for(self, text: str, timeout_s: float) -> float:
        """When the first line with ``text`` came (time.monotonic()); fails after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                when, line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return when
        raise AssertionError(
            f"no line with {text!r} in {timeout_s} s; got:\n" + "\n".join(self.seen)
        )


def _start(cmd: list[str]) -> tuple[subprocess.Popen, Output]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, Output(proc)


def test_policy_node_warns_naming_the_camera_topic_that_has_no_publisher(tiny_gemma3_dir):
    cmd = [ros_executable("vlm2vla_policy", "policy_node"), "--ros-args", "-r", f"image:={CAMERA}"]
    for param in (f"model:={tiny_gemma3_dir}", "backend:=remote",
                  "remote_url:=http://127.0.0.1:9/v1", "verifier:=none"):  # fmt: skip
        cmd += ["-p", param]
    proc, output = _start(cmd)
    rclpy.init()
    node = Node("startup_test_camera")
    try:
        loaded = output.wait_for("] [policy_node]: loaded", 120.0)
        warned = output.wait_for(f"no publisher on {CAMERA} (camera images)", 60.0)
        assert warned - loaded < PUBLISHER_WAIT_S + SLACK_S, "the warning came late"
        # Once a camera publishes there, the node says so (the check sees real publishers).
        node.create_publisher(Image, CAMERA, SENSOR)
        output.wait_for(f"camera images: {CAMERA} has a publisher now", PUBLISHER_WAIT_S + 30.0)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        stop_process(proc)


def test_controller_node_warns_naming_the_joint_state_topic_that_has_no_publisher():
    driver = subprocess.Popen(
        [ros_executable("vlm2vla_policy", "fake_xs_driver"), "--ros-args",
         "-r", "__ns:=/startup_test", "-r", "wx250s/joint_states:=wx250s/elsewhere"],
    )  # fmt: skip
    proc, output = _start(
        [ros_executable("vlm2vla_policy", "controller_node"), "--ros-args",
         "-r", "__ns:=/startup_test", "-p", "move_to_start:=false"],
    )  # fmt: skip
    try:
        ready = output.wait_for("controller ready", 60.0)
        warned = output.wait_for("no publisher on /startup_test/wx250s/joint_states", 60.0)
        assert warned - ready < PUBLISHER_WAIT_S + SLACK_S, "the warning came late"
    finally:
        stop_process(proc)
        stop_process(driver)
