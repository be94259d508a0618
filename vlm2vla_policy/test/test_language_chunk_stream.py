"""ChunkStreamReader: steps as soon as their ']' arrives, the same steps decode_chunk reads."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlm2vla_policy.language import (
    AtChunkCodec,
    AtTable,
    ChunkFormat,
    ChunkParseError,
    ChunkStreamReader,
    ErrorKind,
    TextChunkCodec,
    decode_chunk,
    encode_chunk,
)

STEP = st.tuples(
    st.integers(-50, 50), st.integers(-50, 50), st.integers(-50, 50), st.sampled_from([0, 1])
)


def _steps(raw):
    return [[x / 1000, y / 1000, z / 1000, float(g)] for x, y, z, g in raw]


def _feed_all(reader: ChunkStreamReader, pieces: list[str]) -> list[tuple[int, object]]:
    """(index of the piece that returned it, step) for every step returned."""
    out = []
    for index, piece in enumerate(pieces):
        out += [(index, step) for step in reader.feed(piece)]
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(STEP, min_size=1, max_size=20), st.data())
def test_any_split_gives_the_decoded_steps_each_when_its_bracket_arrives(raw, data):
    text = encode_chunk(_steps(raw))
    cuts = sorted(data.draw(st.sets(st.integers(1, len(text) - 1), max_size=30)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    reader = ChunkStreamReader()
    got = _feed_all(reader, pieces)
    assert [step for _, step in got] == decode_chunk(text)
    assert reader.finish() == decode_chunk(text)
    # Each step came with the piece holding its closing bracket: the k-th "]" at depth 2 -> 1.
    closes, depth, position = [], 0, 0
    for piece_index, piece in enumerate(pieces):
        for char in piece:
            depth += {"[": 1, "]": -1}.get(char, 0)
            if char == "]" and depth == 1:
                closes.append(piece_index)
            position += 1
    assert [index for index, _ in got] == closes


def test_one_token_at_a_time_with_a_preamble_and_a_fence():
    text = "Chunk:\n```\n[[1.5, -0.3, 2.0, 1],\n [0.0, 0.0, -1.0, 0]]\n```"
    reader = ChunkStreamReader()
    seen = []
    for char in text:
        seen.append(len(reader.feed(char)))
    assert sum(seen) == 2
    first = text.index("1]") + 2
    assert seen[first - 1] == 1, "the first step came with its ']'"
    assert reader.closed
    assert reader.finish() == decode_chunk(text)


def test_malformed_after_two_steps_returns_exactly_two_then_fails():
    reader = ChunkStreamReader()
    assert len(reader.feed("[[1.0, 0.0, 0.0, 1], [0.5, 0.5, 0.0, 1], ")) == 2
    with pytest.raises(ChunkParseError) as caught:
        reader.feed("[oops")
    assert caught.value.kind is ErrorKind.SYNTAX
    assert reader.error is caught.value
    with pytest.raises(ChunkParseError):
        reader.feed("1.0]]")  # stays failed
    assert len(reader.steps) == 2


def test_steps_completed_in_the_same_piece_as_the_malformation_are_returned():
    reader = ChunkStreamReader()
    assert len(reader.feed("[[1.0, 0.0, 0.0, 1], x")) == 1
    assert reader.error is not None
    with pytest.raises(ChunkParseError):
        reader.finish()


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("[[10.5, 0.0, 0.0, 1]", ErrorKind.OUT_OF_BOUNDS),
        ("[[1.0, 0.0, 0.0, 0.5]", ErrorKind.OUT_OF_BOUNDS),
        ("[[1.0, 0.0, 1]", ErrorKind.ARITY),
        ("[[nan, 0.0, 0.0, 1]", ErrorKind.SYNTAX),
    ],
)
def test_a_bad_step_is_never_returned(text, kind):
    reader = ChunkStreamReader()
    with pytest.raises(ChunkParseError) as caught:
        reader.feed(text)
    assert caught.value.kind in (kind, ErrorKind.NON_FINITE)
    assert reader.steps == []


def test_too_many_steps_fail_at_the_step_beyond_the_limit():
    fmt = ChunkFormat(max_steps=3)
    reader = ChunkStreamReader(TextChunkCodec(fmt))
    got = reader.feed("[" + "[0.1, 0.0, 0.0, 1], " * 3)
    assert len(got) == 3
    with pytest.raises(ChunkParseError) as caught:
        reader.feed("[0.1, 0.0, 0.0, 1]")
    assert caught.value.kind is ErrorKind.TOO_MANY


def test_a_stream_that_stops_mid_step_keeps_its_complete_steps_and_fails_at_finish():
    reader = ChunkStreamReader()
    assert len(reader.feed("[[1.0, 0.0, 0.0, 1], [2.0, 0.")) == 1
    with pytest.raises(ChunkParseError) as caught:
        reader.finish()
    assert caught.value.kind is ErrorKind.MISSING_BRACKET


def test_trailing_text_after_the_chunk_is_judged_at_finish():
    reader = ChunkStreamReader()
    assert len(reader.feed("[[1.0, 0.0, 0.0, 1]] and then")) == 1
    assert reader.feed(" more words") == []
    with pytest.raises(ChunkParseError) as caught:
        reader.finish()
    assert caught.value.kind is ErrorKind.TRAILING_TEXT


def test_at_chunks_stream_with_the_at_codec():
    table = AtTable(tuple("0123456789"), tuple("ABCDEFGHIJ"), tuple(range(10)))
    codec = AtChunkCodec(table)
    steps = _steps([(10, -5, 20, 1), (0, 0, -10, 0)])
    text = codec.encode(steps)
    reader = ChunkStreamReader(codec)
    got = [s for char in text for s in reader.feed(char)]
    assert got == codec.decode(text)
