"""Import a ROS 2 (rclpy) message class from its type name (``pkg/msg/Type``).

Without rosidl_runtime_py; the rclpy tools need the class to subscribe and publish serialized.
"""

import importlib

from vlm2vla_policy.bags.msgtypes import UnknownMessageTypeError, normalize_type


def message_class(type_name: str) -> type:
    """The Python class of ``type_name``; a clear error when its package is not built/sourced."""
    pkg, kind, name = normalize_type(type_name).split("/")
    try:
        return getattr(importlib.import_module(f"{pkg}.{kind}"), name)
    except (ImportError, AttributeError) as err:
        raise UnknownMessageTypeError(
            f"cannot import {type_name}: {err}; build or source the package that defines it"
        ) from err
