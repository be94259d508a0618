"""VLM2VLA-AT with the real Gemma-3 tokenizer: single-token digits, round trip, JSON, ranking."""

from __future__ import annotations

import random

import pytest

from vlm2vla_policy.language import (
    DIGITS,
    AtChunkCodec,
    AtTable,
    AtTableError,
    ChunkFormat,
    TextChunkCodec,
    build_at_table,
    rank_tokens_by_model,
    verify_at_table,
)


def _random_steps(rng: random.Random) -> list[list[float]]:
    return [
        [rng.uniform(-0.1, 0.1) for _ in range(3)] + [float(rng.randint(0, 1))]
        for _ in range(rng.randint(1, 20))
    ]


def test_table_uses_ten_least_likely_single_tokens(gemma3_tokenizer, gemma3_at_table):
    table = gemma3_at_table
    assert table.symbols == tuple(DIGITS)
    assert len(set(table.token_ids)) == 10
    assert table.vocab_size == len(gemma3_tokenizer) == 262144
    for text, token_id in zip(table.token_strings, table.token_ids, strict=True):
        assert gemma3_tokenizer.encode(text, add_special_tokens=False) == [token_id]
    assert min(table.token_ids) > 250_000  # the rarest end of Gemma's BPE vocabulary
    verify_at_table(table, gemma3_tokenizer)


def test_at_round_trip_with_one_token_per_digit(gemma3_tokenizer, gemma3_at_table):
    at = AtChunkCodec(gemma3_at_table)
    text = TextChunkCodec()
    at_ids = set(gemma3_at_table.token_ids)
    rng = random.Random(5)
    for _ in range(200):
        steps = _random_steps(rng)
        plain = text.encode(steps)
        encoded = at.encode(steps)
        ids = gemma3_tokenizer.encode(encoded, add_special_tokens=False)
        assert sum(i in at_ids for i in ids) == sum(c.isdigit() for c in plain)
        decoded_text = gemma3_tokenizer.decode(ids)
        assert decoded_text == encoded
        assert at.decode(decoded_text) == text.decode(plain)


def test_table_json_round_trip(tmp_path, gemma3_at_table):
    path = tmp_path / "at_table.json"
    gemma3_at_table.save(path)
    assert AtTable.load(path) == gemma3_at_table
    path.write_text("{}")
    with pytest.raises(AtTableError):
        AtTable.load(path)


def test_table_with_sign_and_point(gemma3_tokenizer):
    table = build_at_table(gemma3_tokenizer, symbols=DIGITS + "-.")
    verify_at_table(table, gemma3_tokenizer)
    codec = AtChunkCodec(table, ChunkFormat(encoding="at"))
    steps = [[-0.0123, 0.05, -0.1, 1.0]]
    encoded = codec.encode(steps)
    assert "-" not in encoded and "." not in encoded
    assert codec.decode(encoded) == TextChunkCodec().decode(TextChunkCodec().encode(steps))


def test_table_from_model_unigram_log_probabilities(gemma3_tokenizer):
    torch = pytest.importorskip("torch")
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=len(gemma3_tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=1,
        num_key_value_heads=1,
        head_dim=16,
    )
    model = Gemma3ForCausalLM(config).eval()
    ranking, method = rank_tokens_by_model(model, gemma3_tokenizer)
    assert method == "unigram_logprob"
    table = build_at_table(gemma3_tokenizer, ranking, method)
    verify_at_table(table, gemma3_tokenizer)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[gemma3_tokenizer.bos_token_id]])).logits[0, -1]
    median = logits.median()
    assert all(logits[i] < median for i in table.token_ids)
    by_model = build_at_table(gemma3_tokenizer, model=model)  # the paper's ranking by default
    assert by_model.method == "unigram_logprob" and by_model.token_ids == table.token_ids


def test_vocabulary_order_is_a_fallback_that_warns(gemma3_tokenizer):
    with pytest.warns(UserWarning, match="vocabulary order"):
        table = build_at_table(gemma3_tokenizer)
    assert table.method == "vocab_order"
