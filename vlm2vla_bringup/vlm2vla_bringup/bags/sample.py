"""Generate the small sample bag: camera frames of a synthetic tabletop plus one instruction.

The bag is made by code (not committed as a binary): ``vlm2vla-bag sample OUT``. Frames are
``rgb8`` ``sensor_msgs/Image`` on ``/camera/image_raw`` at ``fps``; the instruction is a
``std_msgs/String`` on ``/vlm2vla/instruction`` at the start, each topic with the QoS the stack
publishes it with (``vlm2vla_policy.bags.STACK_TOPICS``). Times are nanoseconds since the epoch.
"""

from pathlib import Path

import numpy as np

from vlm2vla_policy.bags import DEFAULT_COMPRESSION, STACK_TOPICS, BagWriter
from vlm2vla_policy.bags.messages import rgb8_image, string
from vlm2vla_policy.bags.qos import CAMERA_TOPIC, INSTRUCTION_TOPIC

START_NS = 1_700_000_000_000_000_000


def tabletop_frame(t: float, size: int = 128) -> np.ndarray:
    """A square RGB frame: a table, a red block, and a grey gripper that moves with ``t``."""
    frame = np.full((size, size, 3), (150, 120, 90), np.uint8)
    block = slice(size // 2, size // 2 + size // 8)
    frame[block, block] = (200, 30, 30)
    x = int(size * (0.2 + 0.3 * (0.5 + 0.5 * np.sin(t))))
    frame[size // 8 : size // 8 + size // 10, x : x + size // 10] = (90, 90, 90)
    return frame


def write_sample_bag(
    path: str | Path,
    instruction: str = "pick up the red block",
    seconds: float = 6.0,
    fps: float = 5.0,
    size: int = 128,
    *,
    compression: str = DEFAULT_COMPRESSION,
) -> Path:
    """Write the sample bag to the new directory ``path``; return it."""
    with BagWriter(path, compression) as bag:
        for topic in (INSTRUCTION_TOPIC, CAMERA_TOPIC):
            bag.add_topic(topic, *STACK_TOPICS[topic])
        bag.write(INSTRUCTION_TOPIC, string(instruction), START_NS)
        for i in range(int(seconds * fps)):
            stamp = START_NS + int(i * 1e9 / fps) + 1
            frame = tabletop_frame(i / fps, size)
            bag.write(CAMERA_TOPIC, rgb8_image(frame, stamp), stamp)
    return Path(path)
