"""The generation loop: sampling, constraints, and prefix-cache reuse that changes nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vlm2vla_policy.language import Stage, grammar_for, plan_prompt
from vlm2vla_policy.runtime import ModelConfig, SamplingConfig, load_model
from vlm2vla_policy.runtime.backends.base import GenerationRequest
from vlm2vla_policy.runtime.backends.hf import HFBackend
from vlm2vla_policy.runtime.chat import ChatPrompt, user_prompt
from vlm2vla_policy.runtime.generation import GenerationEngine
from vlm2vla_policy.runtime.images import as_pil_image
from vlm2vla_policy.runtime.prefix_cache import PrefixCache
from vlm2vla_policy.runtime.sampling import next_token

GREEDY = SamplingConfig(temperature=0.0, max_new_tokens=12)


def test_sampling_respects_greedy_allowed_and_vocab_limits():
    logits = torch.tensor([0.0, 5.0, 1.0, 9.0])
    assert next_token(logits, GREEDY) == 3
    assert next_token(logits, GREEDY, allowed=[0, 2]) == 2
    assert next_token(logits, GREEDY, vocab_size=3) == 1
    assert next_token(logits, GREEDY, allowed=[]) is None


def test_top_p_keeps_only_the_nucleus():
    logits = torch.tensor([10.0, 9.0, 0.0, 0.0])  # p ~ (0.73, 0.27, 3e-5, 3e-5)
    generator = torch.Generator().manual_seed(0)
    nucleus = SamplingConfig(temperature=1.0, top_p=0.5)
    assert {next_token(logits, nucleus, generator) for _ in range(50)} == {0}
    wide = SamplingConfig(temperature=1.0, top_p=0.95)
    assert {next_token(logits, wide, generator) for _ in range(200)} == {0, 1}


@pytest.fixture(scope="module")
def loaded(tiny_gemma3_dir):
    return load_model(ModelConfig(model=str(tiny_gemma3_dir)))


def _prompt(image, subtask: str) -> ChatPrompt:
    messages = plan_prompt("put the lid on the pot", subtask)
    return ChatPrompt(messages=tuple(messages), images=(as_pil_image(image),))


def test_prefix_reuse_gives_the_same_tokens_and_skips_the_image(loaded, camera_image):
    fresh = GenerationEngine(loaded.model, loaded.processor, prefix_cache=None)
    cached = GenerationEngine(loaded.model, loaded.processor, prefix_cache=PrefixCache())
    first = _prompt(camera_image, "grasp the lid")
    second = _prompt(camera_image, "lift the lid")
    cached.generate(cached.encode(first), GREEDY)
    reused = cached.generate(cached.encode(second), GREEDY)
    reference = fresh.generate(fresh.encode(second), GREEDY)
    assert reused.token_ids == reference.token_ids
    encoded = cached.encode(second)
    assert reused.timing.reused_tokens > encoded.last_image_token
    assert reused.timing.prefill_tokens + reused.timing.reused_tokens == encoded.input_ids.shape[1]


def test_prefix_is_not_reused_for_another_image_or_adapter_state(loaded, camera_image):
    cache = PrefixCache(capacity=3)
    engine = GenerationEngine(loaded.model, loaded.processor, prefix_cache=cache)
    engine.generate(engine.encode(_prompt(camera_image, "grasp the lid")), GREEDY)
    other_image = engine.encode(_prompt(255 - camera_image, "grasp the lid"))
    assert engine.generate(other_image, GREEDY).timing.reused_tokens == 0
    same = engine.encode(_prompt(camera_image, "grasp the lid"))
    assert engine.generate(same, GREEDY, cache_tag="base").timing.reused_tokens == 0
    assert engine.generate(same, GREEDY).timing.reused_tokens == same.input_ids.shape[1] - 1
    assert len(cache) == 3
    cache.clear()
    assert engine.generate(same, GREEDY).timing.reused_tokens == 0


def test_constrained_output_is_in_the_grammar_even_for_a_random_model(loaded, camera_image):
    backend = HFBackend(loaded, seed=0)
    grammar = grammar_for(Stage.PLAN)
    sampling = SamplingConfig(temperature=1.0, top_p=1.0, max_new_tokens=128)
    request = GenerationRequest(_prompt(camera_image, "grasp the lid"), sampling, grammar)
    for _ in range(3):
        completion = backend.complete(request)
        assert completion.finished and grammar.accepts(completion.text), completion.text
    free = backend.complete(GenerationRequest(user_prompt("hi"), sampling))
    assert not free.constrained and free.timing.decoded_tokens > 0


def test_reused_prefix_gives_the_logits_of_a_full_prefill_without_copying(loaded, camera_image):
    cache = PrefixCache(capacity=2)
    engine = GenerationEngine(loaded.model, loaded.processor, prefix_cache=cache)
    first = engine.encode(_prompt(camera_image, "grasp the lid"))
    engine.generate(first, GREEDY)
    stored = cache._entries[-1].cache
    second = engine.encode(_prompt(camera_image, "lift the lid"))
    hit = cache.lookup("default", second.input_ids[0].tolist(), second.image_keys, -1)
    assert hit is not None and hit.cache is stored  # the same object, cropped: no copy
    assert hit.cache.get_seq_length() == hit.length
    with torch.inference_mode():
        reused = loaded.model(
            input_ids=second.input_ids[:, hit.length :], cache=hit.cache, use_cache=True
        ).logits[0, -1]
        full = loaded.model(
            input_ids=second.input_ids,
            pixel_values=second.pixel_values,
            token_type_ids=second.token_type_ids,
            use_cache=False,
        ).logits[0, -1]
    torch.testing.assert_close(reused, full, atol=1e-4, rtol=1e-4)


def test_each_robot_keeps_its_prefix_up_to_the_capacity(loaded, camera_image):
    robots = [np.roll(camera_image, 40 * i, axis=1) for i in range(4)]
    engine = GenerationEngine(loaded.model, loaded.processor, prefix_cache=PrefixCache(4))
    for image in robots:
        engine.generate(engine.encode(_prompt(image, "grasp the lid")), GREEDY)
    for image in robots:  # each robot's next stage, same image, another subtask
        again = engine.generate(engine.encode(_prompt(image, "lift the lid")), GREEDY)
        assert again.timing.reused_tokens > 0
