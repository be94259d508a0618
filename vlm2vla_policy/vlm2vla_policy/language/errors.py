"""Typed errors of the language module.

Every reader in this package raises a subclass of :class:`LanguageFormatError` (itself a
``ValueError``) and nothing else, whatever text it is given. Each error carries a machine-readable
:class:`ErrorKind`, the character position where the problem was found (when there is one) and a
message that says what was wrong and what to do.
"""

from __future__ import annotations

import enum


class ErrorKind(str, enum.Enum):
    """What was wrong with a text or a value."""

    NOT_TEXT = "not_text"
    MISSING_BRACKET = "missing_bracket"
    SYNTAX = "syntax"
    ARITY = "arity"
    NOT_A_NUMBER = "not_a_number"
    NON_FINITE = "non_finite"
    OUT_OF_BOUNDS = "out_of_bounds"
    EMPTY = "empty"
    TOO_MANY = "too_many"
    PREAMBLE_TOO_LONG = "preamble_too_long"
    TRAILING_TEXT = "trailing_text"
    CONTROL_CHARACTER = "control_character"
    UNKNOWN_PHRASE = "unknown_phrase"
    CONFLICT = "conflict"
    BAD_NUMBERING = "bad_numbering"
    NO_ANSWER = "no_answer"
    BAD_CONFIG = "bad_config"
    BAD_TABLE = "bad_table"
    VERSION = "version"


class LanguageFormatError(ValueError):
    """A text or value does not follow the format of this package.

    ``kind`` says what was wrong, ``position`` is the 0-based character offset in the text where it
    was found (``None`` when it concerns the whole text or a value rather than text).
    """

    def __init__(self, kind: ErrorKind, message: str, position: int | None = None) -> None:
        where = f" (at character {position})" if position is not None else ""
        super().__init__(f"{message}{where}")
        self.kind = kind
        self.position = position


class ChunkParseError(LanguageFormatError):
    """An action chunk text could not be read."""


class ChunkEncodeError(LanguageFormatError):
    """Action steps cannot be written in the configured format (e.g. out of bounds, NaN)."""


class ChunkingError(LanguageFormatError):
    """Raw per-step deltas have the wrong shape or non-finite values."""


class PlanParseError(LanguageFormatError):
    """A motion plan text could not be read."""


class DirectionParseError(LanguageFormatError):
    """A movement-direction answer could not be read."""


class SubtasksParseError(LanguageFormatError):
    """A subtask list could not be read, or subtasks cannot be written."""


class VerdictParseError(LanguageFormatError):
    """A verification answer could not be read."""


class ConfigError(LanguageFormatError):
    """A language configuration is inconsistent or malformed."""


class AtTableError(LanguageFormatError):
    """An AT token table is malformed or does not fit the tokenizer."""


class FormatVersionError(LanguageFormatError):
    """An adapter was trained with a format version this library does not speak."""
