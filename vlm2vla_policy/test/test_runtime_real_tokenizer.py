"""The real Gemma-3 tokenizer tier: real special-token ids, chat tokens, every stage parses."""

from __future__ import annotations

import pytest

from vlm2vla_policy.language import Stage, grammar_for
from vlm2vla_policy.runtime import ModelConfig, PolicyConfig, make_policy
from vlm2vla_policy.runtime.chat import user_prompt

pytestmark = pytest.mark.slow  # about 25 s: the tokenizer is read from a GGUF file


def test_real_tokenizer_policy(real_tokenizer_gemma3_dir, camera_image):
    policy = make_policy(
        PolicyConfig(model=ModelConfig(model=str(real_tokenizer_gemma3_dir)), seed=0)
    )
    tokenizer = policy.backend.loaded.processor.tokenizer
    special = ["<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<end_of_image>"]
    assert tokenizer.convert_tokens_to_ids(special) == [105, 106, 255999, 256000]
    assert tokenizer.image_token_id == 262144 and len(tokenizer) == 262145
    encoded = policy.backend.engine.encode(user_prompt("hi"))
    assert encoded.input_ids[0, :2].tolist() == [2, 105]  # <bos><start_of_turn>, one BOS

    plan = policy.plan(camera_image, "grasp the lid", instruction="put the lid on the pot")
    chunk = policy.chunk(camera_image, "grasp the lid", plan.value, instruction="put the lid")
    verdict = policy.verify(camera_image, 255 - camera_image, "grasp the lid")
    for result in (plan, chunk, verdict):
        assert grammar_for(Stage(result.stage)).accepts(result.raw_text), result.raw_text
