"""A live sim run ends without a traceback: ``vlm2vla-launch sim`` stopped while it acts.

The whole graph (widowx_sim rendering, policy_node on a tiny model, controller_node executing)
runs an instruction and is stopped by SIGTERM to the launcher, which passes SIGINT on to every
node. Before, every such run ended with ``RCLError: publisher's context is invalid`` from the
sim's render thread (rclpy shut the context down before the node's threads had stopped).
"""

import os
import signal
import subprocess
import threading
import time

from std_msgs.msg import String

from vlm2vla_msgs.msg import PolicyStatus
from vlm2vla_policy.nodes.qos import INSTRUCTIONS, STATUS
from vlm2vla_policy.testing.probe import spinning_node
from vlm2vla_sim.testing import egl_renderer_works

__all__ = ["egl_renderer_works"]  # a fixture

SHUTDOWN_NOISE = ("Traceback", "RCLError", "never retrieved", "Failed to publish", "Exception")


def wait_until(condition, timeout_s: float, what: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert proc.poll() is None, f"vlm2vla-launch exited while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.05)


def test_a_live_sim_run_stopped_by_a_signal_prints_no_traceback(
    egl_renderer_works, tiny_gemma3_dir
):
    proc = subprocess.Popen(
        ["vlm2vla-launch", "sim", f"model:={tiny_gemma3_dir}", "verifier:=none",
         "namespace:=clean_shutdown"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    status: list[PolicyStatus] = []
    try:
        with spinning_node("clean_shutdown_probe") as node:
            topic = "/clean_shutdown/vlm2vla/status"
            node.create_subscription(PolicyStatus, topic, status.append, STATUS)
            say = node.create_publisher(String, "/clean_shutdown/vlm2vla/instruction", INSTRUCTIONS)
            wait_until(lambda: any(s.state_name == "idle" for s in status), 180.0, "policy", proc)
            wait_until(lambda: say.get_subscription_count() > 0, 30.0, "instructions", proc)
            say.publish(String(data="pick up the block"))
            wait_until(lambda: any(s.state_name not in ("idle", "") for s in status), 60.0,
                       "the policy to act", proc)  # fmt: skip
            time.sleep(2.0)  # chunks executing, the camera rendering
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = "".join(lines)
    noise = [line for line in lines if any(n in line for n in SHUTDOWN_NOISE)]
    assert not noise, output
    assert code == 0, output
    assert "stopping: shutting down" in output, output  # policy_node's last log line came out
