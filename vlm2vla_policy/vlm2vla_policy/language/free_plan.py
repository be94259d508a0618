"""Free-form motion plans: bounded plain text in the writer's own words, as in the paper.

A free plan is one line of printable ASCII, at most ``PlanConfig.max_chars`` characters, neither
starting nor ending with a space, e.g. ``"lift the pepper up to clear the stove knobs, then move
forward and slightly right"``. Any such text is a plan; its directions are what it mentions
(:func:`mentions`): direction words and their synonyms (``lift``/``raise`` up, ``lower`` down,
``+dz``...) and gripper verbs (``open``/``release``, ``close``/``grasp``). They feed the
consistency check between a plan and its chunk (a label-quality filter and a metric), never a
rewrite of the words. :func:`describe` writes a plan from data in this style: the axes that moved,
largest first, with their size in whole centimetres, the gripper change and the subtask's object
when known.

Frame: the robot base frame, +x forward, +y left, +z up; displacements in metres.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from vlm2vla_policy.language.config import PlanConfig
from vlm2vla_policy.language.errors import ErrorKind, PlanParseError

FREE_PLAN_CHARS: str = "".join(chr(code) for code in range(0x20, 0x7F))
"""Characters of a free plan: printable ASCII, the space included (no tab, no newline)."""

DIRECTION_SYNONYMS: dict[str, tuple[int, int]] = {
    **dict.fromkeys(("forward", "forwards", "ahead", "+dx", "+x"), (0, 1)),
    **dict.fromkeys(("backward", "backwards", "back", "-dx", "-x"), (0, -1)),
    **dict.fromkeys(("left", "leftward", "leftwards", "+dy", "+y"), (1, 1)),
    **dict.fromkeys(("right", "rightward", "rightwards", "-dy", "-y"), (1, -1)),
    **dict.fromkeys(("up", "upward", "upwards", "+dz", "+z"), (2, 1)),
    **dict.fromkeys(("down", "downward", "downwards", "-dz", "-z"), (2, -1)),
}
"""Word -> (axis 0..2 = x, y, z of the base frame, sign +1/-1) in plans of either style."""

_VERTICAL_VERBS: dict[str, int] = {
    **dict.fromkeys(("lift", "lifts", "lifting", "raise", "raises", "raising"), 1),
    **dict.fromkeys(("lower", "lowers", "lowering", "descend", "descends", "descending"), -1),
}
_GRIPPER_VERBS: dict[str, str] = {
    **dict.fromkeys(("open", "opens", "opening", "release", "releases", "releasing"), "open"),
    **dict.fromkeys(("close", "closes", "closing", "grasp", "grasps", "grasping", "grip"), "close"),
}
_SLIGHT = ("slightly", "little", "bit")
_WORD = re.compile(r"[+-]d?[xyz]\b|[a-z]+")
_LABEL = re.compile(r"^\s*(?:motion\s+)?plan\s*:\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Mentions:
    """What a free plan says, word by word: directions per axis, slight axes, gripper verbs."""

    # axis (0 = x, 1 = y, 2 = z) -> the signs (+1, -1) the plan names for it.
    signs: dict[int, set[int]] = field(default_factory=dict)
    # Axes whose every mention is "slightly"/"a little"/"a bit".
    slight: set[int] = field(default_factory=set)
    # "open" and/or "close".
    gripper: set[str] = field(default_factory=set)


def clean_free_plan(text: object, config: PlanConfig) -> str:
    """``text`` as a free plan, without a leading ``Plan:`` label and surrounding spaces.

    Raises :class:`PlanParseError` for no text (``EMPTY``), a character outside printable ASCII
    (``CONTROL_CHARACTER``) or more than ``config.max_chars`` characters (``TOO_MANY``).
    """
    if not isinstance(text, str):
        raise PlanParseError(ErrorKind.NOT_TEXT, f"expected a str, got {type(text).__name__}")
    body = _LABEL.sub("", text, count=1).strip()
    for position, char in enumerate(body):
        if char not in FREE_PLAN_CHARS:
            raise PlanParseError(
                ErrorKind.CONTROL_CHARACTER,
                f"{char!r} is not printable ASCII; a plan is one line of plain text",
                position,
            )
    if not body:
        raise PlanParseError(
            ErrorKind.EMPTY, "the plan is empty; expected e.g. 'move down and slightly forward'"
        )
    if len(body) > config.max_chars:
        raise PlanParseError(
            ErrorKind.TOO_MANY,
            f"the plan has {len(body)} characters, more than plan.max_chars={config.max_chars}",
        )
    return body


def mentions(text: str) -> Mentions:
    """The directions and gripper changes ``text`` names (case-insensitive, any order)."""
    words = _WORD.findall(text.lower())
    found = Mentions()
    plain: set[int] = set()
    for index, word in enumerate(words):
        if word in _GRIPPER_VERBS:
            found.gripper.add(_GRIPPER_VERBS[word])
        if word in _VERTICAL_VERBS:
            axis_sign = (2, _VERTICAL_VERBS[word])
        elif word in DIRECTION_SYNONYMS:
            axis_sign = DIRECTION_SYNONYMS[word]
        else:
            continue
        axis, sign = axis_sign
        found.signs.setdefault(axis, set()).add(sign)
        (found.slight if set(words[max(0, index - 2) : index]) & set(_SLIGHT) else plain).add(axis)
    found.slight.difference_update(plain)
    return found


def describe(
    displacement_m: Sequence[float],
    gripper: str | None,
    config: PlanConfig,
    target: str = "",
) -> str:
    """A free plan for ``displacement_m`` = (dx, dy, dz) m and ``gripper`` ("open"/"close"/None).

    Axes that moved at least ``config.dead_zone_m`` are named largest first, each with its size
    in whole centimetres ("about 4 cm") or "slightly" below ``config.slight_threshold_m``;
    ``target`` (e.g. "the red block") is what the motion goes toward. At most
    ``config.max_chars`` characters (the target is left out when it does not fit).
    """
    order = sorted(range(3), key=lambda axis: -abs(displacement_m[axis]))
    terms = []
    for axis in order:
        moved = float(displacement_m[axis])
        if abs(moved) < config.dead_zone_m:
            continue
        word = next(w for w, (a, s) in DIRECTION_SYNONYMS.items() if a == axis and s * moved > 0)
        if abs(moved) < config.slight_threshold_m:
            terms.append(f"slightly {word}")
        else:
            terms.append(f"{word} about {round(abs(moved) * 100)} cm")
    grip = f"{gripper} the gripper" if gripper else ""
    motion = "move " + " and ".join(terms) if terms else ""
    plain = ", then ".join(part for part in (motion, grip) if part) or "stay still"
    if target and motion:
        aimed = plain.replace(motion, f"{motion} toward {target}", 1)
        if len(aimed) <= config.max_chars:
            return aimed
    return plain[: config.max_chars].rstrip()
