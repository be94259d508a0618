"""The graph is real: two processes exchange this workspace's interfaces over DDS.

Fails when DDS traffic is broken (try RMW_IMPLEMENTATION=rmw_bogus_cpp make test).
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rclpy
from geometry_msgs.msg import Vector3
from rclpy.node import Node

from interbotix_xs_msgs.msg import JointGroupCommand
from interbotix_xs_msgs.srv import RobotInfo
from vlm2vla_msgs.msg import ActionChunk
from vlm2vla_policy.processes import stop_process

TIMEOUT_S = 30.0


def start_peer(**env: str) -> subprocess.Popen:
    script = Path(__file__).with_name("dds_peer.py")
    return subprocess.Popen([sys.executable, str(script)], env={**os.environ, **env})


@pytest.fixture
def peer():
    proc = start_peer()
    yield proc
    stop_process(proc)


@pytest.fixture
def node():
    rclpy.init()
    node = Node("dds_smoke_test")
    yield node
    node.destroy_node()
    rclpy.try_shutdown()


def test_chunk_becomes_joint_command_and_robot_info_round_trips(peer, node):
    received: list[JointGroupCommand] = []
    node.create_subscription(JointGroupCommand, "/wx250s/commands/joint_group", received.append, 10)
    pub = node.create_publisher(ActionChunk, "/smoke/action_chunk", 10)
    chunk = ActionChunk(
        subtask="arm",
        translations_m=[Vector3(x=0.01, y=-0.02, z=0.03), Vector3(x=0.04, y=0.0, z=-0.05)],
        gripper=[1.0, 0.0],
    )
    deadline = time.monotonic() + TIMEOUT_S
    while not received and time.monotonic() < deadline:
        assert peer.poll() is None, "the peer process died"
        pub.publish(chunk)
        rclpy.spin_once(node, timeout_sec=0.2)
    assert received, f"no JointGroupCommand from the peer process within {TIMEOUT_S} s"
    assert received[0].name == "arm"
    assert received[0].cmd == pytest.approx([0.01, -0.02, 0.03, 0.04, 0.0, -0.05], abs=1e-6)

    client = node.create_client(RobotInfo, "/wx250s/get_robot_info")
    assert client.wait_for_service(timeout_sec=TIMEOUT_S), "RobotInfo service never appeared"
    future = client.call_async(RobotInfo.Request(cmd_type="group", name="arm"))
    rclpy.spin_until_future_complete(node, future, timeout_sec=TIMEOUT_S)
    response = future.result()
    assert response is not None, "RobotInfo call timed out"
    assert response.num_joints == 6
    assert response.joint_names[0] == "waist"
    assert response.name == ["arm"]


def test_other_domain_is_not_heard(node):
    """Isolation: a peer on another ROS_DOMAIN_ID must not answer (so parallel runs never mix)."""
    other = str((int(os.environ["ROS_DOMAIN_ID"]) + 50) % 100 + 1)
    proc = start_peer(ROS_DOMAIN_ID=other)
    try:
        client = node.create_client(RobotInfo, "/wx250s/get_robot_info")
        assert not client.wait_for_service(timeout_sec=5.0)
    finally:
        stop_process(proc)
