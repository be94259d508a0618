"""ROS 2 message definitions as rosbag2 stores them in MCAP schemas (encoding ``ros2msg``).

A schema is the type's ``.msg`` text followed by every nested type's text, each introduced by a
line of 80 ``=`` and ``MSG: pkg/Type``. The texts and type hashes come from the installed
interface packages (``share/<pkg>/msg/<Type>.msg`` and ``.json`` on ``AMENT_PREFIX_PATH``).
"""

import json
import os
import re
from functools import cache
from pathlib import Path

SEPARATOR = "=" * 80
BUILTIN_TYPES = {
    "bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16",
    "int32", "uint32", "int64", "uint64", "string", "wstring",
}  # fmt: skip


class UnknownMessageTypeError(LookupError):
    """A message type whose definition is not installed on AMENT_PREFIX_PATH."""


def normalize_type(type_name: str) -> str:
    """Return ``pkg/msg/Type`` for ``pkg/Type`` or ``pkg/msg/Type``."""
    parts = type_name.split("/")
    if len(parts) == 2:
        return f"{parts[0]}/msg/{parts[1]}"
    if len(parts) == 3:
        return type_name
    raise UnknownMessageTypeError(f"{type_name!r} is not a message type name like 'pkg/msg/Type'")


@cache
def _interface_file(type_name: str, suffix: str) -> Path:
    pkg, kind, name = normalize_type(type_name).split("/")
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        path = Path(prefix) / "share" / pkg / kind / f"{name}{suffix}"
        if path.exists():
            return path
    raise UnknownMessageTypeError(
        f"no {name}{suffix} of {pkg} on AMENT_PREFIX_PATH; build or source the package "
        "that defines it (source scripts/env.sh)"
    )


def _nested_types(text: str, pkg: str) -> list[str]:
    """Types of the non-builtin fields of a ``.msg`` text, as ``pkg/Type``."""
    nested = []
    for line in text.splitlines():
        tokens = line.split("#", 1)[0].split()
        if not tokens:
            continue
        base = re.sub(r"(\[.*|<=\d+)$", "", tokens[0])
        if base in BUILTIN_TYPES:
            continue
        if base == "Header":
            base = "std_msgs/Header"
        nested.append(base if "/" in base else f"{pkg}/{base}")
    return nested


@cache
def message_definition(type_name: str) -> str:
    """The full ``ros2msg`` schema text of ``type_name`` (nested definitions appended once)."""
    root = normalize_type(type_name)
    parts = [_interface_file(root, ".msg").read_text()]
    seen = {root}
    queue = _nested_types(parts[0], root.split("/")[0])
    while queue:
        nested = normalize_type(queue.pop(0))
        if nested in seen:
            continue
        seen.add(nested)
        text = _interface_file(nested, ".msg").read_text()
        pkg, _, name = nested.split("/")
        parts.append(f"{SEPARATOR}\nMSG: {pkg}/{name}\n{text}")
        queue.extend(_nested_types(text, pkg))
    return "\n".join(part.rstrip("\n") for part in parts) + "\n"


@cache
def type_hash(type_name: str) -> str:
    """The RIHS01 type hash of ``type_name`` (what Jazzy checks between endpoints)."""
    data = json.loads(_interface_file(normalize_type(type_name), ".json").read_text())
    return data["type_hashes"][0]["hash_string"]
