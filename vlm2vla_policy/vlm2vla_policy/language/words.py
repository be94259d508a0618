"""Normalisation of free text (subtasks, reasons) to the canonical lowercase word form."""

from __future__ import annotations

import re

WORD_CHARS: str = "abcdefghijklmnopqrstuvwxyz0123456789"
"""Characters of a canonical word; canonical free text is such words joined by single spaces."""

_APOSTROPHES = re.compile(r"['\u2019`]")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalize_words(text: str) -> str:
    """Lowercase ``text``, drop apostrophes, turn every other non-alphanumeric run into one space.

    ``"Grasp the robot's lid."`` becomes ``"grasp the robots lid"``. Returns ``""`` when nothing
    alphanumeric is left. Non-ASCII letters are dropped (the canonical form is ASCII).
    """
    lowered = _APOSTROPHES.sub("", text.lower())
    return _NON_WORD.sub(" ", lowered).strip()
