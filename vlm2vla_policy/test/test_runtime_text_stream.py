"""Streamed decoding: the pieces join to the answer's text, and each token costs bounded work."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlm2vla_policy.language import Stage, encode_chunk, grammar_for
from vlm2vla_policy.runtime import ModelConfig, SamplingConfig, load_model
from vlm2vla_policy.runtime.backends.hf import HFBackend
from vlm2vla_policy.runtime.chat import user_prompt
from vlm2vla_policy.runtime.generation import _MAX_HELD_TOKENS, GenerationEngine, _TextStream
from vlm2vla_policy.testing.tiny_gemma3 import build_byte_tokenizer

REPLACEMENT = "\ufffd"


@pytest.fixture(scope="module")
def byte_tokenizer():
    return build_byte_tokenizer()


def _byte_ids(tokenizer, data: bytes) -> list[int]:
    """One byte-fallback token per byte (what a model may write, valid UTF-8 or not)."""
    return [tokenizer.convert_tokens_to_ids(f"<0x{byte:02X}>") for byte in data]


def _stream(tokenizer, ids: list[int]) -> tuple[list[str], list[str], str]:
    """Push ``ids`` one at a time: (pieces, text sent after each push, flushed text).

    Also checks that no more than ``_MAX_HELD_TOKENS - 1`` tokens are ever held back.
    """
    pieces: list[str] = []
    sent: list[str] = []
    stream = _TextStream(tokenizer, pieces.append)
    for token in ids:
        stream.push(token)
        sent.append("".join(pieces))
        assert len(stream.ids) - stream.read_offset < _MAX_HELD_TOKENS
    return pieces, sent, stream.flush()


def _one_replacement_per_run(text: str) -> str:
    return re.sub(f"{REPLACEMENT}+", REPLACEMENT, text)


def test_valid_text_streams_whole_characters_and_joins_to_the_decoded_text(byte_tokenizer):
    text = "héllo wörld €5 😀 ꙮ — naïve"
    ids = byte_tokenizer.encode(text, add_special_tokens=False)
    pad, image = byte_tokenizer.convert_tokens_to_ids(["<pad>", "<start_of_image>"])
    ids = [*ids[:3], pad, *ids[3:9], image, *ids[9:]]  # skipped special tokens inside the answer
    pieces, sent, final = _stream(byte_tokenizer, ids)
    assert final == "".join(pieces) == text
    assert final == byte_tokenizer.decode(ids, skip_special_tokens=True)
    assert all(piece and REPLACEMENT not in piece for piece in pieces)
    # A character is sent with its last byte: at each character boundary all text is out.
    for count, so_far in enumerate(sent, start=1):
        decoded = byte_tokenizer.decode(ids[:count], skip_special_tokens=True)
        assert so_far == decoded or decoded.endswith(REPLACEMENT)
        assert final.startswith(so_far)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"A\xff", "A\ufffd"),  # decode() makes this whole byte run U+FFFD
        (b"\xe2\x82", "\ufffd\ufffd"),  # incomplete at the end of the answer
        (b"\x80\x80abc", "\ufffd\ufffdabc"),  # lone continuation bytes
        (b"\xc0\xaf ok", "\ufffd\ufffd ok"),  # overlong encoding
        (b"\xf0\x9f\x98 \xe2\x82\xac", "\ufffd\ufffd\ufffd €"),  # a cut emoji, a whole euro sign
        (b"\xff" * 9 + "é€😀".encode() + b"\xfe\xe2xyz", "\ufffd" * 9 + "é€😀\ufffd\ufffdxyz"),
        ("ꙮ".encode() * 2 + b"\xed\xa0\x80", "ꙮꙮ\ufffd\ufffd\ufffd"),  # an encoded surrogate
    ],
)
def test_invalid_or_incomplete_utf8_joins_to_the_text_and_keeps_valid_characters(
    byte_tokenizer, data, expected
):
    ids = _byte_ids(byte_tokenizer, data)
    pieces, _, final = _stream(byte_tokenizer, ids)
    assert "".join(pieces) == final == expected


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(min_size=1, max_size=1),
            st.sampled_from(["a", "é", "€", "😀", "ꙮ"]).map(str.encode),
            st.binary(min_size=1, max_size=4).map(lambda raw: raw.decode(errors="ignore").encode()),
        ),
        max_size=24,
    )
)
def test_any_bytes_stream_like_python_replacement_decoding(byte_tokenizer, parts):
    data = b"".join(parts)
    pieces, _, final = _stream(byte_tokenizer, _byte_ids(byte_tokenizer, data))
    assert "".join(pieces) == final
    # One U+FFFD per invalid byte (the tokenizer's rule) where Python may write one per run.
    expected = data.decode(errors="replace")
    assert _one_replacement_per_run(final) == _one_replacement_per_run(expected)


def test_generation_text_is_the_streamed_text_with_or_without_a_sink(tiny_gemma3_dir):
    loaded = load_model(ModelConfig(model=str(tiny_gemma3_dir)))
    free = SamplingConfig(temperature=1.0, top_p=1.0, max_new_tokens=48)
    invalid_seen = False
    for seed in range(3):  # a random model writes random bytes: mostly invalid UTF-8
        engine = GenerationEngine(loaded.model, loaded.processor, seed=seed)
        prompt = engine.encode(user_prompt("hi"))
        pieces: list[str] = []
        streamed = engine.generate(prompt, free, on_text=pieces.append)
        plain = GenerationEngine(loaded.model, loaded.processor, seed=seed).generate(prompt, free)
        assert plain.token_ids == streamed.token_ids
        assert "".join(pieces) == streamed.text == plain.text
        assert not set(streamed.token_ids) & engine.stop_ids
        invalid_seen |= REPLACEMENT in streamed.text
    assert invalid_seen

    # A constrained answer is valid UTF-8 and ends on a stop token: text == decode(tokens).
    backend = HFBackend(loaded, seed=0)
    engine = backend.engine
    grammar = grammar_for(Stage.PLAN)
    prompt = engine.encode(user_prompt("plan"))
    allowed = backend.constraint(grammar).prefix_allowed_tokens_fn(int(prompt.input_ids.shape[1]))
    pieces = []
    sampling = SamplingConfig(temperature=1.0, top_p=1.0, max_new_tokens=128)
    result = engine.generate(prompt, sampling, allowed, on_text=pieces.append)
    assert result.finished and grammar.accepts(result.text)
    expected = engine.tokenizer.decode(list(result.token_ids), skip_special_tokens=True)
    assert "".join(pieces) == result.text == expected


REAL_TEXTS = (
    "héllo wörld — naïve café, Ærøskøbing, Łódź, São Paulo",
    "😀👍🏽 👨\u200d👩\u200d👧 🇫🇷 and 𓀀𓀁 ꙮ (byte-fallback characters)",
    '[{"dx": 0.012, "dy": -0.3, "dz": 0.0, "g": 1}, {"dx": -0.004, "g": 0}]',
    encode_chunk([[0.012, -0.034, 0.0, 1.0], [0.0, 0.021, -0.005, 0.0]] * 3),
    "  leading spaces, tabs\tand\nnew lines\n\n",
)


@pytest.mark.parametrize("text", REAL_TEXTS)
def test_real_gemma3_tokenizer_streams_each_text_exactly(gemma3_tokenizer, text):
    ids = gemma3_tokenizer.encode(text, add_special_tokens=False)
    pieces, sent, final = _stream(gemma3_tokenizer, ids)
    assert "".join(pieces) == final == gemma3_tokenizer.decode(ids, skip_special_tokens=True)
    assert final == text
    assert all(REPLACEMENT not in piece for piece in pieces)
    for count, so_far in enumerate(sent, start=1):
        decoded = gemma3_tokenizer.decode(ids[:count], skip_special_tokens=True)
        assert so_far == decoded or decoded.endswith(REPLACEMENT)


def test_real_gemma3_tokenizer_keeps_the_text_around_invalid_byte_tokens(gemma3_tokenizer):
    def encode(text: str) -> list[int]:
        return gemma3_tokenizer.encode(text, add_special_tokens=False)

    cut = gemma3_tokenizer.convert_tokens_to_ids(["<0xF0>", "<0x9F>"])  # half an emoji
    ids = [*encode('{"dx": 0.1'), *cut, *encode(', "g": 1} ꙮ'), *cut]
    pieces, _, final = _stream(gemma3_tokenizer, ids)
    assert "".join(pieces) == final == '{"dx": 0.1\ufffd\ufffd, "g": 1} ꙮ\ufffd\ufffd'


class _CountingTokenizer:
    """A tokenizer whose decode records how many tokens each call was given."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.lengths: list[int] = []

    def decode(self, ids, **kwargs) -> str:
        self.lengths.append(len(ids))
        return self.tokenizer.decode(ids, **kwargs)


def test_work_per_token_is_bounded_by_the_window_not_the_answer(byte_tokenizer):
    pad = byte_tokenizer.convert_tokens_to_ids("<pad>")
    unit = [
        *byte_tokenizer.encode("step ∆ 😀 ", add_special_tokens=False),
        *_byte_ids(byte_tokenizer, b"\xff\xfe\xe2\x82"),
        pad,
        pad,
    ]
    costs = {}
    for repeats in (10, 100):
        ids = unit * repeats
        counting = _CountingTokenizer(byte_tokenizer)
        stream = _TextStream(counting)
        for token in ids:
            stream.push(token)
        stream.flush()
        assert max(counting.lengths) <= 2 * _MAX_HELD_TOKENS
        # Two decodes a token; a few more where invalid bytes are settled.
        assert len(counting.lengths) <= (_MAX_HELD_TOKENS + 2) * len(ids)
        costs[repeats] = sum(counting.lengths) / len(ids)
    assert costs[100] <= costs[10] * 1.05  # tokens decoded per token do not grow with length
