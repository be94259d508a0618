"""Build the messages the project's bags hold, as objects of the bags' typestore.

Times are nanoseconds since the epoch; images are HxWx3 uint8 RGB arrays; joint positions are
rad (arm, gripper servo) or m (fingers), as the driver publishes them.
"""

from collections.abc import Sequence

import numpy as np

from vlm2vla_policy.bags.msgtypes import message_class

_NS_PER_S = 1_000_000_000


def header(stamp_ns: int, frame_id: str = "") -> object:
    """A ``std_msgs/Header`` stamped ``stamp_ns`` in ``frame_id``."""
    sec, nanosec = divmod(stamp_ns, _NS_PER_S)
    stamp = message_class("builtin_interfaces/msg/Time")(sec=sec, nanosec=nanosec)
    return message_class("std_msgs/msg/Header")(stamp=stamp, frame_id=frame_id)


def string(text: str) -> object:
    """A ``std_msgs/String``."""
    return message_class("std_msgs/msg/String")(data=text)


def rgb8_image(frame: np.ndarray, stamp_ns: int, frame_id: str = "camera") -> object:
    """An ``rgb8`` ``sensor_msgs/Image`` holding ``frame``."""
    height, width = frame.shape[:2]
    return message_class("sensor_msgs/msg/Image")(
        header=header(stamp_ns, frame_id),
        height=height,
        width=width,
        encoding="rgb8",
        is_bigendian=0,
        step=width * 3,
        data=np.ascontiguousarray(frame, np.uint8).reshape(-1),
    )


def joint_state(names: Sequence[str], positions: Sequence[float], stamp_ns: int) -> object:
    """A ``sensor_msgs/JointState`` with positions only (no velocities or efforts)."""
    empty = np.zeros(0, np.float64)
    return message_class("sensor_msgs/msg/JointState")(
        header=header(stamp_ns),
        name=list(names),
        position=np.asarray(positions, np.float64),
        velocity=empty,
        effort=empty,
    )


def action_chunk(
    stamp_ns: int,
    frame_id: str,
    *,
    instruction: str,
    subtask: str,
    subtask_index: int,
    motion_plan: str,
    translations_m: Sequence[Sequence[float]],
    gripper: Sequence[float],
    step_duration_s: float,
    raw_text: str = "",
) -> object:
    """A ``vlm2vla_msgs/ActionChunk``: per step a base-frame move (m) and a gripper target."""
    vector3 = message_class("geometry_msgs/msg/Vector3")
    return message_class("vlm2vla_msgs/msg/ActionChunk")(
        header=header(stamp_ns, frame_id),
        instruction=instruction,
        subtask=subtask,
        subtask_index=subtask_index,
        motion_plan=motion_plan,
        raw_text=raw_text,
        translations_m=[vector3(x=float(x), y=float(y), z=float(z)) for x, y, z in translations_m],
        gripper=np.asarray(gripper, np.float32),
        step_duration_s=step_duration_s,
    )
