"""Faster decoding that changes nothing: restricted sampling and jump-forward over forced tokens."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from vlm2vla_policy.decoding import GrammarConstraint, TokenTable
from vlm2vla_policy.language import ChunkFormat, chunk_grammar, chunk_prompt, decode_chunk
from vlm2vla_policy.runtime import (
    ModelConfig,
    PolicyConfig,
    RuntimeConfigError,
    SamplingConfig,
    load_model,
)
from vlm2vla_policy.runtime.backends.hf import HFBackend
from vlm2vla_policy.runtime.chat import ChatPrompt
from vlm2vla_policy.runtime.generation import GenerationEngine
from vlm2vla_policy.runtime.images import as_pil_image
from vlm2vla_policy.runtime.sampling import next_token
from vlm2vla_policy.testing.tiny_gemma3 import build_byte_tokenizer


def _masked_then_nucleus(logits: torch.Tensor, allowed: list[int], t: float, p: float):
    """The full computation: mask the vocabulary, softmax, keep the top-p nucleus, renormalise."""
    scores = torch.full_like(logits, -torch.inf, dtype=torch.float64)
    scores[allowed] = logits[allowed].double()
    probs = torch.softmax(scores / t, dim=-1)
    sorted_probs, order = torch.sort(probs, descending=True)
    keep = (torch.cumsum(sorted_probs, dim=-1) - sorted_probs) < p
    exact = torch.zeros_like(probs)
    exact[order[keep]] = sorted_probs[keep]
    return exact / exact.sum()


@pytest.mark.parametrize(("temperature", "top_p"), [(1.0, 1.0), (0.7, 0.9), (0.3, 0.6)])
def test_restricted_sampling_draws_the_masked_distribution(temperature, top_p):
    gen = torch.Generator().manual_seed(7)
    logits = torch.randn(200, generator=gen) * 2.0
    allowed = sorted(torch.randperm(200, generator=gen)[:15].tolist())
    exact = _masked_then_nucleus(logits, allowed, temperature, top_p)
    sampling = SamplingConfig(temperature=temperature, top_p=top_p)
    draws = 20_000
    counts = np.bincount(
        [next_token(logits, sampling, gen, allowed) for _ in range(draws)], minlength=200
    )
    support = exact.numpy() > 0
    assert counts[~support].sum() == 0, "a token outside the nucleus or the allowed set was drawn"
    expected = exact.numpy()[support] * draws
    chi2 = float((((counts[support] - expected) ** 2) / expected).sum())
    dof = int(support.sum()) - 1
    # Wilson-Hilferty: chi2/dof is about N(1, 2/dof); 5 sigma is a bound a wrong sampler exceeds.
    assert chi2 < dof + 5 * math.sqrt(2 * dof) + 5, f"chi2 {chi2:.1f} for {dof} dof"


def test_a_single_allowed_token_is_taken_without_a_draw():
    gen = torch.Generator().manual_seed(0)
    state = gen.get_state()
    sampling = SamplingConfig(temperature=1.0, top_p=0.9)
    assert next_token(torch.randn(10), sampling, gen, [4]) == 4
    assert torch.equal(gen.get_state(), state)


def test_forced_tokens_spell_the_text_the_grammar_forces(gemma3_token_table):
    grammar = chunk_grammar(ChunkFormat(max_steps=3))
    constraint = GrammarConstraint(grammar, gemma3_token_table)
    strings = gemma3_token_table.strings
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(30):
        text = grammar.sample(random.Random(int(rng.integers(1 << 30))))
        state = grammar.dfa.start
        for symbol in grammar.dfa.symbol_ids(text):
            forced = constraint.forced_tokens(state)
            spelled = "".join(strings[t] for t in forced)
            assert grammar.dfa.forced_text(state).startswith(spelled)
            if grammar.dfa.forced_text(state):
                assert spelled == grammar.dfa.forced_text(state)
                checked += 1
            state = grammar.dfa.walk([symbol], state)
    assert checked > 100
    after_number = grammar.dfa.run("[[1.2")
    assert "".join(strings[t] for t in constraint.forced_tokens(after_number)) == ", "


@pytest.mark.parametrize("which", ["byte", "gemma3"])
def test_forced_and_allowed_tokens_are_the_ones_the_tokenizer_writes(request, which):
    """A byte token and a piece that spell the same text: only the tokenizer's own is used (the
    demo model, fed the byte-fallback space in a forced run, wrote "1. each" for "1. reach")."""
    tokenizer = (
        build_byte_tokenizer() if which == "byte" else request.getfixturevalue("gemma3_tokenizer")
    )
    table = TokenTable.from_tokenizer(tokenizer)
    grammar = chunk_grammar(ChunkFormat(max_steps=3))
    constraint = GrammarConstraint(grammar, table)
    forced = constraint.forced_tokens(grammar.dfa.run("[[1.2"))
    assert list(forced) == tokenizer.encode(", ", add_special_tokens=False)
    spaces = [i for i, piece in enumerate(table.strings) if piece == " "]
    assert spaces == tokenizer.encode(" ", add_special_tokens=False)


def _engine_pair(model_dir, seed):
    loaded = load_model(ModelConfig(model=str(model_dir)))
    loaded.model.double()  # the batched and step-by-step passes then agree to ~1e-15
    return loaded, [
        GenerationEngine(loaded.model, loaded.processor, seed=seed, jump_forward=jump)
        for jump in (True, False)
    ]


def _chunk_prompt(image) -> ChatPrompt:
    messages = chunk_prompt("put the lid on the pot", "grasp the lid", "move left")
    return ChatPrompt(messages=tuple(messages), images=(as_pil_image(image),))


@pytest.mark.parametrize("model_fixture", ["tiny_gemma3_dir", "real_tokenizer_gemma3_dir"])
def test_jump_forward_writes_the_same_text_in_fewer_passes(request, model_fixture, camera_image):
    loaded, (jump, step) = _engine_pair(request.getfixturevalue(model_fixture), seed=3)
    table = TokenTable.from_tokenizer(loaded.processor.tokenizer)
    constraint = GrammarConstraint(chunk_grammar(ChunkFormat(max_steps=4)), table)
    for sampling in (
        SamplingConfig(temperature=0.0, max_new_tokens=200),
        SamplingConfig(temperature=0.8, top_p=0.95, max_new_tokens=200),
    ):
        prompt = jump.encode(_chunk_prompt(camera_image))
        fast = jump.generate(prompt, sampling, constraint=constraint)
        slow = step.generate(prompt, sampling, constraint=constraint)
        assert fast.text == slow.text and fast.token_ids == slow.token_ids
        assert fast.finished and slow.finished
        assert len(decode_chunk(fast.text)) >= 1
        assert slow.timing.forward_passes == len(slow.token_ids)
        assert fast.timing.forward_passes < 0.8 * slow.timing.forward_passes


def test_the_decoding_settings_reach_the_backend(tiny_gemma3_dir):
    """prefix_capacity and jump_forward (ROS parameters, vlm2vla-serve flags) set the engine."""
    loaded = load_model(ModelConfig(model=str(tiny_gemma3_dir)))
    backend = HFBackend.from_config(loaded, PolicyConfig(prefix_capacity=3, jump_forward=False))
    assert backend.engine.prefix_cache.capacity == 3
    assert backend.engine.jump_forward is False
    no_reuse = HFBackend.from_config(loaded, PolicyConfig(prefix_reuse=False))
    assert no_reuse.engine.prefix_cache is None
    with pytest.raises(RuntimeConfigError, match="prefix_capacity"):
        PolicyConfig(prefix_capacity=0)
