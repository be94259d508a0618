"""Declared node parameters: one table per node, with descriptions, validation and docs.

Each node's parameters are :class:`Param` rows derived from config dataclasses by
:func:`params_from`: name, default, description (with unit) and check come from the fields'
:mod:`vlm2vla_policy.settings` metadata, so a default is stated once, in the dataclass, and
:func:`derived_config` builds the configs back from the declared values.
:func:`declare_parameters` declares the rows with descriptions (visible in ``ros2 param
describe``), validates every value at start, and refuses parameters the node does not know (a
typo in a parameter file is an error, not a silent default). :func:`markdown_table` renders the
same rows for the documentation. An error that names a dataclass field ("pass
ModelConfig.model as ...") is rewritten by :func:`param_message` with the parameter that sets it
("pass parameter 'model' as ..."). Only :func:`declare_parameters` needs rclpy (imported there),
so the tables can be read without ROS.
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from vlm2vla_policy.settings import (
    Located,
    convert,
    field_key,
    locate,
    plain_problem,
    replace_paths,
    spell_fields,
)

if TYPE_CHECKING:
    from rclpy.node import Node

T = TypeVar("T")
Check = Callable[[Any], str | None]  # returns what is wrong with a value, or None
ParamValue = bool | int | float | str | list[float] | list[int] | list[str]


@dataclass(frozen=True)
class Param:
    """One declared parameter: its name, default (which fixes its type), description, check."""

    name: str
    default: ParamValue
    description: str  # say the unit and what happens at the extremes
    check: Check | None = None
    valid: str = ""  # the allowed values in words, for the docs
    config: type | None = None  # the config dataclass whose defaults it was derived from
    field: str = ""  # the dotted path of the field it sets in ``config``


class ParameterError(ValueError):
    """Parameters that are unknown to the node or fail their check; the node does not start."""


def positive(value: float) -> str | None:
    """Check: strictly positive."""
    return None if value > 0 else "must be > 0"


def params_from(
    config: type,
    paths: Iterable[str],
    *,
    prefix: str = "",
    rename: Mapping[str, str] | None = None,
) -> tuple[Param, ...]:
    """The :class:`Param` rows of the fields at dotted ``paths`` of the config class ``config``.

    A row's name is ``rename[path]`` or ``prefix`` + the field's name; its default is the field's
    value in ``config()`` (tuples as lists, enums as their values); its description, check and
    allowed values come from the field's setting metadata.
    """
    rename = rename or {}
    defaults = config()
    rows = []
    for path in paths:
        found = locate(defaults, path)
        rows.append(
            Param(
                name=rename.get(path) or prefix + found.name,
                default=ros_value(found.value, found.hint),
                description=found.help(),
                check=_checker(found),
                valid=found.limits(),
                config=config,
                field=path,
            )
        )
    return tuple(rows)


def derived_config(
    config: type[T],
    params: Sequence[Param],
    values: Mapping[str, Any],
    changes: Mapping[str, Any] | None = None,
) -> T:
    """``config()`` with the values of the ``params`` derived from it, then ``changes``, applied.

    ``values`` are the declared parameter values (name -> value); ROS values are converted to
    the fields' types (lists to tuples, strings to enums). ``changes`` (dotted path -> value)
    carry what the node computes itself; the config's checks see everything at once.
    """
    defaults = config()
    fields = {
        param.field: convert(values[param.name], locate(defaults, param.field).hint)
        for param in params
        if param.config is config
    }
    return replace_paths(defaults, {**fields, **(changes or {})})


def ros_value(value: Any, hint: Any = None) -> ParamValue:
    """``value`` as a ROS parameter holds it: tuples as lists, enums as values, floats as floats."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        args = typing.get_args(hint)
        items = args[:1] * len(value) if args[1:] == (Ellipsis,) else args
        return [ros_value(v, h) for v, h in zip(value, items or (None,) * len(value), strict=True)]
    if value is None:
        raise TypeError("a ROS parameter cannot hold None; give the setting a value instead")
    if hint is float:
        return float(value)
    return value


def _checker(found: Located) -> Check:
    return lambda value: plain_problem(found.owner, found.name, value)


def declare_parameters(node: Node, params: Sequence[Param]) -> dict[str, Any]:
    """Declare ``params`` on ``node`` and return their values; raise :class:`ParameterError`.

    Every problem is collected first, so one start reports all of them.
    """
    from rcl_interfaces.msg import ParameterDescriptor

    known = {p.name for p in params}
    problems = [
        f"unknown parameter {name!r} (not declared by {node.get_name()}; check for a typo)"
        for name in sorted(set(node._parameter_overrides) - known)  # rclpy has no public accessor
        if not name.startswith("qos_overrides.") and name != "use_sim_time"
    ]
    values = {}
    for param in params:
        descriptor = ParameterDescriptor(description=param.description)
        try:
            value = node.declare_parameter(param.name, param.default, descriptor).value
        except Exception as err:  # rclpy raises several types for a wrongly typed override
            problems.append(f"{param.name}: {err}")
            continue
        if value is None and isinstance(param.default, list):
            value = []  # `name:=[]` arrives unset: ROS cannot type an empty list
        problem = param.check(value) if param.check else None
        if problem:
            problems.append(f"{param.name}={value!r} {problem}")
        values[param.name] = value
    if problems:
        raise ParameterError("invalid parameters:\n  " + "\n  ".join(problems))
    return values


def param_message(error: BaseException | str, params: Sequence[Param]) -> str:
    """The message of ``error`` with every config field it names spelled as its parameter.

    ``ModelConfig.model`` becomes ``parameter 'model'``, ``ModelConfig.allow_download=True``
    becomes ``allow_download:=true`` (as ``-p`` and launch arguments write it). A field set by
    two parameters or by none keeps its dataclass name.
    """
    names: dict[str, list[str]] = {}
    defaults: dict[type, Any] = {}
    for param in params:
        if param.config is None:
            continue
        if param.config not in defaults:
            defaults[param.config] = param.config()
        found = locate(defaults[param.config], param.field)
        names.setdefault(field_key(found.owner, found.name), []).append(param.name)

    def spell(key: str, value: str | None) -> str | None:
        found = names.get(key, [])
        if len(found) != 1:
            return None
        if value is None:
            return f"parameter {found[0]!r}"
        return f"{found[0]}:={value.lower() if value in ('True', 'False') else value}"

    return spell_fields(str(error), spell)


def markdown_table(params: Sequence[Param]) -> str:
    """The parameters as a Markdown table (name, type, default, allowed values, description)."""
    rows = [
        "| parameter | type | default | allowed | description |",
        "|---|---|---|---|---|",
    ]
    for p in params:
        kind = type(p.default).__name__
        cells = (f"`{p.name}`", kind, f"`{p.default!r}`", p.valid, p.description)
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(rows)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
