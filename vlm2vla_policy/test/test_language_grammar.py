"""Stage grammars accept exactly the canonical answers, and their regexes agree with them."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlm2vla_policy.language import (
    DIGITS,
    AtChunkCodec,
    AtTable,
    ChunkFormat,
    LanguageConfig,
    LanguageFormatError,
    PlanConfig,
    Stage,
    chunk_grammar,
    decode_chunk,
    encode_chunk,
    format_direction,
    format_plan,
    format_subtasks,
    format_verdict,
    grammar_for,
    parse_direction,
    parse_plan,
    parse_subtasks,
    parse_verdict,
)

FAKE_AT = AtTable(
    symbols=tuple(DIGITS),
    token_strings=("ア", "イ", "ウ", "エ", "オ", "カ", "キ", "ク", "ケ", "コ"),
    token_ids=tuple(range(100, 110)),
)
SMALL = ChunkFormat(decimals=2, max_abs_cm=7.25, max_steps=3)
translation_m = st.floats(min_value=-0.1, max_value=0.1, allow_nan=False)
steps_strategy = st.lists(
    st.tuples(translation_m, translation_m, translation_m, st.sampled_from([0.0, 1.0])),
    min_size=1,
    max_size=20,
)


def _canonical(
    stage: Stage, text: str, fmt: ChunkFormat | None = None, plan: PlanConfig | None = None
) -> bool:
    """Whether the stage's reader accepts ``text`` and its writer gives it back unchanged."""
    fmt = fmt or ChunkFormat()
    try:
        if stage is Stage.CHUNK:
            return encode_chunk(decode_chunk(text, fmt), fmt) == text
        if stage is Stage.PLAN:
            return format_plan(parse_plan(text, plan)) == text
        if stage is Stage.SUBTASKS:
            return format_subtasks(parse_subtasks(text)) == text
        if stage is Stage.VERIFICATION:
            verdict = parse_verdict(text)
            return format_verdict(verdict.done, verdict.reason) == text
        return format_direction(parse_direction(text)) == text
    except LanguageFormatError:
        return False


@settings(max_examples=200, deadline=None)
@given(steps=steps_strategy)
def test_chunk_grammar_accepts_every_canonical_encoding(steps):
    text = encode_chunk(steps)
    grammar = chunk_grammar()
    assert grammar.accepts(text)
    assert re.fullmatch(grammar.regex, text)
    assert chunk_grammar(ChunkFormat(encoding="at"), FAKE_AT).accepts(
        AtChunkCodec(FAKE_AT).encode(steps)
    )


@pytest.mark.parametrize("stage", list(Stage))
def test_grammar_samples_are_canonical_answers(stage):
    grammar = grammar_for(stage)
    rng = random.Random(7)
    for _ in range(300):
        text = grammar.sample(rng, stop_probability=0.2)
        assert _canonical(stage, text), text
        assert re.fullmatch(grammar.regex, text, flags=re.DOTALL)


def test_bounded_chunk_grammar_is_exact():
    grammar = chunk_grammar(SMALL)
    rng = random.Random(3)
    for _ in range(300):
        text = grammar.sample(rng, stop_probability=0.3)
        assert _canonical(Stage.CHUNK, text, SMALL), text
    assert grammar.accepts(
        "[[7.25, -7.25, 0.00, 1], [0.01, -0.01, 0.10, 0], [1.00, 2.00, 3.00, 1]]"
    )
    for bad in ("[[7.26, 0.00, 0.00, 1]]", "[[-0.00, 0.00, 0.00, 1]]", "[[8.00, 0.00, 0.00, 1]]"):
        assert not grammar.accepts(bad)
    four = "[" + ", ".join(["[0.00, 0.00, 0.00, 1]"] * 4) + "]"
    assert not grammar.accepts(four)


MALFORMED = {
    Stage.CHUNK: [
        "",
        "[]",
        "[[1.5,-2.0,0.3,1]]",
        "[[1.50, -2.0, 0.3, 1]]",
        "[[1.5, -2.0, 0.3, 1.0]]",
        "[[+1.5, -2.0, 0.3, 1]]",
        "[[-0.0, 0.0, 0.0, 1]]",
        "[[01.5, 0.0, 0.0, 1]]",
        "[[.5, 0.0, 0.0, 1]]",
        "[[10.1, 0.0, 0.0, 1]]",
        "[[1.5, 0.0, 0.0, 2]]",
        "[[1.5, 0.0, 0.0]]",
        "[[1.5, 0.0, 0.0, 1, 1]]",
        "[[1.5, 0.0, 0.0, 1],]",
        "[[1.5, 0.0, 0.0, 1]] ",
        "```[[1.5, 0.0, 0.0, 1]]```",
        "Chunk: [[1.5, 0.0, 0.0, 1]]",
        "[[1.5, 0.0, 0.0, 1]",
        "[[nan, 0.0, 0.0, 1]]",
        "[" + ", ".join(["[0.0, 0.0, 0.0, 1]"] * 21) + "]",
    ],
    Stage.PLAN: [
        "",
        " move down",
        "move down ",
        "move down\nand left",
        "move down\tand left",
        "move\x00down",
        "move \uff11 cm down",
        "x" * 161,
    ],
    Stage.SUBTASKS: [
        "",
        "1.grasp",
        "1. Grasp the lid",
        "1. grasp the lid.",
        "1. grasp  the lid",
        "1. grasp\n3. lift",
        "1) grasp",
        "- grasp",
        "1. grasp\n",
        "2. grasp",
        "\n".join(f"{i}. a" for i in range(1, 12)),
    ],
    Stage.VERIFICATION: ["", "Yes", "yes.", "yes,", "yes, ", "yes: done", "no,  x", "maybe"],
    Stage.DIRECTION: ["", "Left", "left.", "up", " none"],
}


MALFORMED_VOCABULARY_PLANS = [
    "",
    "Move down",
    "move down.",
    "move  down",
    "move left and right",
    "move down and move left",
    "move down and down",
    "close the gripper and move down",
    "move",
    "stay still and close the gripper",
    "move diagonally",
    "open gripper",
]
VOCABULARY = PlanConfig(style="vocabulary")


@pytest.mark.parametrize("stage", list(Stage))
def test_grammars_reject_the_malformed_corpus(stage):
    grammar = grammar_for(stage)
    for text in MALFORMED[stage]:
        assert not grammar.accepts(text), text
        assert not re.fullmatch(grammar.regex, text, flags=re.DOTALL), text
        assert not _canonical(stage, text), text


def test_the_vocabulary_plan_grammar_rejects_its_malformed_corpus():
    grammar = grammar_for(Stage.PLAN, LanguageConfig(plan=VOCABULARY))
    for text in MALFORMED_VOCABULARY_PLANS:
        assert not grammar.accepts(text), text
        assert not re.fullmatch(grammar.regex, text, flags=re.DOTALL), text
        assert not _canonical(Stage.PLAN, text, plan=VOCABULARY), text
    rng = random.Random(5)
    for _ in range(200):
        text = grammar.sample(rng, stop_probability=0.2)
        assert _canonical(Stage.PLAN, text, plan=VOCABULARY), text


def test_free_plans_are_bounded_plain_text():
    grammar = grammar_for(Stage.PLAN)
    paper = "lift the pepper up to clear the stove knobs, then move forward and slightly right"
    assert grammar.accepts(paper) and _canonical(Stage.PLAN, paper)
    assert grammar.accepts("x" * 160) and not grammar.accepts("x" * 161)


def test_grammar_accepts_exactly_the_canonical_texts_near_canonical_ones():
    """On corruptions of canonical answers, grammar acceptance == read-and-rewrite identity."""
    rng = random.Random(11)
    alphabet = "0123456789-+., []\nabcdeglmnorstuvwy"
    for stage in Stage:
        grammar = grammar_for(stage, LanguageConfig())
        for _ in range(400):
            chars = list(grammar.sample(rng))
            for _ in range(rng.randint(0, 2)):
                pos = rng.randrange(len(chars) + 1)
                if rng.random() < 0.5 or not chars:
                    chars.insert(pos, rng.choice(alphabet))
                else:
                    del chars[min(pos, len(chars) - 1)]
            text = "".join(chars)
            assert grammar.accepts(text) == _canonical(stage, text), (stage, text)
