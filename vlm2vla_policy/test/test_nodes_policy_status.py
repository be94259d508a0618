"""policy_node's status tells what became of every instruction: a real process, real DDS.

policy_node runs with the remote backend (nothing is asked of it: there is no camera, so each
instruction waits, PAUSED, for an image) and this test's node floods the instruction topic with
1000 instructions (before, 4 to 9 of them reached the node and nothing counted the rest).
"""

import subprocess
import time

import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from vlm2vla_msgs.msg import PolicyStatus
from vlm2vla_policy.processes import ros_executable, stop_process
from vlm2vla_policy.testing.probe import SpinningNode

ALL = QoSProfile(
    depth=1000, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
SENT = 1000


def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def policy(tiny_gemma3_dir):
    params = (
        f"model:={tiny_gemma3_dir}", "backend:=remote", "remote_url:=http://127.0.0.1:9/v1",
        "remote_guided_decoding:=none", "verifier:=none", "image_wait_s:=60.0",
    )  # fmt: skip
    cmd = [ros_executable("vlm2vla_policy", "policy_node"), "--ros-args"]
    for p in params:
        cmd += ["-p", p]
    proc = subprocess.Popen(cmd)
    yield proc
    stop_process(proc)


def test_dropped_and_preempted_instructions_are_counted_in_the_status(policy):
    spinning = SpinningNode("status_observer")
    node = spinning.node
    status: list[PolicyStatus] = []
    node.create_subscription(PolicyStatus, "/vlm2vla/status", status.append, ALL)
    say = node.create_publisher(String, "/vlm2vla/instruction", ALL)
    try:
        wait_until(lambda: any(s.state_name == "idle" for s in status), 120.0, "policy_node")
        wait_until(lambda: say.get_subscription_count() > 0, 30.0, "the instruction subscription")
        started = time.monotonic()
        for i in range(SENT):
            say.publish(String(data=f"instruction {i}"))
        print(f"\n{SENT} instructions published in {time.monotonic() - started:.2f} s")
        last = f"instruction {SENT - 1}"

        def settled() -> bool:  # the last instruction runs and its count came
            if not status or status[-1].instruction != last:
                return False
            count = status[-1].instructions_received
            time.sleep(1.0)
            return status[-1].instructions_received == count

        wait_until(settled, 60.0, "the status of the last instruction")
        final = status[-1]
        print(
            f"status: {final.instructions_received} received, {final.instructions_dropped} "
            f"dropped, {final.instructions_preempted} preempted; state {final.state_name}"
        )
        # Every one reaches the node (its reader queue is deep: none is replaced unseen) and every
        # one but the last (still running) was dropped before it started or preempted, and said so.
        assert final.instructions_received == SENT
        assert final.instructions_dropped >= 1, "none counted as dropped in a 1000-burst"
        assert (
            final.instructions_dropped + final.instructions_preempted
            == final.instructions_received - 1
        )
        assert final.state_name in ("paused", "planning")  # waiting for a camera image
        assert not final.verified
    finally:
        spinning.close()
