"""QoS of each topic class of the stack (one place, so nodes, simulator and bag tools agree).

- sensor data (camera images): best effort, keep last few, volatile — drop rather than queue.
- latched (instruction): reliable, transient local, depth 1 — a late subscriber gets the last
  value. policy_node reads instructions with depth 1000 (``INSTRUCTIONS``), so an instruction of
  a burst is never replaced unseen in its reader's queue: each reaches the node, which counts it
  as dropped or preempted when a newer one replaces it.
- status (policy status): reliable, transient local, depth 20 — a late subscriber gets the
  latest states, and a burst of state changes is not collapsed to its last one.
- commands and state (chunks, joint commands, joint states): reliable, keep last 10.
- streamed chunk steps and lease heartbeats (ChunkSteps): reliable, keep last 1000 — no step of
  a running chunk is dropped while the reader is busy (a gap would stop the chunk).
"""

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

SENSOR = qos_profile_sensor_data
LATCHED = QoSProfile(
    depth=1,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
INSTRUCTIONS = QoSProfile(
    depth=1000,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
STATUS = QoSProfile(
    depth=20,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
RELIABLE = QoSProfile(
    depth=10,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
STEPS = QoSProfile(
    depth=1000,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
PROFILES = {"sensor": SENSOR, "latched": LATCHED, "status": STATUS, "reliable": RELIABLE}

SENSOR_TYPES = {"sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"}
LATCHED_TYPES = {"std_msgs/msg/String"}
STATUS_TYPES = {"vlm2vla_msgs/msg/PolicyStatus"}


def profile_name_for_type(type_name: str) -> str:
    """The QoS class (a key of ``PROFILES``) the stack uses for ``type_name``."""
    if type_name in SENSOR_TYPES:
        return "sensor"
    if type_name in STATUS_TYPES:
        return "status"
    if type_name in LATCHED_TYPES:
        return "latched"
    return "reliable"
