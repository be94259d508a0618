"""Command-line options derived from config dataclasses: one ``--flag`` per setting.

An :class:`Options` names fields of a config class by dotted path. :meth:`Options.add_to` adds
an argparse option for each (``--flag-name`` from the field's name; help from its description,
unit, allowed values and default; choices from its setting; a bool that defaults to true becomes
``--no-name``), and :meth:`Options.apply` builds the config from the parsed arguments, checking
every value with the field's own check. A bad value is reported with the flag the user typed::

    OPTIONS = Options(EvalConfig, ("data", "max_samples_per_stage"))
    OPTIONS.add_to(parser)
    config = OPTIONS.apply(parser.parse_args(argv))  # OptionError: --max-samples-per-stage ...

An error raised further in (the runtime's ``ModelLoadError``: "pass ModelConfig.model as ...")
names the dataclass field; :func:`flag_message` rewrites it with the flags of the command's
:class:`Options` ("pass --model as ..."), so a user reads the flag they typed.
"""

from __future__ import annotations

import argparse
import enum
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vlm2vla_policy.settings import (
    Located,
    convert,
    field_key,
    locate,
    problem,
    replace_paths,
    spell_fields,
    type_name,
)

_TRUE = {"true", "1", "yes", "on"}


class OptionError(ValueError):
    """A command-line value does not fit its setting; the message names the flag."""


@dataclass(frozen=True)
class Option:
    """One command-line option and the setting it sets."""

    flag: str  # "--max-samples-per-stage"
    path: str  # dotted path of the field in the config
    found: Located  # the field, with its default
    root: str  # name of the config class the path starts from
    required: bool = False  # the option must be given (it has no default then)

    @property
    def dest(self) -> str:
        """The attribute of the parsed arguments that holds the value (``getattr`` it).

        Named after the config and the path, so it cannot collide with the parser's own
        attributes (a subcommand's ``run``, another config's field of the same name).
        """
        return f"{self.root}.{self.path}"

    def add_to(self, parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
        """Add this option to ``parser``."""
        hint, default = self.found.hint, self.found.value
        text = self.found.help().replace("%", "%%")
        if hint is bool:  # a flag that turns the default over
            action, text = ("store_false", f"do not {text}") if default else ("store_true", text)
            parser.add_argument(self.flag, dest=self.dest, action=action, help=text)
            return
        limits = self.found.limits()
        kwargs: dict[str, Any] = {"dest": self.dest, "required": self.required}
        item = hint
        if typing.get_origin(hint) is tuple:
            args = typing.get_args(hint)
            item = args[0]
            kwargs["nargs"] = "+" if args[1:] == (Ellipsis,) else len(args)
        choices = self.found.setting.choices or _enum_values(item)
        if choices:
            kwargs["choices"] = [c.value if isinstance(c, enum.Enum) else c for c in choices]
        else:  # argparse shows the choices in place of a metavar
            kwargs["metavar"] = self.flag.removeprefix("--").replace("-", "_").upper()
            text += f"; {limits}" if limits else ""
        if not self.required:
            kwargs["default"] = default
            text += "; default: %(default)r"
        parser.add_argument(self.flag, type=_parser(item), help=text, **kwargs)

    def value(self, args: argparse.Namespace) -> Any:
        """The parsed value as the field's type; :class:`OptionError` naming the flag."""
        raw = getattr(args, self.dest)
        try:
            typed = convert(raw, self.found.hint)
        except TypeError as err:
            raise OptionError(f"{self.flag} {err}, got {raw!r}") from None
        why = problem(self.found.owner, self.found.name, typed)
        if why:
            raise OptionError(f"{self.flag} {why}, got {raw!r}")
        return typed

    @property
    def key(self) -> str:
        """How errors name the field this option sets (``"ModelConfig.model"``)."""
        return field_key(self.found.owner, self.found.name)

    def spell(self, value: str | None) -> str:
        """The command line that gives the field ``value`` (text), or just the flag."""
        if value is None:
            return self.flag
        if self.found.hint is bool:
            wanted = value.lower() in _TRUE
            turns_on = not self.found.value  # --name sets True; --no-name sets False
            return self.flag if wanted == turns_on else f"no {self.flag}"
        return f"{self.flag} {value}"


class Options:
    """Options for fields of the config class ``config``, at dotted ``paths``.

    A flag is ``--`` + ``prefix`` + the field's name with dashes (``rename[path]`` when given);
    its default is the field's value in ``config()``. ``required`` paths have no default.
    """

    def __init__(
        self,
        config: type,
        paths: Iterable[str],
        *,
        prefix: str = "",
        rename: Mapping[str, str] | None = None,
        required: Iterable[str] = (),
    ) -> None:
        self.config = config
        rename = rename or {}
        required = set(required)
        defaults = config()
        self.options: list[Option] = []
        for path in paths:
            found = locate(defaults, path)
            flag = rename.get(path) or _flag(prefix + found.name, found)
            self.options.append(Option(flag, path, found, config.__name__, path in required))

    def add_to(self, parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
        """Add every option to ``parser`` (or an argument group of it)."""
        for option in self.options:
            option.add_to(parser)

    def apply(self, args: argparse.Namespace, changes: Mapping[str, Any] | None = None) -> Any:
        """``config()`` with the parsed values, then ``changes`` (dotted path -> value), applied.

        Raises :class:`OptionError` naming the flag of a value that fails its field's check.
        """
        values = {option.path: option.value(args) for option in self.options}
        return replace_paths(self.config(), {**values, **(changes or {})})


Spelling = str | Callable[[str | None], str]
"""A flag (``"--model"``: ``--model VALUE`` with a value), or value (None: none) -> words."""


def flag_message(
    error: BaseException | str, *options: Options, flags: Mapping[str, Spelling] | None = None
) -> str:
    """The message of ``error`` in one line, with every config field it names spelled as its flag.

    ``ModelConfig.model`` becomes the flag of the option among ``options`` that sets it, or
    ``flags[key]`` for a hand-written argument (``{"ModelConfig.model": "--model"}``; these
    win); ``ModelConfig.allow_download=True`` becomes ``--allow-download``. A field set by two
    options (the temperature of each stage) or by none keeps its dataclass name.
    """
    found: dict[str, list[Callable[[str | None], str]]] = {}
    for option in (o for group in options for o in group.options):
        found.setdefault(option.key, []).append(option.spell)
    for key, flag in (flags or {}).items():
        found[key] = [flag if callable(flag) else _spell_flag(flag)]

    def spell(key: str, value: str | None) -> str | None:
        spellings = found.get(key, [])
        return spellings[0](value) if len(spellings) == 1 else None

    return " ".join(spell_fields(str(error), spell).split())  # a library's message may wrap


def _spell_flag(flag: str) -> Callable[[str | None], str]:
    return lambda value: flag if value is None else f"{flag} {value}"


def _flag(name: str, found: Located) -> str:
    dashed = name.replace("_", "-")
    return f"--no-{dashed}" if found.hint is bool and found.value else f"--{dashed}"


def _enum_values(hint: Any) -> tuple[Any, ...]:
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return tuple(member.value for member in hint)
    return ()


def _parser(hint: Any) -> Callable[[str], Any]:
    """Text -> a value of type ``hint`` (argparse's ``type``); says the type when it cannot."""
    kind = hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # Optional: the other type
        kind = next(a for a in typing.get_args(hint) if a is not type(None))
    if _enum_values(kind):  # kept as text: argparse's choices are the values
        kind = str

    def parse(text: str) -> Any:
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {type_name(hint)}, got {text!r}") from None

    return parse
