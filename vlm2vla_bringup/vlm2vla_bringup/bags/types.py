"""Import a ROS 2 message class from its type name (``pkg/msg/Type``) without rosidl_runtime_py."""

import importlib

from vlm2vla_bringup.bags.msgdefs import UnknownMessageTypeError, normalize_type


def message_class(type_name: str) -> type:
    """The Python class of ``type_name``; a clear error when its package is not built/sourced."""
    pkg, kind, name = normalize_type(type_name).split("/")
    try:
        return getattr(importlib.import_module(f"{pkg}.{kind}"), name)
    except (ImportError, AttributeError) as err:
        raise UnknownMessageTypeError(
            f"cannot import {type_name}: {err}; build or source the package that defines it"
        ) from err
