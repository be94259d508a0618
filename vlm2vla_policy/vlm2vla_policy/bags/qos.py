"""QoS profiles of recorded topics, in the form rosbag2 Jazzy stores them (metadata version 9).

A topic's ``offered_qos_profiles`` is the list of QoS profiles its publishers offered: a YAML list
in ``metadata.yaml`` and the same list as a YAML string in the MCAP channel's metadata, with
policies named (``reliable``, ``transient_local``, ...) and durations as ``sec``/``nsec``.
``ros2 bag play`` publishes each topic with its recorded profile, so a latched topic stays
latched.

The profiles below are the ones the stack's publishers offer (``vlm2vla_policy.nodes.qos``),
with the RMW defaults spelled out (infinite deadline, lifespan and lease, automatic liveliness),
for bags written without a ROS graph. :data:`STACK_TOPICS` gives the type and profile of each
topic the project's bags hold.
"""

from collections.abc import Sequence

import yaml
from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2.metadata import dump_qos_v9, parse_qos

INFINITE = QosTime(9_223_372_036, 854_775_807)  # RMW_DURATION_INFINITE as (sec, nsec)


def keep_last(depth: int, reliability: QosReliability, durability: QosDurability) -> Qos:
    """A keep-last profile of ``depth`` messages with the RMW defaults for everything else."""
    return Qos(
        QosHistory.KEEP_LAST, depth, reliability, durability, INFINITE, INFINITE,
        QosLiveliness.AUTOMATIC, INFINITE, False,
    )  # fmt: skip


SENSOR = keep_last(5, QosReliability.BEST_EFFORT, QosDurability.VOLATILE)  # camera images
LATCHED = keep_last(1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL)  # instruction
STATUS = keep_last(20, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL)  # policy status
RELIABLE = keep_last(10, QosReliability.RELIABLE, QosDurability.VOLATILE)  # chunks, joint states

CAMERA_TOPIC = "/camera/image_raw"
INSTRUCTION_TOPIC = "/vlm2vla/instruction"
JOINT_STATES_TOPIC = "/wx250s/joint_states"
ACTION_CHUNK_TOPIC = "/vlm2vla/action_chunk"
STACK_TOPICS: dict[str, tuple[str, Qos]] = {
    CAMERA_TOPIC: ("sensor_msgs/msg/Image", SENSOR),
    INSTRUCTION_TOPIC: ("std_msgs/msg/String", LATCHED),
    JOINT_STATES_TOPIC: ("sensor_msgs/msg/JointState", RELIABLE),
    ACTION_CHUNK_TOPIC: ("vlm2vla_msgs/msg/ActionChunk", RELIABLE),
}


def qos_list(profiles: Sequence[Qos]) -> list[dict]:
    """``offered_qos_profiles`` as ``metadata.yaml`` (version 9) holds it: a list of mappings."""
    return [dict(profile) for profile in dump_qos_v9(list(profiles))]


def qos_yaml(profiles: Sequence[Qos]) -> str:
    """``offered_qos_profiles`` as the MCAP channel metadata holds it: the list as YAML text."""
    return yaml.safe_dump(qos_list(profiles), sort_keys=False).rstrip("\n")


def parse_offered_qos(value: str | list | None) -> tuple[Qos, ...]:
    """Profiles from a stored ``offered_qos_profiles`` (YAML text or list; any metadata version)."""
    return tuple(parse_qos(value or []))
