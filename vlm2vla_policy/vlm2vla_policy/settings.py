"""Settings stated once: a config field's default, description, unit and check as its metadata.

A config is a frozen dataclass whose fields are declared with :func:`setting` (a value) or
:func:`section` (a nested config)::

    temperature: float = setting(0.5, "softmax temperature; 0 = greedy", low=0.0, high=2.0)

and whose ``__post_init__`` calls :func:`validate`: every field is checked against its type
hint and its metadata (NaN and infinities are refused for floats), and the error names the
field. The ROS parameters of the nodes (:func:`vlm2vla_policy.nodes.params.params_from`), the
command-line options (:class:`vlm2vla_policy.cli_options.Options`) and the parameter docs are
derived from the same metadata, so a default, a unit or a limit is written in one place.
An error names a field as ``Owner.field`` (``ModelConfig.model``); :func:`spell_fields` rewrites
those names as the flag or parameter that sets the field, so a user reads what they typed.
:func:`from_dict` builds a config from plain data (YAML, JSON); :func:`replace_paths` changes
fields of nested configs by dotted path (``"sampling.plan.temperature"``). Nothing here imports
ROS.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import math
import numbers
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
Check = Callable[[Any], str | None]  # what is wrong with a value, or None
ErrorType = Callable[[str], Exception]  # an exception class (or factory) taking the message

METADATA_KEY = "vlm2vla_setting"

# ``ModelConfig.allow_download`` or ``ModelConfig.allow_download=True`` in an error message.
FIELD_REFERENCE = re.compile(
    r"\b(?P<owner>[A-Z][A-Za-z0-9]*)\.(?P<name>[a-z][a-z0-9_]*)(?:=(?P<value>[^\s,;)]+))?"
)
Spell = Callable[[str, str | None], str | None]  # ("Owner.field", value or None) -> words


@dataclass(frozen=True)
class Setting:
    """What a field is and which values it takes: its metadata under :data:`METADATA_KEY`."""

    description: str  # what the value does; the extremes where they matter
    unit: str = ""  # "s", "m", "Hz", "pixels" ...; "" for none
    low: float | None = None  # smallest allowed value (inclusive)
    high: float | None = None  # largest allowed value (inclusive)
    above: float | None = None  # values must be greater than this (exclusive lower bound)
    below: float | None = None  # values must be less than this (exclusive upper bound)
    choices: tuple[Any, ...] = ()  # the allowed values (of each item, for a tuple)
    check: Check | None = None  # a further check of the whole value
    qualifies: bool = False  # a section whose description is added to its fields' help

    def help(self) -> str:
        """The description with its unit."""
        return f"{self.description}, {self.unit}" if self.unit else self.description

    def limits(self) -> str:
        """The allowed values in words ("" when any value of the type is allowed)."""
        if self.choices:
            return "one of " + ", ".join(str(_plain(c)) for c in self.choices)
        lower = f"({self.above}" if self.above is not None else _maybe("[", self.low)
        upper = f"{self.below})" if self.below is not None else _maybe(self.high, "]")
        if lower and upper:
            return f"{lower}, {upper}"
        if lower:
            return (">= " if lower[0] == "[" else "> ") + lower[1:]
        if upper:
            return ("<= " if upper[-1] == "]" else "< ") + upper[:-1]
        return ""

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` (of the right type) for this setting, or None."""
        if isinstance(value, tuple):
            why = next(filter(None, (self._scalar_problem(item) for item in value)), None)
            if why:
                return f"items {why}"
        else:
            why = self._scalar_problem(value)
            if why:
                return why
        return self.check(value) if self.check else None

    def _scalar_problem(self, value: Any) -> str | None:
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number"
        if self.choices and value not in self.choices:
            return f"must be one of {[_plain(c) for c in self.choices]}"
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            bounds = (
                self.low is None or value >= self.low,
                self.above is None or value > self.above,
                self.high is None or value <= self.high,
                self.below is None or value < self.below,
            )
            if not all(bounds):
                limits = self.limits()
                return f"must be {'within ' if limits[0] in '([' else ''}{limits}"
        return None


def setting(
    default: Any,
    description: str,
    *,
    unit: str = "",
    low: float | None = None,
    high: float | None = None,
    above: float | None = None,
    below: float | None = None,
    choices: tuple[Any, ...] = (),
    check: Check | None = None,
) -> Any:
    """A dataclass field with ``default`` and its :class:`Setting` metadata."""
    meta = Setting(description, unit, low, high, above, below, tuple(choices), check)
    return dataclasses.field(default=default, metadata={METADATA_KEY: meta})


def section(factory: Callable[[], Any], description: str, *, qualifies: bool = False) -> Any:
    """A dataclass field holding a nested config, made by ``factory`` for each instance.

    With ``qualifies`` the section's description is added to the help of the fields inside it
    (e.g. which stage a temperature is for).
    """
    meta = Setting(description, qualifies=qualifies)
    return dataclasses.field(default_factory=factory, metadata={METADATA_KEY: meta})


def like(owner: type, name: str, description: str | None = None) -> Any:
    """A field that takes the setting ``name`` of ``owner`` (default, unit, check) for a new use.

    ``description``, when given, replaces the original one.
    """
    meta = spec(owner, name)
    if description is not None:
        meta = dataclasses.replace(meta, description=description)
    return dataclasses.field(default=default_of(owner, name), metadata={METADATA_KEY: meta})


def nonempty(value: Any) -> str | None:
    """Check: not empty (a string or a tuple)."""
    return None if len(value) else "must not be empty"


def ordered(value: tuple[float, ...]) -> str | None:
    """Check: ``(min, max)`` with min < max."""
    return None if value[0] < value[1] else "must be (min, max) with min < max"


def spec(owner: type, name: str) -> Setting:
    """The :class:`Setting` of field ``name`` of the dataclass ``owner``."""
    meta = _fields(owner)[name].metadata.get(METADATA_KEY)
    if meta is None:
        raise TypeError(f"{owner.__name__}.{name} is not declared with setting() or section()")
    return meta


def default_of(owner: type, name: str) -> Any:
    """The default of field ``name`` of the dataclass ``owner`` (a factory's product)."""
    item = _fields(owner)[name]
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory()
    return item.default


def require(condition: bool, message: str, error: ErrorType = ValueError) -> None:
    """Raise ``error(message)`` unless ``condition`` holds (checks across fields)."""
    if not condition:
        raise error(message)


def validate(config: Any, error: ErrorType = ValueError) -> None:
    """Check every declared field of ``config``; raise ``error`` naming the first bad one.

    Call it first in ``__post_init__``; checks across fields follow with :func:`require`.
    """
    owner = type(config)
    for item in dataclasses.fields(config):
        if METADATA_KEY in item.metadata:
            value = getattr(config, item.name)
            why = problem(owner, item.name, value)
            if why:
                raise error(f"{owner.__name__}.{item.name} {why}, got {value!r}")


def problem(owner: type, name: str, value: Any) -> str | None:
    """What is wrong with ``value`` for field ``name`` of ``owner`` (type, then limits), or None."""
    hint = hints(owner)[name]
    if not fits(value, hint):
        return f"must be {type_name(hint)}"
    return spec(owner, name).problem(value)


def plain_problem(owner: type, name: str, value: Any) -> str | None:
    """:func:`problem` of plain data (as YAML, JSON or ROS give it), converted first."""
    try:
        typed = convert(value, hints(owner)[name])
    except (TypeError, ValueError) as err:
        return str(err)
    return problem(owner, name, typed)


def from_dict(owner: type[T], data: Mapping[str, Any], error: ErrorType = ValueError) -> T:
    """Build the config ``owner`` from plain nested data; missing fields take their defaults.

    Nested configs come from nested mappings, tuples from lists, floats from ints (YAML writes
    1 for 1.0) and from strings (YAML 1.1 reads 2e-3 as one), enums from their values. Unknown
    keys and values of the wrong type raise ``error`` naming the key.
    """
    if not isinstance(data, Mapping):
        raise error(f"{owner.__name__} needs a mapping, got {type(data).__name__}")
    names = sorted(name for name, item in _fields(owner).items() if item.init)
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise error(f"unknown {owner.__name__} keys {unknown}; known: {names}")
    kwargs = {}
    for name, value in data.items():
        try:
            kwargs[name] = convert(value, hints(owner)[name], error)
        except TypeError as err:
            raise error(f"{owner.__name__}.{name} {err}, got {value!r}") from None
    return owner(**kwargs)


def convert(value: Any, hint: Any, error: ErrorType = ValueError) -> Any:
    """``value`` (plain data) as type ``hint``; TypeError saying the type when it cannot be."""
    if hint is Any:
        return value
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arm in (a for a in args if a is not type(None)):
            with contextlib.suppress(TypeError):
                return convert(value, arm, error)
        raise TypeError(f"must be {type_name(hint)}")
    if origin is tuple and isinstance(value, (list, tuple)):
        items = args[:1] * len(value) if args[1:] == (Ellipsis,) else args
        if len(items) != len(value):
            raise TypeError(f"must be {type_name(hint)}")
        return tuple(convert(v, h, error) for v, h in zip(value, items, strict=True))
    if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
        return from_dict(hint, value, error)
    if isinstance(hint, type) and issubclass(hint, enum.Enum) and not isinstance(value, hint):
        try:
            return hint(value)
        except ValueError:
            raise TypeError(f"must be one of {[m.value for m in hint]}") from None
    if hint is float and isinstance(value, str):
        with contextlib.suppress(ValueError):
            return float(value)
    if hint is float and fits(value, float):
        return float(value)
    if not fits(value, hint):
        raise TypeError(f"must be {type_name(hint)}")
    return value


def fits(value: Any, hint: Any) -> bool:
    """Tell whether ``value`` is of type ``hint`` (ints count as floats, bools as neither)."""
    if hint is Any:
        return True
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, arm) for arm in args)
    if hint is type(None):
        return value is None
    if hint in (int, float):
        kind = numbers.Integral if hint is int else numbers.Real
        return isinstance(value, kind) and not isinstance(value, bool)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        items = args[:1] * len(value) if args[1:] == (Ellipsis,) else args
        return len(items) == len(value) and all(map(fits, value, items))
    return isinstance(value, origin or hint)


def type_name(hint: Any) -> str:
    """A type hint in words: ``float``, ``int or None``, ``a tuple of 2 float``."""
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(arm) for arm in args)
    if origin is tuple:
        if args[1:] == (Ellipsis,):
            return f"a tuple of {type_name(args[0])}"
        return f"a tuple of {len(args)} {' and '.join(sorted({type_name(a) for a in args}))}"
    if hint is type(None):
        return "None"
    return getattr(hint, "__name__", str(hint))


@functools.cache
def hints(owner: type) -> dict[str, Any]:
    """The resolved type hints of the dataclass ``owner`` (cached)."""
    return typing.get_type_hints(owner)


@dataclass(frozen=True)
class Located:
    """A setting reached by a dotted path from a config instance."""

    owner: type  # the dataclass that declares the field
    name: str  # the field's name in ``owner``
    value: Any  # its value in the instance the path started from (the default there)
    setting: Setting
    context: str  # description of the (qualifying) section holding it, else ""

    @property
    def hint(self) -> Any:
        """The field's type hint."""
        return hints(self.owner)[self.name]

    def help(self) -> str:
        """The description with its unit and, for a nested field, the section's description."""
        text = self.setting.help()
        return f"{text}; {self.context}" if self.context else text

    def limits(self) -> str:
        """The allowed values in words; an enum's values when the setting names none."""
        hint = self.hint
        if not self.setting.choices and isinstance(hint, type) and issubclass(hint, enum.Enum):
            return "one of " + ", ".join(str(member.value) for member in hint)
        return self.setting.limits()


def locate(config: Any, path: str) -> Located:
    """The setting at dotted ``path`` (e.g. ``"sampling.plan.temperature"``) of ``config``."""
    *heads, name = path.split(".")
    context = ""
    for head in heads:
        meta = _fields(type(config))[head].metadata.get(METADATA_KEY)
        context = meta.description if meta and meta.qualifies else ""
        config = getattr(config, head)
    owner = type(config)
    return Located(owner, name, getattr(config, name), spec(owner, name), context)


def replace_paths(config: T, changes: Mapping[str, Any]) -> T:
    """``config`` with the fields at the dotted paths of ``changes`` replaced (innermost first).

    Each nested config is rebuilt once, with all of its changes, so its checks see them together.
    """
    direct: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for path, value in changes.items():
        head, _, rest = path.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            direct[head] = value
    for head, inner in nested.items():
        direct[head] = replace_paths(getattr(config, head), inner)
    return dataclasses.replace(config, **direct)


def field_key(owner: type, name: str) -> str:
    """How errors name field ``name`` of ``owner``: ``"ModelConfig.model"``."""
    return f"{owner.__name__}.{name}"


def spell_fields(message: str, spell: Spell) -> str:
    """``message`` with each field it names (``Owner.field``, maybe ``=value``) spelled anew.

    ``spell(key, value)`` gets the :func:`field_key` and the value written after ``=`` (None
    without one) and returns the words to put in place (``--allow-download``), or None to keep
    that reference as it is (a field the caller has no flag or parameter for).
    """

    def replace(match: re.Match) -> str:
        key = f"{match['owner']}.{match['name']}"
        words = spell(key, match["value"])
        return match[0] if words is None else words

    return FIELD_REFERENCE.sub(replace, message)


def _fields(owner: type) -> dict[str, dataclasses.Field]:
    return {item.name: item for item in dataclasses.fields(owner)}


def _maybe(left: Any, right: Any) -> str:
    """``left`` + ``right`` as text, or "" when either is None."""
    return "" if left is None or right is None else f"{left}{right}"


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value
