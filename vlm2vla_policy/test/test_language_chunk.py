"""Action chunk text: round trip, tolerant reading, typed errors, and a 10k-case fuzz."""

from __future__ import annotations

import contextlib
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlm2vla_policy.language import (
    DIGITS,
    ActionStep,
    AtChunkCodec,
    AtTable,
    ChunkEncodeError,
    ChunkFormat,
    ChunkParseError,
    ErrorKind,
    LanguageFormatError,
    TextChunkCodec,
    decode_chunk,
    encode_chunk,
    make_chunk_codec,
    parse_direction,
    parse_plan,
    parse_subtasks,
    parse_verdict,
)

FAKE_AT = AtTable(
    symbols=tuple(DIGITS),
    token_strings=tuple("アイウエオカキクケコ"),
    token_ids=tuple(range(100, 110)),
    tokenizer="fake",
)

translation_m = st.floats(min_value=-0.1, max_value=0.1, allow_nan=False)
steps_strategy = st.lists(
    st.tuples(translation_m, translation_m, translation_m, st.sampled_from([0.0, 1.0])),
    min_size=1,
    max_size=20,
)


@settings(max_examples=150, deadline=None)
@given(steps=steps_strategy, decimals=st.integers(min_value=0, max_value=3))
def test_round_trip_within_half_the_last_decimal(steps, decimals):
    fmt = ChunkFormat(decimals=decimals)
    decoded = decode_chunk(encode_chunk(steps, fmt), fmt)
    half_step_m = 0.5 * 10**-decimals / 100
    assert len(decoded) == len(steps)
    for original, got in zip(steps, decoded, strict=True):
        for a, b in zip(original[:3], got[:3], strict=True):
            assert abs(a - b) <= half_step_m + 1e-12
        assert got.gripper == original[3]


@settings(max_examples=100, deadline=None)
@given(steps=steps_strategy)
def test_at_codec_round_trips_like_text(steps):
    at = AtChunkCodec(FAKE_AT)
    text = TextChunkCodec()
    encoded = at.encode(steps)
    assert not any(c.isdigit() for c in encoded)
    assert at.decode(encoded) == text.decode(text.encode(steps))


def test_canonical_form():
    text = encode_chunk([[0.015, -0.02, 0.003, 1], [0.0, -0.00001, 0.1, 0]])
    assert text == "[[1.5, -2.0, 0.3, 1], [0.0, 0.0, 10.0, 0]]"
    assert encode_chunk([[0.01234, 0, 0, 1]], ChunkFormat(decimals=2)) == "[[1.23, 0.00, 0.00, 1]]"
    assert encode_chunk([[0.01234, 0, 0, 1]], ChunkFormat(decimals=0)) == "[[1, 0, 0, 1]]"


@pytest.mark.parametrize(
    "text",
    [
        "[[1.5, -2.0, 0.3, 1]]",
        "[[1.5,-2.0,0.3,1]]",
        "  [ [ 1.5 ,\n -2 , .3 , 1.0 , ] , ]  ",
        "[[+1.5, -2.00, +0.30, +1]]",
        "```json\n[[1.5, -2.0, 0.3, 1]]\n```",
        "```\n[[1.5, -2.0, 0.3, 1]]```",
        "Here is the chunk: [[1.5, -2.0, 0.3, 1]]",
        "Sure.\n```\n[[1.5, -2.0, 0.3, 1.]]\n```\n",
    ],
)
def test_tolerant_reading(text):
    (step,) = decode_chunk(text)
    assert step == pytest.approx(ActionStep(0.015, -0.02, 0.003, 1.0))


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("move forward", ErrorKind.MISSING_BRACKET),
        ("[1.5, 0, 0, 1]", ErrorKind.MISSING_BRACKET),
        ("[[1.5, 0, 0, 1]", ErrorKind.MISSING_BRACKET),
        ("[[1.5, 0, 0, 1", ErrorKind.MISSING_BRACKET),
        ("[[1.5, 0, 0]]", ErrorKind.ARITY),
        ("[[1.5, 0, 0, 1, 1]]", ErrorKind.ARITY),
        ("[[]]", ErrorKind.ARITY),
        ("[[a, 0, 0, 1]]", ErrorKind.NOT_A_NUMBER),
        ("[[1.5.2, 0, 0, 1]]", ErrorKind.NOT_A_NUMBER),
        ("[[1e2, 0, 0, 1]]", ErrorKind.NOT_A_NUMBER),
        ("[[-, 0, 0, 1]]", ErrorKind.NOT_A_NUMBER),
        ("[[nan, 0, 0, 1]]", ErrorKind.NON_FINITE),
        ("[[0, -inf, 0, 1]]", ErrorKind.NON_FINITE),
        ("[[0, 0, " + "9" * 400 + ", 1]]", ErrorKind.NON_FINITE),
        ("[[10.01, 0, 0, 1]]", ErrorKind.OUT_OF_BOUNDS),
        ("[[0, -12, 0, 1]]", ErrorKind.OUT_OF_BOUNDS),
        ("[[0, 0, 0, 0.5]]", ErrorKind.OUT_OF_BOUNDS),
        ("[[0, 0, 0, 2]]", ErrorKind.OUT_OF_BOUNDS),
        ("[]", ErrorKind.EMPTY),
        ("[ , ]", ErrorKind.MISSING_BRACKET),
        ("[" + ", ".join(["[0, 0, 0, 1]"] * 21) + "]", ErrorKind.TOO_MANY),
        ("x" * 300 + "[[0, 0, 0, 1]]", ErrorKind.PREAMBLE_TOO_LONG),
        ("[[0, 0, 0, 1]] and then stop", ErrorKind.TRAILING_TEXT),
        ("[[0, 0, 0, 1]] [[0, 0, 0, 1]]", ErrorKind.TRAILING_TEXT),
        ("[[0 0, 0, 1]]", ErrorKind.SYNTAX),
        ("[[0, [0], 0, 1]]", ErrorKind.SYNTAX),
        ("[[0, 0, 0, 1] [0, 0, 0, 1]]", ErrorKind.SYNTAX),
    ],
)
def test_typed_errors_say_what_was_wrong(text, kind):
    with pytest.raises(ChunkParseError) as error:
        decode_chunk(text)
    assert error.value.kind is kind
    assert str(error.value)


def test_decoder_rejects_non_text():
    with pytest.raises(ChunkParseError) as error:
        decode_chunk(b"[[0, 0, 0, 1]]")  # type: ignore[arg-type]
    assert error.value.kind is ErrorKind.NOT_TEXT


@pytest.mark.parametrize(
    ("steps", "kind"),
    [
        ([], ErrorKind.EMPTY),
        ([[0, 0, 0, 1]] * 21, ErrorKind.TOO_MANY),
        ([[0, 0, 1]], ErrorKind.ARITY),
        ([[math.nan, 0, 0, 1]], ErrorKind.NON_FINITE),
        ([[0.11, 0, 0, 1]], ErrorKind.OUT_OF_BOUNDS),
        ([[0, 0, 0, 0.7]], ErrorKind.OUT_OF_BOUNDS),
    ],
)
def test_encode_refuses_what_it_cannot_write(steps, kind):
    with pytest.raises(ChunkEncodeError) as error:
        encode_chunk(steps)
    assert error.value.kind is kind


def test_at_decoder_rejects_plain_digits():
    with pytest.raises(ChunkParseError) as error:
        AtChunkCodec(FAKE_AT).decode("[[1.5, 0.0, 0.0, 1]]")
    assert error.value.kind is ErrorKind.NOT_A_NUMBER
    assert "AT" in str(error.value)


def test_codec_follows_config():
    assert isinstance(make_chunk_codec(ChunkFormat()), TextChunkCodec)
    assert isinstance(make_chunk_codec(ChunkFormat(encoding="at"), FAKE_AT), AtChunkCodec)
    with pytest.raises(LanguageFormatError):
        make_chunk_codec(ChunkFormat(encoding="at"))


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=80) | st.from_regex(r"[\[\]0-9.,+\- nai`]{0,60}", fullmatch=True))
def test_readers_raise_only_typed_errors_on_any_text(text):
    readers = (decode_chunk, AtChunkCodec(FAKE_AT).decode, parse_plan, parse_subtasks)
    for reader in (*readers, parse_verdict, parse_direction):
        with contextlib.suppress(LanguageFormatError):
            reader(text)


_FUZZ_ALPHABET = "0123456789-+.,[] \n`eEnaiNfx:アイ"


def _corrupt(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(3)
        pos = rng.randrange(len(chars) + 1)
        if op == 0:
            chars.insert(pos, rng.choice(_FUZZ_ALPHABET))
        elif chars and op == 1:
            del chars[min(pos, len(chars) - 1)]
        elif chars:
            chars[min(pos, len(chars) - 1)] = rng.choice(_FUZZ_ALPHABET)
    return "".join(chars)


def _fuzz_case(rng: random.Random) -> str:
    steps = [
        [rng.uniform(-0.1, 0.1) for _ in range(3)] + [rng.choice([0, 1])]
        for _ in range(rng.randint(1, 22))
    ]
    canonical = encode_chunk(steps[:20])
    kind = rng.randrange(6)
    if kind == 0:
        return canonical[: rng.randrange(len(canonical) + 1)]
    if kind == 1:
        return _corrupt(rng, canonical)
    if kind == 2:
        return "".join(rng.choice(_FUZZ_ALPHABET) for _ in range(rng.randint(0, 60)))
    if kind == 3:
        return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randint(0, 40)))
    if kind == 4:
        body = (
            "["
            + ", ".join(
                "["
                + ", ".join(
                    f"{rng.uniform(-30, 30):.{rng.randint(0, 6)}f}"
                    for _ in range(rng.randint(0, 6))
                )
                + "]"
                for _ in range(rng.randint(0, 25))
            )
            + "]"
        )
        return rng.choice(["", "Chunk: ", "```\n"]) + body + rng.choice(["", "\n```", ",", " ok"])
    return FAKE_AT.to_at(_corrupt(rng, canonical))


def test_fuzz_readers_raise_only_typed_errors():
    rng = random.Random(1234)
    fmt = ChunkFormat()
    at = AtChunkCodec(FAKE_AT)
    accepted = 0
    for _ in range(10_000):
        text = _fuzz_case(rng)
        for codec_decode in (lambda t: decode_chunk(t, fmt), at.decode):
            try:
                steps = codec_decode(text)
            except ChunkParseError:
                continue
            accepted += 1
            assert 1 <= len(steps) <= fmt.max_steps
            for step in steps:
                assert all(math.isfinite(v) for v in step)
                assert all(abs(v) <= fmt.max_abs_m for v in step[:3])
                assert step.gripper in (0.0, 1.0)
        for reader in (parse_plan, parse_subtasks, parse_verdict, parse_direction):
            with contextlib.suppress(LanguageFormatError):
                reader(text)
    assert 100 < accepted < 20_000


# --- strict decoding: ASCII digits and spaces, no control characters, end markers stripped ---


@pytest.mark.parametrize(
    "text",
    [
        "[[１.0, 0.0, 0.0, 1]]",  # fullwidth digit
        "[[١.0, 0.0, 0.0, 1]]",  # Arabic-Indic digit
        "[[१.0, 0.0, 0.0, 1]]",  # Devanagari digit
        "[[1.0,\u30000.0, 0.0, 1]]",  # ideographic space
        "[[1.0,\u20280.0, 0.0, 1]]",  # line separator
    ],
)
def test_non_ascii_digits_and_spaces_are_not_a_chunk(text):
    with pytest.raises(ChunkParseError):
        decode_chunk(text)


@pytest.mark.parametrize("text", ["\x00[[1.0, 0.0, 0.0, 1]]", "[[1.0, 0.0,\x07 0.0, 1]]"])
def test_control_characters_are_refused_with_their_kind(text):
    with pytest.raises(ChunkParseError) as err:
        decode_chunk(text)
    assert err.value.kind is ErrorKind.CONTROL_CHARACTER


@pytest.mark.parametrize(
    "suffix", ["<end_of_turn>", " <eos>", "\n<end_of_turn><eos>", "\n```\n<end_of_turn>"]
)
def test_a_leaked_end_marker_after_the_chunk_is_stripped(suffix):
    steps = decode_chunk("[[1.0, -2.0, 0.5, 1]]" + suffix)
    assert len(steps) == 1 and steps[0][1] == pytest.approx(-0.02)


def test_text_after_an_end_marker_is_still_trailing_text():
    with pytest.raises(ChunkParseError) as err:
        decode_chunk("[[1.0, 0.0, 0.0, 1]]<end_of_turn> and more")
    assert err.value.kind is ErrorKind.TRAILING_TEXT


def test_tabs_and_newlines_between_values_still_parse():
    assert len(decode_chunk("[[1.0,\t0.0,\r\n0.0, 1],\n [0.0, 0.0, 0.0, 0]]")) == 2
