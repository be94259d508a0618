"""ROS 2 message definitions for writing MCAP bags without ROS (rosbag2's ``ros2msg`` schemas).

A bag names each schema ``<pkg>/msg/<Type>`` and stores the type's definition followed by the
definitions of every type it uses, each after a separator line and ``MSG: <pkg>/<Type>``, exactly
as rosbag2 writes them. Comments are left out; the fields, their types and order are those of ROS 2
Jazzy and of ``vlm2vla_msgs`` (the tests compare them with the installed ``.msg`` files).
"""

from __future__ import annotations

_SEPARATOR = "=" * 80

_TIME = "int32 sec\nuint32 nanosec\n"
_HEADER = "builtin_interfaces/Time stamp\nstring frame_id\n"
_VECTOR3 = "float64 x\nfloat64 y\nfloat64 z\n"

FIELDS: dict[str, str] = {
    "builtin_interfaces/Time": _TIME,
    "std_msgs/Header": _HEADER,
    "geometry_msgs/Vector3": _VECTOR3,
    "std_msgs/String": "string data\n",
    "sensor_msgs/Image": (
        "std_msgs/Header header\nuint32 height\nuint32 width\nstring encoding\n"
        "uint8 is_bigendian\nuint32 step\nuint8[] data\n"
    ),
    "sensor_msgs/JointState": (
        "std_msgs/Header header\nstring[] name\nfloat64[] position\nfloat64[] velocity\n"
        "float64[] effort\n"
    ),
    "vlm2vla_msgs/ActionChunk": (
        "std_msgs/Header header\nstring instruction\nstring subtask\nuint32 subtask_index\n"
        "string motion_plan\nstring raw_text\ngeometry_msgs/Vector3[] translations_m\n"
        "float32[] gripper\nfloat32 step_duration_s\n"
    ),
}
"""Field lines of each type used by the project's bags, keyed ``<pkg>/<Type>``."""

_DEPENDENCIES: dict[str, tuple[str, ...]] = {
    "std_msgs/String": (),
    "sensor_msgs/Image": ("std_msgs/Header", "builtin_interfaces/Time"),
    "sensor_msgs/JointState": ("std_msgs/Header", "builtin_interfaces/Time"),
    "vlm2vla_msgs/ActionChunk": (
        "std_msgs/Header",
        "builtin_interfaces/Time",
        "geometry_msgs/Vector3",
    ),
}

IMAGE = "sensor_msgs/msg/Image"
JOINT_STATE = "sensor_msgs/msg/JointState"
STRING = "std_msgs/msg/String"
ACTION_CHUNK = "vlm2vla_msgs/msg/ActionChunk"


def schema_text(schema_name: str) -> str:
    """The full ``ros2msg`` definition of ``schema_name`` (e.g. ``"sensor_msgs/msg/Image"``)."""
    package, _, type_name = schema_name.split("/")
    key = f"{package}/{type_name}"
    if key not in _DEPENDENCIES:
        raise KeyError(f"no definition for {schema_name}; known: {sorted(_DEPENDENCIES)}")
    parts = [FIELDS[key]]
    parts.extend(f"{_SEPARATOR}\nMSG: {dep}\n{FIELDS[dep]}" for dep in _DEPENDENCIES[key])
    return "".join(parts)
