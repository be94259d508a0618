"""Declared node parameters: one table per node, with descriptions, validation and docs.

Each node lists its parameters once as :class:`Param` rows. :func:`declare_parameters` declares
them with descriptions (visible in ``ros2 param describe``), validates every value at start, and
refuses parameters the node does not know (a typo in a parameter file is an error, not a silent
default). :func:`markdown_table` renders the same rows for the documentation.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

Check = Callable[[Any], str | None]  # returns what is wrong with a value, or None


@dataclass(frozen=True)
class Param:
    """One declared parameter: its name, default (which fixes its type), description, check."""

    name: str
    default: bool | int | float | str | list[float] | list[str]
    description: str  # say the unit and what happens at the extremes
    check: Check | None = None


class ParameterError(ValueError):
    """Parameters that are unknown to the node or fail their check; the node does not start."""


def positive(value: float) -> str | None:
    """Check: strictly positive."""
    return None if value > 0 else "must be > 0"


def non_negative(value: float) -> str | None:
    """Check: zero or more."""
    return None if value >= 0 else "must be >= 0"


def in_range(low: float, high: float) -> Check:
    """Check: within [low, high]."""
    return lambda value: None if low <= value <= high else f"must be within [{low}, {high}]"


def one_of(*choices: str) -> Check:
    """Check: one of the given strings."""
    return lambda value: None if value in choices else f"must be one of {list(choices)}"


def declare_parameters(node: Node, params: Sequence[Param]) -> dict[str, Any]:
    """Declare ``params`` on ``node`` and return their values; raise :class:`ParameterError`.

    Every problem is collected first, so one start reports all of them.
    """
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
        problem = param.check(value) if param.check else None
        if problem:
            problems.append(f"{param.name}={value!r} {problem}")
        values[param.name] = value
    if problems:
        raise ParameterError("invalid parameters:\n  " + "\n  ".join(problems))
    return values


def markdown_table(params: Sequence[Param]) -> str:
    """The parameters as a Markdown table (name, type, default, description)."""
    rows = ["| parameter | type | default | description |", "|---|---|---|---|"]
    for p in params:
        kind = type(p.default).__name__
        rows.append(f"| `{p.name}` | {kind} | `{p.default!r}` | {p.description} |")
    return "\n".join(rows)
