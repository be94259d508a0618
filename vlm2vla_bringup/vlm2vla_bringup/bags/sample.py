"""Generate the small sample bag: camera frames of a synthetic tabletop plus one instruction.

The bag is made by code (not committed as a binary): ``vlm2vla-bag sample OUT``. Frames are
``rgb8`` ``sensor_msgs/Image`` on ``/camera/image_raw`` at ``fps``; the instruction is a
``std_msgs/String`` on ``/vlm2vla/instruction`` at the start.
"""

from pathlib import Path

import numpy as np
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image
from std_msgs.msg import String

from vlm2vla_bringup.bags.writer import BagWriter

CAMERA_TOPIC = "/camera/image_raw"
INSTRUCTION_TOPIC = "/vlm2vla/instruction"
START_NS = 1_700_000_000_000_000_000


def tabletop_frame(t: float, size: int = 128) -> np.ndarray:
    """A square RGB frame: a table, a red block, and a grey gripper that moves with ``t``."""
    frame = np.full((size, size, 3), (150, 120, 90), np.uint8)
    block = slice(size // 2, size // 2 + size // 8)
    frame[block, block] = (200, 30, 30)
    x = int(size * (0.2 + 0.3 * (0.5 + 0.5 * np.sin(t))))
    frame[size // 8 : size // 8 + size // 10, x : x + size // 10] = (90, 90, 90)
    return frame


def image_message(frame: np.ndarray, stamp_ns: int, frame_id: str = "camera") -> Image:
    """An ``rgb8`` Image message holding ``frame`` (HxWx3 uint8)."""
    msg = Image(height=frame.shape[0], width=frame.shape[1], encoding="rgb8", is_bigendian=0)
    msg.step = frame.shape[1] * 3
    msg.data = frame.tobytes()
    msg.header.frame_id = frame_id
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    return msg


def write_sample_bag(
    path: str | Path,
    instruction: str = "pick up the red block",
    seconds: float = 6.0,
    fps: float = 5.0,
    size: int = 128,
) -> Path:
    """Write the sample bag to the new directory ``path``; return it."""
    with BagWriter(path) as bag:
        bag.add_topic(INSTRUCTION_TOPIC, "std_msgs/msg/String")
        bag.add_topic(CAMERA_TOPIC, "sensor_msgs/msg/Image")
        bag.write(INSTRUCTION_TOPIC, serialize_message(String(data=instruction)), START_NS)
        for i in range(int(seconds * fps)):
            stamp = START_NS + int(i * 1e9 / fps) + 1
            frame = tabletop_frame(i / fps, size)
            bag.write(CAMERA_TOPIC, serialize_message(image_message(frame, stamp)), stamp)
    return Path(path)
