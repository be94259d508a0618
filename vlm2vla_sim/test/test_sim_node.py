"""widowx_sim as a real process on real DDS: joint states, camera, driver services, commands."""

import json
import subprocess
import time

import numpy as np
import pytest
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger

from interbotix_xs_msgs.msg import JointGroupCommand, JointSingleCommand
from interbotix_xs_msgs.srv import OperatingModes, RobotInfo
from vlm2vla_policy.nodes.qos import LATCHED, SENSOR
from vlm2vla_policy.processes import ros_executable, stop_process
from vlm2vla_policy.robot import WX250S, ArmKinematics
from vlm2vla_policy.testing.probe import SpinningNode


def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.01)


class Probe:
    """The test's node, spun in a background thread, keeping the latest messages."""

    def __init__(self) -> None:
        self.spinning = SpinningNode("widowx_sim_probe")
        self.node = self.spinning.node
        self.states: list[JointState] = []
        self.images: list[Image] = []
        self.task_states: list[dict] = []
        self.node.create_subscription(JointState, "/wx250s/joint_states", self.states.append, 10)
        self.node.create_subscription(Image, "/camera/image_raw", self.images.append, SENSOR)
        self.node.create_subscription(
            String, "/widowx_sim/task_state", lambda m: self.task_states.append(json.loads(m.data)),
            LATCHED,
        )  # fmt: skip
        self.group = self.node.create_publisher(
            JointGroupCommand, "/wx250s/commands/joint_group", 10
        )
        self.single = self.node.create_publisher(
            JointSingleCommand, "/wx250s/commands/joint_single", 10
        )

    def call(self, srv_type, name: str, request):
        client = self.node.create_client(srv_type, name)
        assert client.wait_for_service(timeout_sec=30.0), f"{name} never appeared"
        future = client.call_async(request)
        wait_until(future.done, 10.0, f"a reply from {name}")
        return future.result()

    def joints(self) -> np.ndarray:
        return WX250S.arm_positions(self.states[-1].name, self.states[-1].position)

    def close(self) -> None:
        self.spinning.close()


@pytest.fixture(scope="module")
def graph(egl_renderer_works):
    params = ["seed:=3", "task:=pick up the carrot", "image_width:=64", "image_height:=48"]
    cmd = [ros_executable("vlm2vla_sim", "widowx_sim"), "--ros-args"]
    for param in params:
        cmd += ["-p", param]
    sim = subprocess.Popen(cmd)
    probe = Probe()
    try:
        wait_until(lambda: len(probe.states) > 5 and probe.images, 30.0, "joint states and images")
        yield probe
    finally:
        probe.close()
        assert stop_process(sim) == 0, "widowx_sim did not exit cleanly on SIGINT"


def test_publishes_joint_states_camera_and_task_state(graph):
    state = graph.states[-1]
    assert list(state.name) == [*WX250S.joint_names, "gripper", "left_finger", "right_finger"]
    assert state.position[7] == pytest.approx(0.037, abs=1e-3)
    assert state.position[8] == pytest.approx(-state.position[7])
    image = graph.images[-1]
    assert (image.width, image.height, image.encoding) == (64, 48, "rgb8")
    pixels = np.frombuffer(bytes(image.data), np.uint8).reshape(48, 64, 3)
    assert pixels.std() > 5.0, "the camera sees a scene, not a blank frame"
    wait_until(lambda: graph.task_states, 10.0, "~/task_state")
    assert graph.task_states[-1]["instruction"] == "pick up the carrot"
    assert graph.task_states[-1]["seed"] == 3 and graph.task_states[-1]["success"] is False
    ee = ArmKinematics(WX250S).fk(WX250S.arm_positions(state.name, state.position))[:3, 3]
    np.testing.assert_allclose(graph.task_states[-1]["ee_m"], ee, atol=0.01)  # the arm is still
    assert graph.task_states[-1]["finger_m"] == pytest.approx(state.position[7], abs=2e-3)


def test_robot_info_and_a_group_command_moves_the_joints_over_the_profile(graph):
    request = RobotInfo.Request(cmd_type="group", name="arm")
    info = graph.call(RobotInfo, "/wx250s/get_robot_info", request)
    assert tuple(info.joint_names) == WX250S.joint_names
    assert info.joint_upper_limits == pytest.approx(WX250S.upper_limits_rad)
    modes = OperatingModes.Request(cmd_type="group", name="arm", mode="position",
                                   profile_type="time", profile_velocity=500,
                                   profile_acceleration=100)  # fmt: skip
    graph.call(OperatingModes, "/wx250s/set_operating_modes", modes)
    start = graph.joints()
    goal = start + np.array([0.25, -0.1, 0.0, 0.0, 0.1, 0.0])
    graph.group.publish(JointGroupCommand(name="arm", cmd=[float(q) for q in goal]))
    wait_until(lambda: abs(graph.joints()[0] - start[0]) > 0.02, 5.0, "the waist to start moving")
    moving = time.monotonic()
    wait_until(lambda: np.allclose(graph.joints(), goal, atol=0.01), 5.0, "the arm to arrive")
    assert 0.2 < time.monotonic() - moving < 1.5, "a 500 ms profile takes about half a second"
    graph.single.publish(JointSingleCommand(name="gripper", cmd=-350.0))
    wait_until(lambda: graph.states[-1].position[7] < 0.016, 5.0, "the gripper to close")


def test_reset_service_restores_the_start_pose(graph):
    reply = graph.call(Trigger, "/widowx_sim/reset", Trigger.Request())
    assert reply.success, reply.message
    time.sleep(0.3)
    assert graph.states[-1].position[7] == pytest.approx(0.037, abs=1e-3)
