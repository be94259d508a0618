"""Action chunks as text: ``[[dx, dy, dz, gripper], ...]``.

Units and frame: a chunk step is an end-effector displacement in the robot base frame
(+x forward, +y left, +z up). In Python it is in **metres**; in text it is in **centimetres** with
:attr:`ChunkFormat.decimals` decimals (one by default, as in the paper). The gripper is 1 (open) or
0 (closed), written without decimals.

Writing (:func:`encode_chunk`) produces the canonical form, e.g. ``[[1.5, -0.3, 2.0, 1]]``:
values rounded to the configured decimals, ``-0.0`` written as ``0.0``, ``", "`` between values and
steps. Reading (:func:`decode_chunk`) is strict about meaning and tolerant about layout: it accepts
any whitespace, a trailing comma, ``+`` signs, numbers with more or fewer decimals, an enclosing
Markdown code fence and a short preamble before the first ``[``; it raises
:class:`~vlm2vla_policy.language.errors.ChunkParseError` (and nothing else) for anything whose
meaning is not clear.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from vlm2vla_policy.language.config import ChunkFormat
from vlm2vla_policy.language.errors import ChunkEncodeError, ChunkParseError, ErrorKind

CM_PER_M: float = 100.0
"""Centimetres per metre: chunk text is written in centimetres, Python values are metres."""

GRIPPER_CLOSED: float = 0.0
"""Gripper value of a closed gripper (Bridge convention)."""

GRIPPER_OPEN: float = 1.0
"""Gripper value of an open gripper (Bridge convention)."""

_EXAMPLE = "[[1.5, -0.3, 2.0, 1], ...] (dx, dy, dz in centimetres, gripper 1 open / 0 closed)"
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_WORD = re.compile(r"[+-]?[A-Za-z_]+")
_NON_FINITE_WORDS = frozenset({"nan", "inf", "infinity"})
_WHITESPACE = re.compile(r"[ \t\n\r]*")  # ASCII whitespace only: no U+3000, U+2028, ...
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # C0, C1 but tab, LF, CR
_END_MARKERS = ("<end_of_turn>", "<eos>")  # end tokens some OpenAI-compatible servers leave in
_FENCE = "```"


class ActionStep(NamedTuple):
    """One chunk step: displacement (m) in the base frame and the gripper command.

    ``dx_m`` forward, ``dy_m`` left, ``dz_m`` up; ``gripper`` 1.0 = open, 0.0 = closed.
    """

    dx_m: float
    dy_m: float
    dz_m: float
    gripper: float


class ChunkCodec(Protocol):
    """Writes and reads action chunks in one numeric encoding (text digits or AT tokens)."""

    format: ChunkFormat

    def encode(self, steps: Sequence[Sequence[float]]) -> str:
        """Canonical text of ``steps`` (each ``[dx_m, dy_m, dz_m, gripper]``)."""
        ...

    def decode(self, text: str) -> list[ActionStep]:
        """Steps (metres) read from ``text``; raises ChunkParseError only."""
        ...


def format_scaled(n: int, decimals: int) -> str:
    """Canonical text of the integer ``n`` in units of ``10**-decimals`` (e.g. 15, 1 -> "1.5")."""
    sign = "-" if n < 0 else ""
    magnitude = abs(n)
    if decimals == 0:
        return f"{sign}{magnitude}"
    unit = 10**decimals
    return f"{sign}{magnitude // unit}.{magnitude % unit:0{decimals}d}"


def max_scaled(fmt: ChunkFormat) -> int:
    """Largest |value| in units of ``10**-decimals`` centimetres that stays within the bounds."""
    return math.floor(fmt.max_abs_cm * 10**fmt.decimals + 1e-9)


def encode_chunk(steps: Sequence[Sequence[float]], fmt: ChunkFormat | None = None) -> str:
    """Write ``steps`` in the canonical text form.

    Each step is ``[dx_m, dy_m, dz_m, gripper]`` (metres, base frame; gripper exactly 0 or 1,
    binarise raw values first, e.g. with
    :func:`~vlm2vla_policy.language.delta_merging.chunk_deltas`).
    Translations are rounded to ``fmt.decimals`` decimals of a centimetre. Raises
    :class:`ChunkEncodeError` for an empty or too long chunk, a step that is not 4 numbers, NaN or
    inf, a gripper that is not 0/1, or a translation beyond ``fmt.max_abs_cm`` after rounding.
    """
    fmt = fmt or ChunkFormat()
    count = len(steps)
    if count == 0:
        raise ChunkEncodeError(ErrorKind.EMPTY, "cannot write an empty chunk; give at least 1 step")
    if count > fmt.max_steps:
        raise ChunkEncodeError(
            ErrorKind.TOO_MANY,
            f"chunk has {count} steps, more than ChunkFormat.max_steps={fmt.max_steps}; "
            "split it or raise the limit",
        )
    limit = max_scaled(fmt)
    scale = CM_PER_M * 10**fmt.decimals
    parts = []
    for index, step in enumerate(steps, start=1):
        if len(step) != 4:
            raise ChunkEncodeError(
                ErrorKind.ARITY,
                f"step {index} has {len(step)} values; expected [dx_m, dy_m, dz_m, gripper]",
            )
        values = [float(v) for v in step]
        if not all(math.isfinite(v) for v in values):
            raise ChunkEncodeError(
                ErrorKind.NON_FINITE, f"step {index} holds NaN or inf: {values}; drop the sample"
            )
        texts = []
        for axis, value in zip("xyz", values[:3], strict=True):
            n = round(value * scale)
            if abs(n) > limit:
                raise ChunkEncodeError(
                    ErrorKind.OUT_OF_BOUNDS,
                    f"step {index} d{axis} = {value * CM_PER_M:.3f} cm is beyond "
                    f"+-{fmt.max_abs_cm} cm; clip the step or raise ChunkFormat.max_abs_cm",
                )
            texts.append(format_scaled(n, fmt.decimals))
        gripper = values[3]
        if gripper not in (GRIPPER_CLOSED, GRIPPER_OPEN):
            raise ChunkEncodeError(
                ErrorKind.OUT_OF_BOUNDS,
                f"step {index} gripper = {gripper}; expected 0 (closed) or 1 (open): "
                "binarise raw gripper values first",
            )
        texts.append("1" if gripper == GRIPPER_OPEN else "0")
        parts.append("[" + ", ".join(texts) + "]")
    return "[" + ", ".join(parts) + "]"


def _snippet(text: str, pos: int) -> str:
    return repr(text[pos : pos + 16]) if pos < len(text) else "the end of the text"


def _skip_space(text: str, pos: int) -> int:
    return _WHITESPACE.match(text, pos).end()


def _unclosed(what: str, pos: int) -> ChunkParseError:
    return ChunkParseError(
        ErrorKind.MISSING_BRACKET,
        f"{what} is not closed: expected ']' before the end of the text (was the output cut off? "
        "raise max_new_tokens); expected " + _EXAMPLE,
        pos,
    )


def _parse_values(text: str, pos: int, step: int) -> tuple[int, list[tuple[str, int]]]:
    """Read the values of one step after its '['; return the position after its ']'."""
    values: list[tuple[str, int]] = []
    end = len(text)
    while True:
        pos = _skip_space(text, pos)
        if pos >= end:
            raise _unclosed(f"step {step}", pos)
        if text[pos] == "]":
            return pos + 1, values
        number = _NUMBER.match(text, pos)
        if number is None:
            word = _WORD.match(text, pos)
            if word is not None and word.group().lstrip("+-").lower() in _NON_FINITE_WORDS:
                raise ChunkParseError(
                    ErrorKind.NON_FINITE,
                    f"value {len(values) + 1} of step {step} is {word.group()!r}; "
                    "values must be finite numbers",
                    pos,
                )
            if text[pos] == "[":
                raise ChunkParseError(
                    ErrorKind.SYNTAX,
                    f"step {step} contains a nested '['; expected " + _EXAMPLE,
                    pos,
                )
            raise ChunkParseError(
                ErrorKind.NOT_A_NUMBER,
                f"value {len(values) + 1} of step {step} is not a number: {_snippet(text, pos)}; "
                "expected " + _EXAMPLE,
                pos,
            )
        values.append((number.group(), pos))
        if len(values) > 4:
            raise ChunkParseError(
                ErrorKind.ARITY,
                f"step {step} has more than 4 values; expected " + _EXAMPLE,
                pos,
            )
        pos = _skip_space(text, number.end())
        if pos >= end:
            raise _unclosed(f"step {step}", pos)
        if text[pos] == ",":
            pos += 1
        elif text[pos] != "]":
            kind = ErrorKind.NOT_A_NUMBER if pos == number.end() else ErrorKind.SYNTAX
            raise ChunkParseError(
                kind,
                f"after value {len(values)} of step {step} expected ',' or ']', found "
                f"{_snippet(text, pos)} (values are plain decimals such as -1.5)",
                pos,
            )


def _to_step(values: list[tuple[str, int]], step: int, fmt: ChunkFormat, pos: int) -> ActionStep:
    if len(values) != 4:
        raise ChunkParseError(
            ErrorKind.ARITY,
            f"step {step} has {len(values)} values; expected 4: " + _EXAMPLE,
            pos,
        )
    numbers = []
    for (literal, where), name in zip(values, ("dx", "dy", "dz", "gripper"), strict=True):
        number = float(literal)
        if not math.isfinite(number):
            raise ChunkParseError(
                ErrorKind.NON_FINITE, f"{name} of step {step} is too large to be finite", where
            )
        if name != "gripper" and abs(number) > fmt.max_abs_cm:
            raise ChunkParseError(
                ErrorKind.OUT_OF_BOUNDS,
                f"{name} of step {step} is {literal} cm, beyond the bound of +-{fmt.max_abs_cm} cm",
                where,
            )
        if name == "gripper" and number not in (GRIPPER_CLOSED, GRIPPER_OPEN):
            raise ChunkParseError(
                ErrorKind.OUT_OF_BOUNDS,
                f"gripper of step {step} is {literal}; expected 0 (closed) or 1 (open)",
                where,
            )
        numbers.append(number)
    dx, dy, dz, gripper = numbers
    return ActionStep(dx / CM_PER_M + 0.0, dy / CM_PER_M + 0.0, dz / CM_PER_M + 0.0, gripper + 0.0)


def decode_chunk(text: str, fmt: ChunkFormat | None = None) -> list[ActionStep]:
    """Read an action chunk written by a model or by :func:`encode_chunk`.

    Returns the steps in metres (base frame) with the gripper as 0.0/1.0. Raises
    :class:`ChunkParseError` (with ``kind`` and ``position``) and nothing else on any input: no
    '[' or an unclosed list (``MISSING_BRACKET``), a step without 4 values (``ARITY``), a value
    that is not a plain decimal (``NOT_A_NUMBER``), NaN/inf (``NON_FINITE``), a translation beyond
    ``fmt.max_abs_cm`` or a gripper other than 0/1 (``OUT_OF_BOUNDS``), ``[]`` (``EMPTY``), more
    than ``fmt.max_steps`` steps (``TOO_MANY``), a preamble longer than ``fmt.max_preamble_chars``
    (``PREAMBLE_TOO_LONG``), text after the chunk other than a closing code fence and Gemma's end
    markers ``<end_of_turn>``/``<eos>`` (``TRAILING_TEXT``), or a control character anywhere
    (``CONTROL_CHARACTER``). Numbers are ASCII digits and spaces ASCII whitespace: other Unicode
    digits and spaces are not a chunk.
    """
    fmt = fmt or ChunkFormat()
    if not isinstance(text, str):
        raise ChunkParseError(ErrorKind.NOT_TEXT, f"expected a str, got {type(text).__name__}")
    control = _CONTROL.search(text)
    if control is not None:
        raise ChunkParseError(
            ErrorKind.CONTROL_CHARACTER,
            f"control character U+{ord(control.group()):04X} in the answer; a chunk is printable "
            "text",
            control.start(),
        )
    start = text.find("[")
    if start < 0:
        raise ChunkParseError(
            ErrorKind.MISSING_BRACKET, "no '[' in the text; expected a chunk like " + _EXAMPLE
        )
    if len(text[:start].strip()) > fmt.max_preamble_chars:
        raise ChunkParseError(
            ErrorKind.PREAMBLE_TOO_LONG,
            f"{len(text[:start].strip())} characters before the chunk, more than "
            f"max_preamble_chars={fmt.max_preamble_chars}; the answer should be the chunk itself",
            start,
        )
    steps: list[ActionStep] = []
    pos = start + 1
    end = len(text)
    while True:
        pos = _skip_space(text, pos)
        if pos >= end:
            raise _unclosed("the chunk", pos)
        if text[pos] == "]":
            pos += 1
            break
        if text[pos] != "[":
            raise ChunkParseError(
                ErrorKind.MISSING_BRACKET,
                f"expected '[' to open step {len(steps) + 1}, found {_snippet(text, pos)}; "
                "expected " + _EXAMPLE,
                pos,
            )
        step_start = pos
        pos, values = _parse_values(text, pos + 1, len(steps) + 1)
        steps.append(_to_step(values, len(steps) + 1, fmt, step_start))
        if len(steps) > fmt.max_steps:
            raise ChunkParseError(
                ErrorKind.TOO_MANY,
                f"the chunk has more than max_steps={fmt.max_steps} steps",
                step_start,
            )
        pos = _skip_space(text, pos)
        if pos >= end:
            raise _unclosed("the chunk", pos)
        if text[pos] == ",":
            pos += 1
        elif text[pos] != "]":
            raise ChunkParseError(
                ErrorKind.SYNTAX,
                f"after step {len(steps)} expected ',' or ']', found {_snippet(text, pos)}",
                pos,
            )
    if not steps:
        raise ChunkParseError(
            ErrorKind.EMPTY, "the chunk has no steps; expected at least one: " + _EXAMPLE, start
        )
    rest = _strip_end_markers(text[pos:].strip(" \t\n\r"))
    if rest.startswith(_FENCE):
        rest = _strip_end_markers(rest[len(_FENCE) :].strip(" \t\n\r"))
    if rest:
        raise ChunkParseError(
            ErrorKind.TRAILING_TEXT,
            f"unexpected text after the chunk: {_snippet(text, text.index(rest[0], pos))}; "
            "the answer must end with the chunk",
            pos,
        )
    return steps


def _strip_end_markers(rest: str) -> str:
    """``rest`` without trailing end-of-turn / end-of-sequence markers (and the space before)."""
    stripped = True
    while stripped:
        stripped = False
        for marker in _END_MARKERS:
            if rest.endswith(marker):
                rest = rest[: -len(marker)].rstrip(" \t\n\r")
                stripped = True
    return rest


@dataclass(frozen=True)
class TextChunkCodec:
    """The paper's encoding: numbers written with ordinary digits (:class:`ChunkCodec`)."""

    # Syntax, bounds and limits of the chunk text.
    format: ChunkFormat = field(default_factory=ChunkFormat)

    def encode(self, steps: Sequence[Sequence[float]]) -> str:
        """Canonical text of ``steps`` (metres, base frame); see :func:`encode_chunk`."""
        return encode_chunk(steps, self.format)

    def decode(self, text: str) -> list[ActionStep]:
        """Steps (metres, base frame) read from ``text``; see :func:`decode_chunk`."""
        return decode_chunk(text, self.format)
