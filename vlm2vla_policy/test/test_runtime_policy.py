"""The policy's stages on a tiny random Gemma-3 + LoRA: parsed values, adapter switch, retries."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from vlm2vla_policy.language import (
    ActionStep,
    LanguageConfig,
    MotionPlan,
    PlanConfig,
    Stage,
    Verdict,
    grammar_for,
    verification_prompt,
)
from vlm2vla_policy.language.grammar import chunk_grammar
from vlm2vla_policy.runtime import (
    ModelConfig,
    OutputParseError,
    PolicyConfig,
    SamplingConfig,
    StageSampling,
    VerifierConfig,
    make_policy,
)
from vlm2vla_policy.runtime.backends.base import Completion
from vlm2vla_policy.runtime.chat import ChatPrompt
from vlm2vla_policy.runtime.factory import make_verifier
from vlm2vla_policy.runtime.images import as_pil_image
from vlm2vla_policy.runtime.stage_runner import StageRunner
from vlm2vla_policy.runtime.timing import Timing

INSTRUCTION = "put the lid on the pot"


@pytest.fixture(scope="module")
def policy(tiny_gemma3_dir, tiny_lora_dir):
    model = ModelConfig(model=str(tiny_gemma3_dir), adapter=str(tiny_lora_dir))
    return make_policy(PolicyConfig(model=model, seed=0))


@pytest.fixture(scope="module")
def base_policy(tiny_gemma3_dir):
    return make_policy(PolicyConfig(model=ModelConfig(model=str(tiny_gemma3_dir)), seed=0))


def _in_grammar(result) -> bool:
    stage = Stage(result.stage)
    return grammar_for(stage, LanguageConfig()).accepts(result.raw_text)


def test_every_stage_returns_parsed_values_from_a_random_model(policy, camera_image):
    policy.reset()
    subtasks = policy.subtasks(camera_image, INSTRUCTION)
    assert subtasks.value and all(isinstance(s, str) and s for s in subtasks.value)
    plan = policy.plan(as_pil_image(camera_image), subtasks.value[0], instruction=INSTRUCTION)
    assert isinstance(plan.value, MotionPlan)
    chunk = policy.chunk(camera_image, subtasks.value[0], plan.value, instruction=INSTRUCTION)
    assert chunk.value and all(isinstance(step, ActionStep) for step in chunk.value)
    assert all(abs(step.dx_m) <= 0.1 and step.gripper in (0.0, 1.0) for step in chunk.value)
    verdict = policy.verify(camera_image, 255 - camera_image, subtasks.value[0], None)
    assert isinstance(verdict.value, Verdict)
    for result in (subtasks, plan, chunk, verdict):
        assert result.constrained and _in_grammar(result), result
        assert result.attempts == 1
        assert result.timing.prefill_tokens > 0 and result.timing.decoded_tokens > 0
        assert result.timing.prefill_s > 0 and result.timing.decode_s > 0


def test_chunk_reuses_the_plan_prefix_and_its_image(policy, camera_image):
    vision_calls = []
    vision_tower = policy.backend.loaded.model.get_base_model().model.vision_tower
    hook = vision_tower.register_forward_hook(lambda *_: vision_calls.append(1))
    policy.reset()
    try:
        plan = policy.plan(camera_image, "grasp the lid", instruction=INSTRUCTION)
        chunk = policy.chunk(camera_image, "grasp the lid", plan.value, instruction=INSTRUCTION)
    finally:
        hook.remove()
    assert len(vision_calls) == 1  # the image is encoded once per cycle
    assert plan.timing.reused_tokens == 0
    assert chunk.timing.reused_tokens > 20  # header, image tokens, instruction and subtask
    policy.reset()
    again = policy.chunk(camera_image, "grasp the lid", plan.value, instruction=INSTRUCTION)
    assert again.timing.reused_tokens == 0


def test_adapter_really_changes_logits_and_disabling_it_gives_the_base(
    policy, base_policy, camera_image
):
    engine = policy.backend.engine
    messages = verification_prompt("grasp the lid", "lift the lid")
    images = (as_pil_image(camera_image), as_pil_image(255 - camera_image))
    prompt = engine.encode(ChatPrompt(messages=tuple(messages), images=images))
    inputs = {
        "input_ids": prompt.input_ids,
        "pixel_values": prompt.pixel_values,
        "token_type_ids": prompt.token_type_ids,
    }
    peft_model = policy.backend.loaded.model
    base_model = base_policy.backend.loaded.model
    with torch.no_grad():
        with_adapter = peft_model(**inputs).logits
        with peft_model.disable_adapter():
            without_adapter = peft_model(**inputs).logits
        base = base_model(**inputs).logits
    assert not torch.allclose(with_adapter, base, atol=1e-3)
    torch.testing.assert_close(without_adapter, base)


def test_verify_runs_the_base_model_without_the_adapter(policy, base_policy, camera_image):
    before, after = camera_image, 255 - camera_image
    onboard = policy.verify(before, after, "grasp the lid", "lift the lid")
    reference = base_policy.verify(before, after, "grasp the lid", "lift the lid")
    assert onboard.raw_text == reference.raw_text
    prompt = ChatPrompt(
        messages=tuple(verification_prompt("grasp the lid", "lift the lid")),
        images=(as_pil_image(before), as_pil_image(after)),
    )
    with_adapter = policy.runner.run(Stage.VERIFICATION, prompt, policy.config.sampling.verify)
    assert with_adapter.raw_text != onboard.raw_text


def test_adapter_verifier_asks_the_fine_tuned_model(policy, camera_image):
    config = dataclasses.replace(policy.config, verifier=VerifierConfig(kind="adapter"))
    verifier = make_verifier(config, policy.backend)
    before, after = camera_image, 255 - camera_image
    verdict = verifier.verify(before, after, "grasp the lid", "lift the lid")
    prompt = ChatPrompt(
        messages=tuple(verification_prompt("grasp the lid", "lift the lid")),
        images=(as_pil_image(before), as_pil_image(after)),
    )
    with_adapter = policy.runner.run(Stage.VERIFICATION, prompt, policy.config.sampling.verify)
    assert verifier.runner.backend is policy.backend
    assert verdict.raw_text == with_adapter.raw_text
    onboard = policy.verify(before, after, "grasp the lid", "lift the lid")
    assert verdict.raw_text != onboard.raw_text


def test_unparseable_output_is_retried_a_bounded_number_of_times(tiny_gemma3_dir, camera_image):
    sampling = StageSampling(chunk=SamplingConfig(temperature=1.0, max_new_tokens=8))
    config = PolicyConfig(
        model=ModelConfig(model=str(tiny_gemma3_dir)),
        sampling=sampling,
        constrained=False,
        max_retries=2,
        seed=0,
    )
    unconstrained = make_policy(config)
    with pytest.raises(OutputParseError) as error:
        unconstrained.chunk(camera_image, "grasp the lid", "move down", instruction=INSTRUCTION)
    assert error.value.attempts == 3 and error.value.stage == "chunk"
    stats = unconstrained.stats()["chunk"]
    assert (stats.calls, stats.retries, stats.failures) == (1, 2, 1)


class _ScriptedBackend:
    """Answers with fixed texts in turn (a server that ignores guided decoding)."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = list(texts)
        self.requests = []

    def complete(self, request):
        self.requests.append(request)
        timing = Timing(prefill_tokens=10, decoded_tokens=5, prefill_s=0.1, decode_s=0.2)
        return Completion(self.texts.pop(0), timing, constrained=False)

    def reset(self):
        pass


def test_a_retry_that_succeeds_is_counted_and_timed(camera_image):
    backend = _ScriptedBackend(["Sure! Here you go", "move up and slightly left"])
    vocabulary = LanguageConfig(plan=PlanConfig(style="vocabulary"))  # a free plan never fails
    runner = StageRunner(backend, vocabulary, max_retries=2)
    prompt = ChatPrompt(
        messages=({"role": "user", "content": [{"type": "image"}]},),
        images=(as_pil_image(camera_image),),
    )
    result = runner.run(Stage.PLAN, prompt, SamplingConfig())
    assert result.retries == 1 and result.raw_text == "move up and slightly left"
    timing = result.timing
    assert (timing.prefill_tokens, timing.reused_tokens, timing.decoded_tokens) == (20, 0, 10)
    # Sums of the two attempts' seconds (0.1 + 0.1, 0.2 + 0.2): computed floats.
    assert (timing.prefill_s, timing.decode_s, timing.overhead_s) == pytest.approx(
        (0.2, 0.4, 0.0), rel=1e-12, abs=1e-12
    )
    assert backend.requests[0].grammar is grammar_for(Stage.PLAN, vocabulary)
    assert runner.stats()["plan"].retries == 1


def test_grammars_are_built_with_the_runner_not_in_the_first_chunk(camera_image):
    chunk_grammar.cache_clear()  # as in a fresh process
    backend = _ScriptedBackend(["[[0.5, 0.0, 0.0, 1]]"])
    runner = StageRunner(backend, LanguageConfig())
    built = chunk_grammar.cache_info().misses
    prompt = ChatPrompt(
        messages=({"role": "user", "content": [{"type": "image"}]},),
        images=(as_pil_image(camera_image),),
    )
    runner.run(Stage.CHUNK, prompt, SamplingConfig())
    assert built == 1, "the runner did not build the chunk grammar when it was made"
    assert chunk_grammar.cache_info().misses == built, "the first chunk built a grammar"
    assert backend.requests[0].grammar is chunk_grammar(LanguageConfig().chunk, None)
