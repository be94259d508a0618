"""QoS of each topic class of the stack (one place, so nodes, simulator and bag tools agree).

- sensor data (camera images): best effort, keep last few, volatile — drop rather than queue.
- latched (instruction, policy status): reliable, transient local, depth 1 — a late subscriber
  gets the last value.
- commands and state (chunks, joint commands, joint states): reliable, keep last 10.
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
RELIABLE = QoSProfile(
    depth=10,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
PROFILES = {"sensor": SENSOR, "latched": LATCHED, "reliable": RELIABLE}

SENSOR_TYPES = {"sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"}
LATCHED_TYPES = {"std_msgs/msg/String", "vlm2vla_msgs/msg/PolicyStatus"}


def profile_name_for_type(type_name: str) -> str:
    """The QoS class (``sensor``, ``latched`` or ``reliable``) the stack uses for ``type_name``."""
    if type_name in SENSOR_TYPES:
        return "sensor"
    if type_name in LATCHED_TYPES:
        return "latched"
    return "reliable"
