"""The live publisher of the bag test, run as a separate process (``python bag_publisher.py``).

Publishes with the stack's QoS (``vlm2vla_policy.nodes.qos``) the latched instruction, then, once
the recorder subscribed, ``COUNT`` joint states and rgb8 images at ``RATE_HZ`` and one action
chunk. Every value is a function of the message's index (``expected_*``), and the index is in the
header stamp (``stamp_ns``), so the test can check each recorded message.
"""

import time

import numpy as np
import rclpy
from geometry_msgs.msg import Vector3
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String

from vlm2vla_msgs.msg import ActionChunk
from vlm2vla_policy.nodes.qos import LATCHED, RELIABLE, SENSOR

INSTRUCTION = "pick up the red block (live)"
COUNT = 15
RATE_HZ = 10.0
START_NS = 1_700_000_000_000_000_000
WIDTH, HEIGHT = 32, 24
JOINTS = ["waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate", "gripper"]
CHUNK_STEPS = [(0.01, -0.02, 0.03, 1.0), (0.04, 0.0, -0.05, 0.0)]


def stamp_ns(index: int) -> int:
    """Header stamp of the ``index``-th joint state and image, ns since the epoch."""
    return START_NS + index * 100_000_000


def index_of(sec: int, nanosec: int) -> int:
    """The index whose stamp is ``sec``, ``nanosec``."""
    return (sec * 1_000_000_000 + nanosec - START_NS) // 100_000_000


def expected_positions(index: int) -> list[float]:
    """Joint positions of the ``index``-th joint state, rad."""
    return [0.1 * k + 0.01 * index for k in range(len(JOINTS))]


def expected_frame(index: int) -> np.ndarray:
    """Pixels of the ``index``-th image (HEIGHT x WIDTH x 3 uint8)."""
    return (
        ((np.arange(HEIGHT * WIDTH * 3) + index) % 256).astype(np.uint8).reshape(HEIGHT, WIDTH, 3)
    )


def _stamped(msg, index: int):
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns(index), 1_000_000_000)
    return msg


def main() -> None:
    """Publish everything once, then linger so reliable messages get delivered."""
    rclpy.init()
    node = Node("bag_test_publisher")
    instruction = node.create_publisher(String, "/vlm2vla/instruction", LATCHED)
    joints = node.create_publisher(JointState, "/wx250s/joint_states", RELIABLE)
    camera = node.create_publisher(Image, "/camera/image_raw", SENSOR)
    chunks = node.create_publisher(ActionChunk, "/vlm2vla/action_chunk", RELIABLE)
    instruction.publish(String(data=INSTRUCTION))
    deadline = time.monotonic() + 30.0
    while joints.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # the recorder subscribes the other topics within its 0.5 s discovery period
    for index in range(COUNT):
        joints.publish(_stamped(JointState(name=JOINTS, position=expected_positions(index)), index))
        image = Image(height=HEIGHT, width=WIDTH, encoding="rgb8", step=WIDTH * 3)
        image.data = expected_frame(index).tobytes()
        camera.publish(_stamped(image, index))
        time.sleep(1.0 / RATE_HZ)
    chunk = ActionChunk(
        instruction=INSTRUCTION,
        subtask="reach the block",
        translations_m=[Vector3(x=x, y=y, z=z) for x, y, z, _ in CHUNK_STEPS],
        gripper=[g for *_, g in CHUNK_STEPS],
        step_duration_s=0.2,
    )
    chunks.publish(_stamped(chunk, COUNT))
    time.sleep(2.0)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == "__main__":
    main()
