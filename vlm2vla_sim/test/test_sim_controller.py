"""controller_node drives widowx_sim: an ExecuteChunk goal moves the simulated EE by the chunk.

The test heartbeats its goal (the controller's lease) and, after the result, waits until the
simulated arm has settled rather than a fixed time (the simulator may lag under load).
"""

import subprocess
import time

import numpy as np
from geometry_msgs.msg import Vector3
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger

from vlm2vla_msgs.action import ExecuteChunk
from vlm2vla_msgs.msg import ActionChunk
from vlm2vla_policy.nodes.action_client import ThreadSafeActionClient
from vlm2vla_policy.processes import ros_executable, stop_process
from vlm2vla_policy.robot import WX250S, ArmKinematics
from vlm2vla_policy.testing.lease import LeaseHeartbeat, new_goal_id
from vlm2vla_policy.testing.probe import SpinningNode

KIN = ArmKinematics(WX250S)
SETTLED_M = 5e-4  # the arm has settled when EE and fingers moved less than this in SETTLE_S, m
SETTLE_S = 0.3  # (longer than the last command's 250 ms profile)
SETTLE_STATES = 5  # ... over at least this many new joint states (a stalled simulator is not still)


def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.01)


def test_controller_executes_a_chunk_on_the_simulator():
    sim = subprocess.Popen([ros_executable("vlm2vla_sim", "widowx_sim"), "--ros-args",
                            "-p", "render_hz:=0.0"])  # fmt: skip
    controller = subprocess.Popen([ros_executable("vlm2vla_policy", "controller_node")])
    spinning = SpinningNode("controller_sim_test")
    node = spinning.node
    states: list[JointState] = []
    node.create_subscription(JointState, "/wx250s/joint_states", states.append, 10)
    action = ThreadSafeActionClient(node, ExecuteChunk, "/controller_node/execute_chunk")
    heartbeat = LeaseHeartbeat(node)
    try:
        assert action.wait_for_server(timeout_sec=40.0), "controller never served its action"
        wait_until(heartbeat.matched, 20.0, "the controller's chunk_steps subscription")
        resume = node.create_client(Trigger, "/controller_node/resume")
        assert resume.wait_for_service(timeout_sec=20.0)
        done = resume.call_async(Trigger.Request())
        wait_until(done.done, 10.0, "the controller to spin")
        wait_until(lambda: len(states) > 5, 10.0, "joint states from the simulator")

        def ee() -> np.ndarray:
            return KIN.fk(WX250S.arm_positions(states[-1].name, states[-1].position))[:3, 3]

        def pose() -> np.ndarray:  # EE position and finger position, m
            return np.append(ee(), states[-1].position[7])

        def settled() -> bool:
            count, before = len(states), pose()
            time.sleep(SETTLE_S)
            fresh = len(states) >= count + SETTLE_STATES
            return fresh and bool(np.all(np.abs(pose() - before) < SETTLED_M))

        start = ee()
        steps = [[0.03, 0.0, 0.0, 1.0], [0.0, 0.03, -0.02, 1.0], [0.0, 0.0, 0.0, 0.0]]
        chunk = ActionChunk(
            translations_m=[Vector3(x=s[0], y=s[1], z=s[2]) for s in steps],
            gripper=[float(s[3]) for s in steps],
        )
        goal_id = heartbeat.hold(new_goal_id())
        sent = action.send_goal_async(ExecuteChunk.Goal(chunk=chunk), goal_uuid=goal_id)
        wait_until(sent.done, 10.0, "the goal to be accepted")
        assert sent.result().accepted
        result = sent.result().get_result_async()
        wait_until(result.done, 30.0, "the chunk to finish")
        assert result.result().result.success, result.result().result.reason
        wait_until(settled, 30.0, "the simulated arm to settle after the chunk")
        moved = ee() - start
        np.testing.assert_allclose(moved, [0.03, 0.03, -0.02], atol=0.01)
        assert states[-1].position[7] < 0.02, "the last step closed the gripper"
    finally:
        spinning.close()
        stop_process(controller)
        stop_process(sim)
