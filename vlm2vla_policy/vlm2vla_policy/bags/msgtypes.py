"""The bags' ROS 2 message types: one typestore for definitions, CDR, schema texts and hashes.

Standard types come from rosbags' ROS 2 Jazzy typestore. Any other type (the project's
``vlm2vla_msgs``, ``interbotix_xs_msgs``, ...) is registered on first use from its ``.msg`` file,
found in the ``share/<pkg>/msg`` directories of ``AMENT_PREFIX_PATH`` or in this source tree
(``<pkg>/msg``, ``compat/<pkg>/msg``); a bag being read can supply the definitions it stores.

Message objects are the typestore's classes (:func:`message_class`); arrays of numbers are numpy
arrays. Type names are ``pkg/msg/Type`` (``pkg/Type`` is accepted).
"""

import os
from functools import cache
from pathlib import Path

from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

SEPARATOR = "=" * 80
SOURCE_ROOT = Path(__file__).resolve().parents[3]


class UnknownMessageTypeError(LookupError):
    """A message type with no definition in the typestore, on AMENT_PREFIX_PATH or in the bag."""


def normalize_type(type_name: str) -> str:
    """Return ``pkg/msg/Type`` for ``pkg/Type`` or ``pkg/msg/Type``."""
    parts = type_name.split("/")
    if len(parts) == 2 and all(parts):
        return f"{parts[0]}/msg/{parts[1]}"
    if len(parts) == 3 and all(parts):
        return type_name
    raise UnknownMessageTypeError(f"{type_name!r} is not a message type name like 'pkg/msg/Type'")


def short_type(type_name: str) -> str:
    """``pkg/Type``: how ``.msg`` files and schema separators name a type."""
    pkg, _, name = normalize_type(type_name).split("/")
    return f"{pkg}/{name}"


@cache
def typestore() -> Typestore:
    """The process-wide typestore (rosbags' ROS 2 Jazzy types, plus types registered since)."""
    return get_typestore(Stores.ROS2_JAZZY)


def _msg_file(type_name: str) -> Path | None:
    pkg, kind, name = normalize_type(type_name).split("/")
    prefixes = filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep))
    roots = [*(Path(prefix) / "share" for prefix in prefixes), SOURCE_ROOT, SOURCE_ROOT / "compat"]
    for root in roots:
        path = root / pkg / kind / f"{name}.msg"
        if path.is_file():
            return path
    return None


def _message_fields(fielddef: tuple) -> list[str]:
    """The ``pkg/msg/Type`` of every message-typed field of a parsed definition, in field order."""
    nested = []
    for _, desc in fielddef[1]:
        kind, rest = desc
        if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            kind, rest = rest[0]
        if kind == Nodetype.NAME:
            nested.append(rest)
    return nested


def ensure_type(type_name: str, definition: str | None = None) -> str:
    """Make ``type_name`` known to the typestore; return its ``pkg/msg/Type`` name.

    An unknown type is registered from its ``.msg`` file (with the types it uses), else from
    ``definition`` (a ``ros2msg`` schema text as stored in a bag).
    """
    type_name = normalize_type(type_name)
    store = typestore()
    if type_name in store.fielddefs:
        return type_name
    path = _msg_file(type_name)
    if path is not None:
        types = get_types_from_msg(path.read_text(encoding="utf-8"), type_name)
        for nested in {n for fielddef in types.values() for n in _message_fields(fielddef)}:
            if nested not in types:
                ensure_type(nested)
    elif definition:
        types = get_types_from_msg(definition, type_name)
    else:
        raise UnknownMessageTypeError(
            f"no definition of {type_name}: not a ROS 2 Jazzy type and no {short_type(type_name)}"
            ".msg on AMENT_PREFIX_PATH; build and source the package that defines it "
            "(source scripts/env.sh)"
        )
    store.register(types)
    return type_name


def message_class(type_name: str) -> type:
    """The typestore's class of ``type_name``, e.g. ``message_class("std_msgs/msg/String")``."""
    return typestore().types[ensure_type(type_name)]


def serialize(message: object) -> memoryview:
    """Little-endian CDR of a typestore message (with its 4-byte encapsulation header)."""
    type_name = getattr(message, "__msgtype__", None)
    if type_name is None:
        raise TypeError(
            f"{type(message).__name__} is not a message of the bags' typestore; build it with "
            "vlm2vla_policy.bags.message_class(type_name), or pass CDR bytes"
        )
    return typestore().serialize_cdr(message, ensure_type(type_name))


def deserialize(data: bytes | memoryview, type_name: str) -> object:
    """The typestore message of type ``type_name`` encoded by the CDR ``data``."""
    return typestore().deserialize_cdr(data, ensure_type(type_name))


@cache
def type_hash(type_name: str) -> str:
    """The RIHS01 type hash of ``type_name`` (what Jazzy checks between endpoints)."""
    return typestore().hash_rihs01(ensure_type(type_name))


@cache
def definition_text(type_name: str) -> str:
    """The ``.msg`` text of one type, as rosbag2 stores it.

    Its installed file (comments included) when that defines the same fields as the typestore,
    else the typestore's field lines.
    """
    type_name = ensure_type(type_name)
    store = typestore()
    path = _msg_file(type_name)
    if path is not None:
        text = path.read_text(encoding="utf-8")
        if get_types_from_msg(text, type_name).get(type_name) == store.fielddefs[type_name]:
            return text
    return store.gendefhash(type_name, {}, ros_version=2)[0]


@cache
def message_definition(type_name: str) -> str:
    """The ``ros2msg`` schema of ``type_name`` exactly as rosbag2 builds it.

    The type's text, then depth first each type it uses (sorted by name, each once): a newline,
    a line of 80 ``=``, ``MSG: pkg/Type`` and that type's text.
    """
    seen: set[str] = set()

    def with_dependencies(name: str) -> str:
        text = definition_text(name)
        nested_names = _message_fields(typestore().fielddefs[name])
        for dependency in sorted({short_type(n) for n in nested_names}):
            if dependency not in seen:
                seen.add(dependency)
                nested = with_dependencies(normalize_type(dependency))
                text += f"\n{SEPARATOR}\nMSG: {dependency}\n{nested}"
        return text

    return with_dependencies(ensure_type(type_name))
