"""Constrained decoding on the real Gemma-3 vocabulary: every finished output is readable."""

from __future__ import annotations

import random

import numpy as np
import pytest

from vlm2vla_policy.decoding import DEAD, FINISHED, GrammarConstraint
from vlm2vla_policy.language import (
    ChunkFormat,
    LanguageConfig,
    Stage,
    chunk_grammar,
    grammar_for,
    parse_output,
)

SHORT = LanguageConfig(chunk=ChunkFormat(max_steps=3))


def _walk(constraint, rng, eos_probability=0.3, limit=2000):
    """Random tokens from the allowed sets until EOS; returns the answer ids (EOS excluded)."""
    eos = set(constraint.table.eos_token_ids)
    state = constraint.start_state
    ids = []
    for _ in range(limit):
        allowed = constraint.allowed(state)
        allowed_eos = eos.intersection(allowed.tolist())
        assert bool(allowed_eos) == constraint.grammar.dfa.is_accepting(state)
        if allowed_eos and (rng.random() < eos_probability or len(allowed) == len(allowed_eos)):
            return ids
        token = int(rng.choice([t for t in allowed.tolist() if t not in eos]))
        ids.append(token)
        state = constraint.next_state(state, token)
        assert state not in (DEAD, FINISHED)
    raise AssertionError("no EOS within the limit")


@pytest.mark.parametrize("stage", list(Stage))
def test_random_walks_over_allowed_tokens_always_decode(
    stage, gemma3_tokenizer, gemma3_token_table
):
    grammar = grammar_for(stage)
    constraint = GrammarConstraint(grammar, gemma3_token_table)
    rng = random.Random(stage.value)
    for _ in range(40):
        ids = _walk(constraint, rng)
        text = gemma3_tokenizer.decode(ids)
        assert text == "".join(gemma3_token_table.strings[i] for i in ids)
        assert grammar.accepts(text)
        parse_output(stage, text)
        assert constraint.is_complete(ids)


@pytest.mark.parametrize("stage", list(Stage))
def test_the_tokenizers_own_encoding_of_answers_is_allowed(
    stage, gemma3_tokenizer, gemma3_token_table
):
    grammar = grammar_for(stage)
    constraint = GrammarConstraint(grammar, gemma3_token_table)
    rng = random.Random(9)
    for _ in range(50):
        ids = gemma3_tokenizer.encode(grammar.sample(rng, 0.1), add_special_tokens=False)
        for cut, token in enumerate(ids):
            assert token in constraint.allowed_token_ids(ids[:cut])
        assert set(gemma3_token_table.eos_token_ids) <= set(constraint.allowed_token_ids(ids))


def test_at_chunk_walks_decode(gemma3_tokenizer, gemma3_token_table, gemma3_at_table):
    config = LanguageConfig(chunk=ChunkFormat(encoding="at"))
    constraint = GrammarConstraint(
        grammar_for(Stage.CHUNK, config, gemma3_at_table), gemma3_token_table
    )
    rng = random.Random(2)
    for _ in range(40):
        text = gemma3_tokenizer.decode(_walk(constraint, rng))
        parse_output(Stage.CHUNK, text, config, gemma3_at_table)


def test_eos_only_when_complete_and_states_are_cached(gemma3_tokenizer, gemma3_token_table):
    constraint = GrammarConstraint(chunk_grammar(), gemma3_token_table)
    eos = gemma3_token_table.eos_token_ids
    complete = gemma3_tokenizer.encode("[[1.5, -2.0, 0.3, 1]]", add_special_tokens=False)
    for cut in range(len(complete)):
        allowed = constraint.allowed_token_ids(complete[:cut])
        assert not set(eos) & set(allowed.tolist())
        assert complete[cut] in allowed
    assert set(eos) <= set(constraint.allowed_token_ids(complete).tolist())
    assert constraint.is_complete(complete) and not constraint.is_complete(complete[:-1])
    before = constraint.cached_states
    constraint.allowed_token_ids(complete)
    assert constraint.cached_states == before
    assert constraint.state_after([*complete, eos[0]]) == FINISHED
    assert constraint.precompute() == constraint.grammar.dfa.num_states


def _tiny_gemma3(vocab_size: int, seed: int):
    torch = pytest.importorskip("torch")
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(seed)
    config = Gemma3TextConfig(
        vocab_size=vocab_size,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=1,
        num_key_value_heads=1,
        head_dim=16,
        max_position_embeddings=512,
    )
    return Gemma3ForCausalLM(config).eval()


@pytest.mark.parametrize("stage", [Stage.CHUNK, Stage.PLAN, Stage.DIRECTION])
def test_generate_with_a_tiny_gemma3_always_yields_readable_text(
    stage, gemma3_tokenizer, gemma3_token_table
):
    torch = pytest.importorskip("torch")
    model = _tiny_gemma3(len(gemma3_tokenizer), seed=len(stage.value))
    constraint = GrammarConstraint(grammar_for(stage, SHORT), gemma3_token_table)
    prompts = ["Instruction: put the lid on the pot. Answer:", "Instruction: open the drawer now:"]
    batch = gemma3_tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left")
    eos = list(gemma3_token_table.eos_token_ids)
    for seed, sample in [(0, True), (1, True), (2, False)]:
        torch.manual_seed(seed)
        prompt_length = batch["input_ids"].shape[1]
        output = model.generate(
            **batch,
            max_new_tokens=90,
            do_sample=sample,
            top_k=0,
            eos_token_id=eos,
            pad_token_id=gemma3_tokenizer.pad_token_id,
            prefix_allowed_tokens_fn=constraint.prefix_allowed_tokens_fn(
                prompt_length if seed else None
            ),
        )
        for row in output[:, prompt_length:].tolist():
            assert any(t in eos for t in row), "the grammar bounds the answer: EOS must come"
            answer = row[: min(row.index(t) for t in eos if t in row)]
            text = gemma3_tokenizer.decode(answer)
            parse_output(stage, text, SHORT)
            assert constraint.grammar.accepts(text)


def test_allowed_sets_match_a_brute_force_check(gemma3_token_table):
    grammar = grammar_for(Stage.PLAN)
    constraint = GrammarConstraint(grammar, gemma3_token_table)
    dfa = grammar.dfa
    state = dfa.run("move slightly ")
    allowed = set(constraint.allowed(state).tolist())
    strings = gemma3_token_table.strings
    expected = {
        i for i, s in enumerate(strings) if s is not None and dfa.run(s, state) not in (DEAD,)
    }
    assert allowed == expected
    assert np.all(np.isin([dfa.run(strings[i], state) for i in allowed], np.arange(dfa.num_states)))
