"""Movement-direction answers: ``"left"``, ``"right"`` or ``"none"``.

An auxiliary training task of the paper: which way (sideways, along the base frame's y axis;
+y is left) the gripper has to move. Displacements are in metres.
"""

from __future__ import annotations

import enum
import re

from vlm2vla_policy.language.config import DirectionConfig
from vlm2vla_policy.language.errors import DirectionParseError, ErrorKind


class MovementDirection(str, enum.Enum):
    """Sideways direction of motion in the base frame (+y = left)."""

    LEFT = "left"
    RIGHT = "right"
    NONE = "none"


DIRECTION_WORDS: tuple[str, ...] = tuple(d.value for d in MovementDirection)
"""Canonical answers of the movement-direction stage."""

_SYNONYMS = {
    "left": MovementDirection.LEFT,
    "leftward": MovementDirection.LEFT,
    "leftwards": MovementDirection.LEFT,
    "right": MovementDirection.RIGHT,
    "rightward": MovementDirection.RIGHT,
    "rightwards": MovementDirection.RIGHT,
    "none": MovementDirection.NONE,
    "neither": MovementDirection.NONE,
    "nowhere": MovementDirection.NONE,
}
_WORD = re.compile(r"[a-z]+")


def direction_from_displacement(
    dy_m: float, config: DirectionConfig | None = None
) -> MovementDirection:
    """Direction of a sideways displacement ``dy_m`` (metres, base frame, +y = left)."""
    config = config or DirectionConfig()
    if abs(dy_m) < config.dead_zone_m:
        return MovementDirection.NONE
    return MovementDirection.LEFT if dy_m > 0 else MovementDirection.RIGHT


def format_direction(direction: MovementDirection) -> str:
    """Canonical answer text: ``"left"``, ``"right"`` or ``"none"``."""
    return MovementDirection(direction).value


def parse_direction(text: str) -> MovementDirection:
    """Read a movement-direction answer; tolerant of case, punctuation and surrounding words.

    The answer must name exactly one of left / right / none (synonyms: leftward(s),
    rightward(s), neither, nowhere, "no movement"). Raises :class:`DirectionParseError` and
    nothing else: ``NO_ANSWER`` when none is named, ``CONFLICT`` when several different ones are.
    """
    if not isinstance(text, str):
        raise DirectionParseError(ErrorKind.NOT_TEXT, f"expected a str, got {type(text).__name__}")
    lowered = text.lower().replace("no movement", "none")
    found = {_SYNONYMS[w] for w in _WORD.findall(lowered) if w in _SYNONYMS}
    if not found:
        raise DirectionParseError(
            ErrorKind.NO_ANSWER,
            f"no direction in {text[:40]!r}; the answer must be 'left', 'right' or 'none'",
        )
    if len(found) > 1:
        raise DirectionParseError(
            ErrorKind.CONFLICT,
            f"the answer names {sorted(d.value for d in found)}; expected exactly one",
        )
    return found.pop()
