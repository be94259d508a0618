"""Continuous batching: answers decoded together equal the same answers decoded alone.

The tiny Gemma-3 (+ LoRA) on the CPU. Greedy answers are compared token for token only where the
lone answer's top two logits are at least ``MARGIN`` apart at every step (batched and lone logits
differ by float rounding, about 1e-7, so a closer race could go either way on another CPU); the
fixtures are chosen so that this holds, and the test says so when it does not.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vlm2vla_policy.language import Stage, grammar_for
from vlm2vla_policy.runtime import ModelConfig, load_model
from vlm2vla_policy.runtime.backends.base import GenerationRequest
from vlm2vla_policy.runtime.backends.hf import HFBackend
from vlm2vla_policy.runtime.batch_group import BatchGroup, key_values
from vlm2vla_policy.runtime.batch_scheduler import (
    BatchScheduler,
    GenerationTimeoutError,
    QueueFullError,
)
from vlm2vla_policy.runtime.chat import user_prompt
from vlm2vla_policy.runtime.config import SamplingConfig
from vlm2vla_policy.runtime.errors import PromptError
from vlm2vla_policy.runtime.generation import StopGeneration
from vlm2vla_policy.testing.tiny_gemma3 import TinyGemma3Spec, save_tiny_gemma3
from vlm2vla_policy.testing.tiny_lora import save_lora_adapter

MARGIN = 1e-3
CHUNK = grammar_for(Stage.CHUNK)


def _backend(root: Path, sliding_window: int) -> HFBackend:
    """A tiny Gemma-3 + LoRA with a wide embedding (confident logits: few near ties)."""
    spec = TinyGemma3Spec(sliding_window=sliding_window, embedding_std=0.5)
    model = save_tiny_gemma3(root / "model", spec)
    adapter = save_lora_adapter(Path(model), root / "adapter")
    return HFBackend(load_model(ModelConfig(model=str(model), adapter=str(adapter))), seed=0)


@pytest.fixture(scope="module")
def backend(tmp_path_factory, torch_one_thread) -> HFBackend:
    return _backend(tmp_path_factory.mktemp("batching"), 512)


@pytest.fixture(scope="module")
def short_window_backend(tmp_path_factory, torch_one_thread) -> HFBackend:
    """Local layers that see 48 positions: answers outgrow the shared cache."""
    return _backend(tmp_path_factory.mktemp("short_window"), 48)


@pytest.fixture
def scheduler(backend) -> Iterator[BatchScheduler]:
    scheduler = BatchScheduler(backend, max_batch=8, window_s=0.05)
    yield scheduler
    scheduler.close()


def _image(seed: int) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def _requests(count: int, max_new_tokens: int = 30) -> list[GenerationRequest]:
    """Greedy requests of different lengths: chunk grammar or free text, adapter on or off."""
    return [
        GenerationRequest(
            user_prompt(f"task {i} " + "x" * (3 * i), (_image(i),)),
            SamplingConfig(temperature=0, max_new_tokens=max_new_tokens + 5 * i),
            CHUNK if i % 2 == 0 else None,
            use_adapter=i % 3 != 2,
        )
        for i in range(count)
    ]


def _smallest_gap(backend: HFBackend, request: GenerationRequest, tokens: list[int]) -> float:
    """The smallest top-two logit gap along the lone greedy answer ``tokens`` (allowed only)."""
    engine = backend.engine
    prompt = engine.encode(request.prompt)
    ids = torch.cat([prompt.input_ids, torch.tensor([tokens], dtype=torch.long)], dim=1)
    constraint = backend.constraint(request.grammar) if request.grammar else None
    state = constraint.start_state if constraint else 0
    with torch.inference_mode(), backend.adapter(request.use_adapter):
        logits = backend.loaded.model(
            input_ids=ids, pixel_values=prompt.pixel_values, token_type_ids=_types(prompt, ids)
        ).logits[0, prompt.input_ids.shape[1] - 1 :]
    gaps = []
    for step, token in enumerate(tokens):
        allowed = constraint.allowed(state) if constraint else range(engine.vocab_size)
        allowed = [t for t in allowed if t < engine.vocab_size]
        if len(allowed) > 1 and not (constraint and constraint.forced_tokens(state)):
            top = torch.topk(logits[step][allowed].float(), 2).values
            gaps.append(float(top[0] - top[1]))
        if constraint:
            state = constraint.next_state(state, token)
    return min(gaps, default=float("inf"))


def _types(prompt, ids: torch.Tensor) -> torch.Tensor | None:
    if prompt.token_type_ids is None:
        return None
    extra = torch.zeros((1, ids.shape[1] - prompt.token_type_ids.shape[1]), dtype=torch.long)
    return torch.cat([prompt.token_type_ids, extra], dim=1)


def _lone_answers(backend: HFBackend, requests: list[GenerationRequest]) -> list:
    """Each request answered alone; checks that no step was a near tie."""
    answers = []
    for request in requests:
        backend.reset()
        prompt = backend.engine.encode(request.prompt)
        constraint = backend.constraint(request.grammar) if request.grammar else None
        with backend.adapter(request.use_adapter) as tag:
            generation = backend.engine.generate(
                prompt, request.sampling, cache_tag=tag, constraint=constraint
            )
        gap = _smallest_gap(backend, request, list(generation.token_ids))
        assert gap >= MARGIN, f"near tie ({gap:.2g}) in the fixture: choose other prompts"
        answers.append(generation)
    backend.reset()
    return answers


def test_answers_decoded_together_equal_answers_decoded_alone(backend, scheduler):
    requests = _requests(8)
    alone = _lone_answers(backend, requests)
    deadline = time.monotonic() + 60
    submissions = [scheduler.submit(r, None, deadline) for r in requests]
    together = [submission.future.result(60) for submission in submissions]
    for lone, batched in zip(alone, together, strict=True):
        assert batched.text == lone.text
        assert batched.finished == lone.finished
        assert batched.timing.forward_passes == lone.timing.forward_passes
        assert batched.timing.decoded_tokens == lone.timing.decoded_tokens
    stats = scheduler.stats()
    assert stats.completed == 8
    # The answers shared passes: the rows of one adapter state decode together (the two states
    # take turns), so the steps are about the longest answer of each state, not the sum of all.
    longest = {}
    for request, lone in zip(requests, alone, strict=True):
        passes = lone.timing.forward_passes
        longest[request.use_adapter] = max(longest.get(request.use_adapter, 0), passes)
    ideal = sum(longest.values())
    assert stats.steps <= 1.25 * ideal < stats.row_steps, (stats, longest)


def test_rows_that_outgrow_the_window_leave_for_a_cache_of_their_own(short_window_backend):
    requests = _requests(4, max_new_tokens=40)
    alone = _lone_answers(short_window_backend, requests)
    scheduler = BatchScheduler(short_window_backend, max_batch=4, window_s=0.05)
    try:
        deadline = time.monotonic() + 60
        submissions = [scheduler.submit(r, None, deadline) for r in requests]
        together = [submission.future.result(60) for submission in submissions]
    finally:
        scheduler.close()
    assert [b.text for b in together] == [lone.text for lone in alone]
    assert all(len(r.prompt.messages) for r in requests)
    assert max(len(lone.token_ids) for lone in alone) + 40 > 48  # past the window indeed


def test_group_logits_equal_lone_logits_through_joins_leaves_and_repacks(backend):
    """Ragged feeds, a row leaving, a row joining late, a repack and a move to a solo group."""
    model, engine = backend.loaded.model, backend.engine
    prompts = [
        torch.randint(5, 200, (1, n), generator=torch.Generator().manual_seed(n))
        for n in (7, 12, 4)
    ]
    feeds = [
        [[3], [4, 5], [6], [7]],
        [[7, 8, 9], [10], [11, 12], [13]],
        [[13], [14], [15, 16, 17], [18]],
    ]

    def lone(index: int) -> list[torch.Tensor]:
        cache = engine._new_cache()
        model(input_ids=prompts[index], cache=cache, use_cache=True)
        return [
            model(input_ids=torch.tensor([f]), cache=cache, use_cache=True).logits[0, -1]
            for f in feeds[index]
        ]

    def prefilled(index: int):
        cache = engine._new_cache()
        model(input_ids=prompts[index], cache=cache, use_cache=True)
        return key_values(cache)

    with torch.inference_mode():
        expected = [lone(i) for i in range(3)]
        group = BatchGroup(model, window=None)
        group.join([prefilled(0), prefilled(1)])
        got: list[list[torch.Tensor]] = [[], [], []]
        for step, logits in enumerate(group.forward([feeds[0][0], feeds[1][0]])):
            got[step].append(logits)
        group.join([prefilled(2)])  # joins one step late: feeds start over for it
        out = group.forward([feeds[0][1], feeds[1][1], feeds[2][0]])
        for row, logits in zip((0, 1, 2), out, strict=True):
            got[row].append(logits)
        group.keep([1, 2])  # row 0 leaves
        group.repack()
        out = group.forward([feeds[1][2], feeds[2][1]])
        got[1].append(out[0])
        got[2].append(out[1])
        solo = BatchGroup(model, window=None, solo=True)
        solo.join([group.extract(1)])
        group.keep([0])
        got[1].append(group.forward([feeds[1][3]])[0])
        got[2].append(solo.forward([feeds[2][2]])[0])
    for row in range(3):
        for lone_logits, group_logits in zip(expected[row], got[row], strict=False):
            torch.testing.assert_close(group_logits, lone_logits, atol=1e-5, rtol=1e-4)


def test_a_deadline_ends_one_answer_and_the_others_go_on(backend, scheduler):
    requests = _requests(3)
    endless = GenerationRequest(
        user_prompt("never stop"), SamplingConfig(temperature=1.0, max_new_tokens=8000)
    )
    late = scheduler.submit(endless, None, time.monotonic() + 0.3)
    others = [scheduler.submit(r, None, time.monotonic() + 60) for r in requests]
    started = time.monotonic()
    with pytest.raises(GenerationTimeoutError):
        late.future.result(10)
    assert time.monotonic() - started < 1.5
    assert all(o.future.result(60).text for o in others)
    assert scheduler.stats().timed_out == 1


def test_a_cancelled_answer_leaves_at_the_next_step(backend, scheduler):
    pieces: list[str] = []
    gone = threading.Event()

    def sink(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == 5:
            gone.set()

    endless = GenerationRequest(
        user_prompt("go on"), SamplingConfig(temperature=1.0, max_new_tokens=8000)
    )
    submission = scheduler.submit(endless, sink, time.monotonic() + 60)
    assert gone.wait(10)
    submission.cancel()
    with pytest.raises(concurrent.futures.CancelledError):
        submission.future.result(5)
    count = len(pieces)
    time.sleep(0.2)
    assert len(pieces) <= count + 1 and scheduler.stats().running == 0


def test_a_stop_sink_and_a_bad_prompt_end_only_their_own_request(backend, scheduler):
    def stop_at_third(pieces: list[str]):
        def sink(piece: str) -> None:
            pieces.append(piece)
            if len(pieces) == 3:
                raise StopGeneration

        return sink

    pieces: list[str] = []
    free = SamplingConfig(temperature=0, max_new_tokens=40)
    stopped = scheduler.submit(
        GenerationRequest(user_prompt("a"), free), stop_at_third(pieces), time.monotonic() + 60
    )
    too_long = GenerationRequest(user_prompt("x " * 40_000), free)
    refused = scheduler.submit(too_long, None, time.monotonic() + 60)
    fine = scheduler.submit(_requests(1)[0], None, time.monotonic() + 60)
    result = stopped.future.result(30)
    assert result.finished and result.text == "".join(pieces) and len(pieces) == 3
    with pytest.raises(PromptError):
        refused.future.result(30)
    assert fine.future.result(30).text


def test_a_full_queue_refuses_with_a_reason(backend):
    scheduler = BatchScheduler(backend, max_batch=1, max_waiting=2, window_s=0.0)
    endless = GenerationRequest(
        user_prompt("go on"), SamplingConfig(temperature=1.0, max_new_tokens=8000)
    )
    try:
        first = scheduler.submit(endless, None, time.monotonic() + 60)
        while scheduler.stats().running == 0:
            time.sleep(0.01)
        queued = [scheduler.submit(endless, None, time.monotonic() + 60) for _ in range(2)]
        with pytest.raises(QueueFullError, match="max_pending"):
            scheduler.submit(endless, None, time.monotonic() + 60)
        for submission in (first, *queued):
            submission.cancel()
    finally:
        scheduler.close()
