"""Motion plans: directions relative to the robot base, in one of two styles.

An example from the paper: ``"lift the pepper vertically (+dz) to clear the stove knobs, then
move forward and slightly right"``. Frame: the robot base frame, +x forward, +y left, +z up;
displacements in metres.

``PlanConfig.style`` picks the style. ``free`` (the default, the paper's): bounded plain text in
the writer's own words, read by :mod:`~vlm2vla_policy.language.free_plan` (its directions are the
ones it mentions; the words are kept as written). ``vocabulary``: the small fixed vocabulary
:data:`PLAN_PHRASES`, whose canonical plan is

* ``"move " + " and ".join(direction terms)`` optionally followed by
  ``" and open the gripper"`` / ``" and close the gripper"``, where a direction term is
  ``[slightly ]forward|backward|left|right|up|down`` and names each axis at most once; or
* ``"open the gripper"`` / ``"close the gripper"`` alone; or
* ``"stay still"``.

:func:`plan_from_displacement` and :func:`plan_from_steps` give the canonical plan of data (axes
ordered by how far they moved, largest first), :func:`describe_steps` the plan of data in the
configured style, :func:`parse_plan` reads a model's plan back (vocabulary: tolerant of case,
punctuation, commas, "then", synonyms such as "backwards" or "a little") and :func:`check_plan`
compares a plan with the chunk that followed it (direction agreement).
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from vlm2vla_policy.language.chunk import GRIPPER_CLOSED, GRIPPER_OPEN
from vlm2vla_policy.language.config import PlanConfig
from vlm2vla_policy.language.errors import ErrorKind, PlanParseError
from vlm2vla_policy.language.free_plan import (
    DIRECTION_SYNONYMS,
    clean_free_plan,
    describe,
    mentions,
)

AXIS_NAMES: tuple[str, str, str] = ("x", "y", "z")
"""Base-frame axes in order."""

AXIS_WORDS: tuple[tuple[str, str], ...] = (
    ("forward", "backward"),
    ("left", "right"),
    ("up", "down"),
)
"""(positive, negative) direction word of each base-frame axis: +x forward, +y left, +z up."""

SLIGHT_WORD: str = "slightly"
"""Prefix of a direction that moved less than ``PlanConfig.slight_threshold_m``."""

MOVE_PREFIX: str = "move "
"""Start of a canonical plan that moves."""

JOINER: str = " and "
"""Separator between the terms of a canonical plan."""

STILL_PHRASE: str = "stay still"
"""The canonical plan when nothing moves and the gripper does not change."""

_GRIPPER_MIDPOINT = (GRIPPER_OPEN + GRIPPER_CLOSED) / 2


class GripperAction(str, enum.Enum):
    """A change of the gripper named in a plan."""

    OPEN = "open"
    CLOSE = "close"

    @property
    def phrase(self) -> str:
        """Canonical phrase, e.g. ``"close the gripper"``."""
        return f"{self.value} the gripper"


PLAN_PHRASES: tuple[str, ...] = (
    *(
        f"{MOVE_PREFIX}{slight}{word}"
        for pair in AXIS_WORDS
        for word in pair
        for slight in ("", SLIGHT_WORD + " ")
    ),
    GripperAction.OPEN.phrase,
    GripperAction.CLOSE.phrase,
    STILL_PHRASE,
)
"""Every phrase of the plan vocabulary; a plan joins them with ``" and "`` (sharing one "move")."""


@dataclass(frozen=True)
class AxisMove:
    """Motion along one base-frame axis named in a plan."""

    # 0 = x (forward/backward), 1 = y (left/right), 2 = z (up/down).
    axis: int
    # +1 = positive direction (forward, left, up), -1 = negative.
    sign: int
    # True when the plan says "slightly".
    slight: bool = False

    @property
    def word(self) -> str:
        """Direction word, e.g. ``"left"``."""
        return AXIS_WORDS[self.axis][0 if self.sign > 0 else 1]

    @property
    def phrase(self) -> str:
        """Direction term, e.g. ``"slightly left"``."""
        return f"{SLIGHT_WORD} {self.word}" if self.slight else self.word


@dataclass(frozen=True)
class MotionPlan:
    """A parsed or generated motion plan."""

    # Axis motions in the order they are written (largest first when made from data).
    moves: tuple[AxisMove, ...] = ()
    # Gripper change named by the plan, if any.
    gripper: GripperAction | None = None
    # Free style: the plan's own words (empty: the canonical vocabulary text).
    wording: str = ""
    # Free style: axes the plan names both ways (a back-and-forth); not checked against a chunk.
    mixed_axes: tuple[int, ...] = ()
    # Free style: the plan both opens and closes the gripper; its change is not checked.
    mixed_gripper: bool = False

    @property
    def directions(self) -> tuple[int, int, int]:
        """Sign (-1, 0, +1) of the planned motion along x, y, z of the base frame."""
        signs = [0, 0, 0]
        for move in self.moves:
            signs[move.axis] = move.sign
        return signs[0], signs[1], signs[2]

    @property
    def text(self) -> str:
        """The plan's words, or its canonical text; see :func:`format_plan`."""
        return format_plan(self)


@dataclass(frozen=True)
class PlanCheck:
    """Result of comparing a plan with a chunk."""

    # True when every named direction and gripper change matches the chunk.
    agrees: bool
    # One sentence per disagreement, empty when the plan agrees.
    problems: tuple[str, ...] = ()


def format_plan(plan: MotionPlan) -> str:
    """Text of ``plan``: its wording (free style), else its canonical text.

    The canonical text reads e.g. ``"move down and slightly forward and close the gripper"``.
    Raises :class:`PlanParseError` (``CONFLICT``) when a plan without wording names an axis twice
    or a move has a sign other than +1/-1.
    """
    if plan.wording:
        return plan.wording
    axes = [move.axis for move in plan.moves]
    if len(set(axes)) != len(axes) or not all(a in (0, 1, 2) for a in axes):
        raise PlanParseError(
            ErrorKind.CONFLICT, f"a plan names each axis 0..2 at most once, got axes {axes}"
        )
    if not all(move.sign in (1, -1) for move in plan.moves):
        raise PlanParseError(ErrorKind.CONFLICT, "every AxisMove.sign must be +1 or -1")
    terms = [move.phrase for move in plan.moves]
    gripper = [plan.gripper.phrase] if plan.gripper is not None else []
    if terms:
        return MOVE_PREFIX + JOINER.join(terms + gripper)
    return gripper[0] if gripper else STILL_PHRASE


def plan_from_displacement(
    displacement_m: Sequence[float],
    gripper: GripperAction | None = None,
    config: PlanConfig | None = None,
) -> MotionPlan:
    """Plan that describes ``displacement_m`` = (dx, dy, dz) in metres in the base frame.

    Axes that moved at least ``config.dead_zone_m`` are named, largest motion first; those below
    ``config.slight_threshold_m`` get "slightly". ``gripper`` is the gripper change to name.
    """
    config = config or PlanConfig()
    values = [float(v) for v in displacement_m]
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise PlanParseError(
            ErrorKind.ARITY, f"displacement must be 3 finite numbers (m), got {displacement_m!r}"
        )
    order = sorted(range(3), key=lambda axis: -abs(values[axis]))
    moves = tuple(
        AxisMove(axis, 1 if values[axis] > 0 else -1, abs(values[axis]) < config.slight_threshold_m)
        for axis in order
        if abs(values[axis]) >= config.dead_zone_m
    )
    return MotionPlan(moves, gripper)


def gripper_change(before: float, after: float) -> GripperAction | None:
    """Gripper action that takes the gripper from ``before`` to ``after`` (1 = open, 0 = closed).

    Values are gripper commands; they are split at the midpoint between closed and open.
    """
    if after >= _GRIPPER_MIDPOINT > before:
        return GripperAction.OPEN
    if before >= _GRIPPER_MIDPOINT > after:
        return GripperAction.CLOSE
    return None


def plan_from_steps(
    steps: Sequence[Sequence[float]],
    gripper_before: float | None = None,
    config: PlanConfig | None = None,
) -> MotionPlan:
    """Plan describing a chunk: its summed displacement and its gripper change.

    ``steps`` are ``[dx_m, dy_m, dz_m, gripper]`` (metres, base frame). The gripper change is
    from ``gripper_before`` (the command before the chunk; the first step's when ``None``) to the
    last step's gripper.
    """
    if len(steps) == 0:
        return MotionPlan()
    displacement = [sum(float(step[axis]) for step in steps) for axis in range(3)]
    before = float(steps[0][3]) if gripper_before is None else float(gripper_before)
    return plan_from_displacement(displacement, gripper_change(before, float(steps[-1][3])), config)


_SPLIT = re.compile(r"\s*(?:,|;|\band then\b|\bthen\b|\band\b|\bwhile\b)\s*")
_DIRECTION = re.compile(
    r"^(?:(?:move|moves|moving|go|goes)\s+)?(?:the\s+(?:gripper|arm)\s+)?"
    r"(?P<pre>slightly\s+|a\s+little\s+|a\s+bit\s+)?(?P<dir>[a-z]+)"
    r"(?P<post>\s+slightly|\s+a\s+little|\s+a\s+bit)?$"
)
_GRIPPER = re.compile(r"^(?P<verb>open|opens|close|closes)\s+(?:the\s+)?(?:gripper|claw|hand)$")
_STILL = re.compile(r"^(?:stay\s+still|stay|hold\s+still|hold\s+position|do\s+not\s+move|none)$")
_CLEAN = re.compile(r"[*_`\"]+")


def parse_plan(text: str, config: PlanConfig | None = None) -> MotionPlan:
    """Read a motion plan written by a model or by :func:`format_plan`, in ``config.style``.

    Free style: any bounded line of plain text (see
    :func:`~vlm2vla_policy.language.free_plan.clean_free_plan` for what is refused); the plan
    keeps the words and takes its directions from what they mention. Vocabulary style: tolerates
    case, Markdown emphasis, quotes, a trailing period, a short label such as
    ``"Plan:"``, commas/``then`` as separators and a few synonyms. Raises
    :class:`PlanParseError` (and nothing else): ``EMPTY`` for no text, ``UNKNOWN_PHRASE`` for a
    part outside the vocabulary, ``CONFLICT`` for opposite directions on one axis, both gripper
    actions, or "stay still" with a motion, ``PREAMBLE_TOO_LONG`` for a long label.
    """
    config = config or PlanConfig()
    if config.style == "free":
        return _free_plan(clean_free_plan(text, config))
    if not isinstance(text, str):
        raise PlanParseError(ErrorKind.NOT_TEXT, f"expected a str, got {type(text).__name__}")
    body = _CLEAN.sub(" ", text).strip().lower()
    if ":" in body:
        label, body = body.split(":", 1)
        if len(label.strip()) > config.max_preamble_chars:
            raise PlanParseError(
                ErrorKind.PREAMBLE_TOO_LONG,
                f"{len(label.strip())} characters before ':', more than "
                f"max_preamble_chars={config.max_preamble_chars}; the answer should be the plan",
            )
    body = body.strip().rstrip(".!").strip()
    parts = [part for part in _SPLIT.split(body) if part.strip()]
    if not parts:
        raise PlanParseError(
            ErrorKind.EMPTY, "the plan is empty; expected e.g. 'move down and slightly forward'"
        )
    moves: dict[int, AxisMove] = {}
    grippers: set[GripperAction] = set()
    still = False
    for raw_part in parts:
        part = " ".join(raw_part.split())
        direction = _DIRECTION.match(part)
        if direction is not None and direction.group("dir") in DIRECTION_SYNONYMS:
            axis, sign = DIRECTION_SYNONYMS[direction.group("dir")]
            slight = bool(direction.group("pre") or direction.group("post"))
            previous = moves.get(axis)
            if previous is not None and previous.sign != sign:
                raise PlanParseError(
                    ErrorKind.CONFLICT,
                    f"the plan says both {previous.word} and {AxisMove(axis, sign).word}",
                )
            if previous is not None:
                slight = slight and previous.slight
            moves[axis] = AxisMove(axis, sign, slight)
            continue
        gripper = _GRIPPER.match(part)
        if gripper is not None:
            grippers.add(
                GripperAction.OPEN
                if gripper.group("verb").startswith("open")
                else GripperAction.CLOSE
            )
            continue
        if _STILL.match(part):
            still = True
            continue
        raise PlanParseError(
            ErrorKind.UNKNOWN_PHRASE,
            f"{part!r} is not in the plan vocabulary; use phrases like "
            "'move [slightly] forward|backward|left|right|up|down', 'open the gripper', "
            "'close the gripper' or 'stay still', joined by ' and '",
        )
    if len(grippers) > 1:
        raise PlanParseError(ErrorKind.CONFLICT, "the plan both opens and closes the gripper")
    if still and moves:
        raise PlanParseError(ErrorKind.CONFLICT, "the plan says 'stay still' and also moves")
    order = {axis: index for index, axis in enumerate(moves)}
    return MotionPlan(
        tuple(sorted(moves.values(), key=lambda move: order[move.axis])),
        next(iter(grippers)) if grippers else None,
    )


def _free_plan(words: str) -> MotionPlan:
    """The plan of free-style ``words``: the directions they mention, in order, and the words."""
    said = mentions(words)
    moves = tuple(
        AxisMove(axis, next(iter(signs)), axis in said.slight)
        for axis, signs in said.signs.items()
        if len(signs) == 1
    )
    gripper = GripperAction(next(iter(said.gripper))) if len(said.gripper) == 1 else None
    mixed = tuple(axis for axis, signs in said.signs.items() if len(signs) > 1)
    return MotionPlan(moves, gripper, words, mixed, len(said.gripper) > 1)


def describe_steps(
    steps: Sequence[Sequence[float]],
    gripper_before: float | None = None,
    config: PlanConfig | None = None,
    target: str = "",
) -> MotionPlan:
    """The plan of a chunk in ``config.style``: canonical (vocabulary) or described in words.

    ``steps`` are ``[dx_m, dy_m, dz_m, gripper]`` (metres, base frame); ``target`` (free style),
    e.g. "the red block", names what the motion goes toward. The free plan names each moving axis
    with its size in centimetres and the gripper change (see
    :func:`~vlm2vla_policy.language.free_plan.describe`).
    """
    config = config or PlanConfig()
    canonical = plan_from_steps(steps, gripper_before, config)
    if config.style != "free":
        return canonical
    displacement = [sum(float(step[axis]) for step in steps) for axis in range(3)]
    gripper = canonical.gripper.value if canonical.gripper else None
    return parse_plan(describe(displacement, gripper, config, target), config)


def check_plan(
    plan: MotionPlan,
    steps: Sequence[Sequence[float]],
    gripper_before: float | None = None,
    config: PlanConfig | None = None,
) -> PlanCheck:
    """Check that a chunk goes the way its plan says (direction agreement).

    ``steps`` are ``[dx_m, dy_m, dz_m, gripper]`` (metres, base frame). A named direction agrees
    when the chunk's summed displacement along that axis has the same sign and at least
    ``config.dead_zone_m``; an unnamed axis agrees when it moved less than
    ``config.slight_threshold_m``. "slightly" is not checked. The gripper change (see
    :func:`plan_from_steps`) must be the one the plan names.
    """
    config = config or PlanConfig()
    actual = [sum(float(step[axis]) for step in steps) for axis in range(3)]
    problems = []
    for axis, planned in enumerate(plan.directions):
        if axis in plan.mixed_axes:
            continue
        moved = actual[axis]
        if planned != 0 and (moved * planned <= 0 or abs(moved) < config.dead_zone_m):
            problems.append(
                f"the plan says {AxisMove(axis, planned).word} but the chunk moves "
                f"{moved * 100:+.1f} cm along {AXIS_NAMES[axis]}"
            )
        if planned == 0 and abs(moved) >= config.slight_threshold_m:
            word = AxisMove(axis, 1 if moved > 0 else -1).word
            problems.append(
                f"the chunk moves {moved * 100:+.1f} cm {word}, which the plan does not name"
            )
    expected = plan_from_steps(steps, gripper_before, config).gripper if steps else None
    if expected != plan.gripper and not plan.mixed_gripper:
        said = plan.gripper.phrase if plan.gripper else "no gripper change"
        did = expected.phrase if expected else "no gripper change"
        problems.append(f"the plan says {said!r} but the chunk does {did!r}")
    return PlanCheck(not problems, tuple(problems))
