r"""Subtask lists: a numbered list, one subtask per line.

The canonical form is ``"1. grasp the lid\n2. lift the lid\n3. place the lid on the table"``:
numbers from 1 in order, ``". "``, then lowercase ASCII words (``[a-z0-9]+``) joined by single
spaces; lines separated by ``"\n"``; at most ``SubtaskConfig.max_subtasks`` lines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from vlm2vla_policy.language.config import SubtaskConfig
from vlm2vla_policy.language.errors import ErrorKind, SubtasksParseError
from vlm2vla_policy.language.words import normalize_words

_NUMBERED = re.compile(r"^(?:step\s*)?(\d{1,3})\s*[.):\-]\s*(.*)$", re.IGNORECASE)
_BULLET = re.compile(r"^[-*\u2022]\s+(.*)$")
_EMPHASIS = re.compile(r"[*_]{2,}")


def normalize_subtask(subtask: str) -> str:
    """Canonical form of one subtask: lowercase words joined by single spaces."""
    return normalize_words(subtask)


def format_subtasks(subtasks: Sequence[str], config: SubtaskConfig | None = None) -> str:
    """Canonical numbered list of ``subtasks`` (each normalised with :func:`normalize_subtask`).

    Raises :class:`SubtasksParseError` for an empty list, more than ``config.max_subtasks``
    subtasks, or a subtask with no letters or digits.
    """
    config = config or SubtaskConfig()
    if isinstance(subtasks, str) or len(subtasks) == 0:
        raise SubtasksParseError(ErrorKind.EMPTY, "give a non-empty list of subtask strings")
    if len(subtasks) > config.max_subtasks:
        raise SubtasksParseError(
            ErrorKind.TOO_MANY,
            f"{len(subtasks)} subtasks, more than max_subtasks={config.max_subtasks}; merge some",
        )
    lines = []
    for number, subtask in enumerate(subtasks, start=1):
        words = normalize_subtask(subtask)
        if not words:
            raise SubtasksParseError(
                ErrorKind.EMPTY, f"subtask {number} ({subtask!r}) has no letters or digits"
            )
        lines.append(f"{number}. {words}")
    return "\n".join(lines)


def parse_subtasks(text: str, config: SubtaskConfig | None = None) -> list[str]:
    """Read a subtask list written by a model or by :func:`format_subtasks`.

    Accepts numbered lines (``1.``, ``1)``, ``Step 1:``) or bullets (``-``, ``*``), blank lines,
    Markdown emphasis and code fences, and a short preamble before the first item (e.g.
    ``"Subtasks:"``). Items are returned normalised (see :func:`normalize_subtask`). Raises
    :class:`SubtasksParseError` and nothing else: ``EMPTY`` (no items, or an item without words),
    ``BAD_NUMBERING`` (numbers not 1, 2, 3, ...), ``TOO_MANY``, ``PREAMBLE_TOO_LONG``,
    ``TRAILING_TEXT`` (a line after the items that is not an item).
    """
    config = config or SubtaskConfig()
    if not isinstance(text, str):
        raise SubtasksParseError(ErrorKind.NOT_TEXT, f"expected a str, got {type(text).__name__}")
    items: list[str] = []
    preamble = 0
    for raw_line in text.splitlines():
        line = _EMPHASIS.sub("", raw_line).strip()
        if not line or line.startswith("```"):
            continue
        numbered = _NUMBERED.match(line)
        bullet = _BULLET.match(line) if numbered is None else None
        if numbered is None and bullet is None:
            if items:
                raise SubtasksParseError(
                    ErrorKind.TRAILING_TEXT,
                    f"line {line[:40]!r} after the list is not a numbered item",
                )
            preamble += len(line)
            if preamble > config.max_preamble_chars:
                raise SubtasksParseError(
                    ErrorKind.PREAMBLE_TOO_LONG,
                    f"more than max_preamble_chars={config.max_preamble_chars} characters before "
                    "the first numbered item; expected '1. ...' lines",
                )
            continue
        if numbered is not None and int(numbered.group(1)) != len(items) + 1:
            raise SubtasksParseError(
                ErrorKind.BAD_NUMBERING,
                f"item numbered {numbered.group(1)} where {len(items) + 1} was expected",
            )
        content = numbered.group(2) if numbered is not None else bullet.group(1)
        words = normalize_subtask(content)
        if not words:
            raise SubtasksParseError(ErrorKind.EMPTY, f"item {len(items) + 1} has no words")
        items.append(words)
        if len(items) > config.max_subtasks:
            raise SubtasksParseError(
                ErrorKind.TOO_MANY, f"more than max_subtasks={config.max_subtasks} items"
            )
    if not items:
        raise SubtasksParseError(
            ErrorKind.EMPTY, "no numbered items found; expected lines like '1. grasp the lid'"
        )
    return items
