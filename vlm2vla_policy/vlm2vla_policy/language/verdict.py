"""Verification answers: was a subtask completed? ``"yes"`` or ``"no"``, optionally with a reason.

The canonical form is ``"yes"``, ``"no"``, or ``"yes, <reason>"`` / ``"no, <reason>"`` where the
reason is lowercase ASCII words (``[a-z0-9]+``) joined by single spaces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vlm2vla_policy.language.config import VerdictConfig
from vlm2vla_policy.language.errors import ErrorKind, VerdictParseError
from vlm2vla_policy.language.words import normalize_words

YES: str = "yes"
"""Canonical answer when the subtask is complete."""

NO: str = "no"
"""Canonical answer when the subtask is not complete."""

REASON_SEPARATOR: str = ", "
"""Between the answer word and the reason in the canonical form."""

_ANSWER = re.compile(r"\b(yes|no)\b")
_CLEAN = re.compile(r"[*_`\"]+")


@dataclass(frozen=True)
class Verdict:
    """A verification answer."""

    # True when the subtask is complete ("yes").
    done: bool
    # Normalised reason (lowercase words), "" when none was given.
    reason: str = ""


def format_verdict(done: bool, reason: str = "") -> str:
    """Canonical answer text, e.g. ``"no, the lid is still on the pot"``."""
    word = YES if done else NO
    words = normalize_words(reason)
    return f"{word}{REASON_SEPARATOR}{words}" if words else word


def parse_verdict(text: str, config: VerdictConfig | None = None) -> Verdict:
    """Read a verification answer; tolerant of case, punctuation, emphasis and a short label.

    The first "yes"/"no" word decides; it may follow a label of at most
    ``config.max_preamble_chars`` characters (e.g. ``"Answer:"``). What follows it is the reason.
    Raises :class:`VerdictParseError` and nothing else: ``NO_ANSWER`` when there is no yes/no,
    ``PREAMBLE_TOO_LONG`` when it comes too late.
    """
    config = config or VerdictConfig()
    if not isinstance(text, str):
        raise VerdictParseError(ErrorKind.NOT_TEXT, f"expected a str, got {type(text).__name__}")
    body = _CLEAN.sub(" ", text).lower()
    match = _ANSWER.search(body)
    if match is None:
        raise VerdictParseError(
            ErrorKind.NO_ANSWER,
            f"no 'yes' or 'no' in {text[:40]!r}; the answer must start with yes or no",
        )
    if len(body[: match.start()].strip()) > config.max_preamble_chars:
        raise VerdictParseError(
            ErrorKind.PREAMBLE_TOO_LONG,
            f"'{match.group(1)}' comes after more than max_preamble_chars="
            f"{config.max_preamble_chars} characters; the answer must start with yes or no",
            match.start(),
        )
    return Verdict(match.group(1) == YES, normalize_words(body[match.end() :]))
