r"""Grammars of every stage's canonical answer, for constrained decoding and validation.

Each grammar accepts exactly the canonical form that the stage's writer produces, and every text
it accepts is read by the stage's reader (and written back unchanged by the writer):

* chunk: ``[[dx, dy, dz, g], ...]`` with 1..``max_steps`` steps, each translation in
  ``[-max_abs_cm, max_abs_cm]`` with exactly ``decimals`` decimals, no leading zeros, no ``-0.0``,
  gripper ``0``/``1``; in AT mode the replaced symbols are the table's token texts;
* plan, free style: one line of printable ASCII, 1 to ``max_chars`` characters, no space at
  either end; vocabulary style: ``move <term>[ and <term>]*[ and (open|close) the gripper]`` with
  distinct axes, or a gripper phrase alone, or ``stay still``;
* subtasks: ``1. words\n2. words ...`` up to ``max_subtasks`` lines, words ``[a-z0-9]+``;
* verification: ``yes`` or ``no``, optionally ``, words``;
* direction: ``left``, ``right`` or ``none``.

:attr:`Grammar.regex` gives the same language as a regular expression (for servers with guided
decoding, e.g. vLLM's ``guided_regex``); :attr:`Grammar.dfa` drives
:class:`~vlm2vla_policy.decoding.constrained.GrammarConstraint`.
"""

from __future__ import annotations

import functools
import itertools

from vlm2vla_policy.decoding.automaton import (
    Grammar,
    Pattern,
    alt,
    compile_pattern,
    lit,
    one_of,
    opt,
    repeat,
    seq,
)
from vlm2vla_policy.language.at_encoding import AtTable
from vlm2vla_policy.language.chunk import max_scaled
from vlm2vla_policy.language.config import ChunkFormat, LanguageConfig, PlanConfig, SubtaskConfig
from vlm2vla_policy.language.direction import DIRECTION_WORDS
from vlm2vla_policy.language.errors import ConfigError, ErrorKind
from vlm2vla_policy.language.free_plan import FREE_PLAN_CHARS
from vlm2vla_policy.language.plan import (
    AXIS_WORDS,
    JOINER,
    MOVE_PREFIX,
    SLIGHT_WORD,
    STILL_PHRASE,
    GripperAction,
)
from vlm2vla_policy.language.stage import Stage
from vlm2vla_policy.language.verdict import NO, REASON_SEPARATOR, YES
from vlm2vla_policy.language.words import WORD_CHARS


def _make(name: str, pattern: Pattern) -> Grammar:
    return Grammar(name, pattern, compile_pattern(pattern))


class _Digits:
    """Symbols that write digits, the minus sign and the point (plain or AT tokens)."""

    def __init__(self, table: AtTable | None) -> None:
        symbol = table.token_for if table is not None else (lambda char: char)
        self.digit = [symbol(str(d)) for d in range(10)]
        self.minus = symbol("-")
        self.point = symbol(".")

    def any(self, count: int) -> Pattern:
        return repeat(one_of(self.digit), count, count)

    def fixed_width(self, low: int, high: int, width: int) -> Pattern:
        """Zero-padded ``width``-digit numbers in ``[low, high]``."""
        if width == 0:
            return seq()
        if low == 0 and high == 10**width - 1:
            return self.any(width)
        place = 10 ** (width - 1)
        low_digit, low_rest = divmod(low, place)
        high_digit, high_rest = divmod(high, place)
        if low_digit == high_digit:
            return seq(
                lit([self.digit[low_digit]]), self.fixed_width(low_rest, high_rest, width - 1)
            )
        options = [
            seq(lit([self.digit[low_digit]]), self.fixed_width(low_rest, place - 1, width - 1))
        ]
        if high_digit - low_digit > 1:
            options.append(seq(one_of(self.digit[low_digit + 1 : high_digit]), self.any(width - 1)))
        options.append(
            seq(lit([self.digit[high_digit]]), self.fixed_width(0, high_rest, width - 1))
        )
        return alt(*options)

    def integer(self, low: int, high: int) -> Pattern:
        """Integers in ``[low, high]`` (``low >= 0``) without leading zeros."""
        options = []
        for width in range(len(str(low)), len(str(high)) + 1):
            a = max(low, 10 ** (width - 1) if width > 1 else 0)
            b = min(high, 10**width - 1)
            if a <= b:
                options.append(self.fixed_width(a, b, width))
        return alt(*options)

    def scaled(self, low: int, high: int, decimals: int) -> Pattern:
        """Canonical texts of ``n / 10**decimals`` for integers ``n`` in ``[low, high]``."""
        if decimals == 0:
            return self.integer(low, high)
        unit = 10**decimals
        low_int, low_frac = divmod(low, unit)
        high_int, high_frac = divmod(high, unit)
        point = lit([self.point])
        if low_int == high_int:
            return seq(
                self.integer(low_int, low_int),
                point,
                self.fixed_width(low_frac, high_frac, decimals),
            )
        options = [
            seq(
                self.integer(low_int, low_int),
                point,
                self.fixed_width(low_frac, unit - 1, decimals),
            )
        ]
        if high_int - low_int > 1:
            options.append(seq(self.integer(low_int + 1, high_int - 1), point, self.any(decimals)))
        options.append(
            seq(self.integer(high_int, high_int), point, self.fixed_width(0, high_frac, decimals))
        )
        return alt(*options)


@functools.lru_cache(maxsize=32)
def chunk_grammar(fmt: ChunkFormat | None = None, at_table: AtTable | None = None) -> Grammar:
    """Grammar of canonical chunks (digits, or the AT table's tokens when ``at_table`` is given).

    Raises :class:`ConfigError` when ``fmt.encoding`` is "at" and no table is given.
    """
    fmt = fmt or ChunkFormat()
    if fmt.encoding == "at" and at_table is None:
        raise ConfigError(
            ErrorKind.BAD_CONFIG, "the AT encoding needs an AtTable; pass at_table or use 'text'"
        )
    digits = _Digits(at_table if fmt.encoding == "at" else None)
    limit = max_scaled(fmt)
    number = digits.scaled(0, limit, fmt.decimals)
    if limit > 0:
        number = alt(number, seq(lit([digits.minus]), digits.scaled(1, limit, fmt.decimals)))
    step = seq(
        "[",
        number,
        ", ",
        number,
        ", ",
        number,
        ", ",
        one_of([digits.digit[0], digits.digit[1]]),
        "]",
    )
    return _make(
        Stage.CHUNK.value, seq("[", step, repeat(seq(", ", step), 0, fmt.max_steps - 1), "]")
    )


@functools.lru_cache(maxsize=8)
def plan_grammar(config: PlanConfig | None = None) -> Grammar:
    """Grammar of motion plans in ``config.style`` (see :mod:`~vlm2vla_policy.language.plan`)."""
    config = config or PlanConfig()
    if config.style == "free":
        inner = [char for char in FREE_PLAN_CHARS if char != " "]
        body = opt(
            seq(repeat(one_of(list(FREE_PLAN_CHARS)), 0, config.max_chars - 2), one_of(inner))
        )
        return _make(Stage.PLAN.value, seq(one_of(inner), body))

    def term(axis: int) -> Pattern:
        return seq(opt(SLIGHT_WORD + " "), alt(*AXIS_WORDS[axis]))

    orders = [p for k in (1, 2, 3) for p in itertools.permutations(range(3), k)]
    movement = alt(*(seq(*_join([term(axis) for axis in order], JOINER)) for order in orders))
    gripper = alt(*(action.phrase for action in GripperAction))
    return _make(
        Stage.PLAN.value,
        alt(seq(MOVE_PREFIX, movement, opt(seq(JOINER, gripper))), gripper, STILL_PHRASE),
    )


def _join(parts: list[Pattern], separator: str) -> list[Pattern | str]:
    joined: list[Pattern | str] = []
    for index, part in enumerate(parts):
        if index:
            joined.append(separator)
        joined.append(part)
    return joined


def _words() -> Pattern:
    word = repeat(one_of(WORD_CHARS), 1, None)
    return seq(word, repeat(seq(" ", word), 0, None))


@functools.lru_cache(maxsize=8)
def subtasks_grammar(config: SubtaskConfig | None = None) -> Grammar:
    """Grammar of canonical subtask lists (1 to ``config.max_subtasks`` numbered lines)."""
    config = config or SubtaskConfig()
    tail: Pattern = seq()
    for number in range(config.max_subtasks, 1, -1):
        tail = opt(seq(f"\n{number}. ", _words(), tail))
    return _make(Stage.SUBTASKS.value, seq("1. ", _words(), tail))


@functools.lru_cache(maxsize=1)
def verdict_grammar() -> Grammar:
    """Grammar of canonical verification answers: yes/no, optionally ``, reason words``."""
    return _make(Stage.VERIFICATION.value, seq(alt(YES, NO), opt(seq(REASON_SEPARATOR, _words()))))


@functools.lru_cache(maxsize=1)
def direction_grammar() -> Grammar:
    """Grammar of movement-direction answers: left, right or none."""
    return _make(Stage.DIRECTION.value, alt(*DIRECTION_WORDS))


def grammar_for(
    stage: Stage, config: LanguageConfig | None = None, at_table: AtTable | None = None
) -> Grammar:
    """The grammar of ``stage``'s answer under ``config`` (``at_table`` for the AT chunk)."""
    config = config or LanguageConfig()
    stage = Stage(stage)
    if stage is Stage.CHUNK:
        return chunk_grammar(config.chunk, at_table)
    if stage is Stage.PLAN:
        return plan_grammar(config.plan)
    if stage is Stage.SUBTASKS:
        return subtasks_grammar(config.subtasks)
    if stage is Stage.VERIFICATION:
        return verdict_grammar()
    return direction_grammar()
