"""Two namespaced robots on one ROS domain: a fake driver and a controller in /arm1 and in /arm2.

Every name of the nodes is relative, so ``__ns:=/arm1`` puts all of them under /arm1: a chunk
sent to /arm1's controller moves /arm1's driver and nothing reaches /arm2's.
"""

import subprocess
import time

import numpy as np
import pytest
from geometry_msgs.msg import Vector3
from std_srvs.srv import Trigger

from interbotix_xs_msgs.msg import JointGroupCommand
from vlm2vla_msgs.action import ExecuteChunk
from vlm2vla_msgs.msg import ActionChunk
from vlm2vla_policy.nodes.action_client import ThreadSafeActionClient
from vlm2vla_policy.nodes.chunk_msgs import fill_chunk_msg
from vlm2vla_policy.processes import ros_executable, stop_processes
from vlm2vla_policy.testing.lease import LeaseHeartbeat, new_goal_id
from vlm2vla_policy.testing.probe import SpinningNode

NAMESPACES = ("arm1", "arm2")
WAIT_S = 30.0  # longest wait for a process to come up or a reply, s
# Names every node has outside its namespace (rcl's own).
GLOBAL_TOPICS = {"/rosout", "/parameter_events"}


def start(executable: str, namespace: str, *params: str) -> subprocess.Popen:
    """``executable`` of vlm2vla_policy in ``/<namespace>``, with ``name:=value`` params."""
    cmd = [ros_executable("vlm2vla_policy", executable), "--ros-args", "-r", f"__ns:=/{namespace}"]
    for p in params:
        cmd += ["-p", p]
    return subprocess.Popen(cmd)


def wait_until(condition, what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.01)


def reply(future):
    wait_until(future.done, "a reply")
    return future.result()


def ready(resume) -> bool:
    """True once the controller of the ``resume`` client spins with joint states."""
    return (
        resume.wait_for_service(timeout_sec=1.0)
        and reply(resume.call_async(Trigger.Request())).success
    )


@pytest.mark.slow
def test_a_chunk_for_arm1_moves_arm1_only_and_no_name_leaves_the_namespaces():
    procs = []
    for namespace in NAMESPACES:
        procs.append(start("fake_xs_driver", namespace))
        procs.append(start("controller_node", namespace, "move_to_start:=false"))
    spinning = SpinningNode("namespaces_test")
    node = spinning.node
    commands: dict[str, list[list[float]]] = {ns: [] for ns in NAMESPACES}
    for namespace in NAMESPACES:
        node.create_subscription(
            JointGroupCommand, f"/{namespace}/wx250s/commands/joint_group",
            lambda m, ns=namespace: commands[ns].append(list(m.cmd)), 100,
        )  # fmt: skip
    action_name = "/arm1/controller_node/execute_chunk"
    action = ThreadSafeActionClient(node, ExecuteChunk, action_name)
    heartbeat = LeaseHeartbeat(node, action_name)
    try:
        assert action.wait_for_server(timeout_sec=WAIT_S), f"nobody serves {action_name}"
        wait_until(heartbeat.matched, "/arm1's controller to hear the heartbeats")
        for namespace in NAMESPACES:
            resume = node.create_client(Trigger, f"/{namespace}/controller_node/resume")
            wait_until(lambda client=resume: ready(client), f"{namespace}'s controller")

        chunk = fill_chunk_msg(ActionChunk(), np.array([[0.02, 0.0, 0.0, 1.0]]), Vector3)
        goal_id = heartbeat.hold(new_goal_id())
        goal = reply(action.send_goal_async(ExecuteChunk.Goal(chunk=chunk), goal_uuid=goal_id))
        assert goal.accepted
        result = reply(goal.get_result_async()).result
        heartbeat.release(goal_id)
        assert result.success, result.reason
        wait_until(lambda: len(commands["arm1"]) >= 2, "2 cm of arm commands on /arm1")
        time.sleep(0.5)  # what /arm2 would get would have come by now
        assert commands["arm2"] == [], "a chunk for /arm1 commanded /arm2"

        # Per node of ours, not the domain's topic list: a process of an earlier test stays in
        # the graph until its DDS lease runs out.
        def ours() -> list[tuple[str, str]]:
            graph = node.get_node_names_and_namespaces()
            return [(n, ns) for n, ns in graph if ns in ("/arm1", "/arm2")]

        # Node names are discovered apart from their topics, and may come later.
        wait_until(lambda: len(ours()) == 4, "a driver and a controller per namespace")
        outside = {
            f"{ns}/{n}: {topic}"
            for n, ns in ours()
            for lister in (
                node.get_publisher_names_and_types_by_node,
                node.get_subscriber_names_and_types_by_node,
                node.get_service_names_and_types_by_node,
            )
            for topic, _ in lister(n, ns)
            if topic not in GLOBAL_TOPICS and not topic.startswith(ns + "/")
        }
        assert not outside, f"names outside the namespaces: {sorted(outside)}"
        topics = {name for name, _ in node.get_topic_names_and_types()}
        assert "/arm2/wx250s/joint_states" in topics and "/arm1/wx250s/joint_states" in topics
    finally:
        spinning.close()
        stop_processes(procs)
