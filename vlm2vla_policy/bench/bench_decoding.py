"""What each decoding speed-up saves, measured on identical work: same prompts, seeds and tokens.

    python vlm2vla_policy/bench/bench_decoding.py --out bench_decoding.json [--tiers tiny,270m]

One cycle is the plan and the chunk of one camera frame (constrained, seeded). The new decoder
writes the answers (``generate``); every arm then replays exactly those tokens (teacher forcing:
the arm computes what it would sample, then takes the recorded token), so the arms differ in the
work per token, never in the tokens:

* ``new``: restricted sampling (allowed tokens only), jump-forward (forced tokens fed with the
  sampled token before them, one forward pass), prefix reuse without copies;
* ``no_jump``, ``full_vocab_sampling``, ``no_reuse``, ``unconstrained``: ``new`` with one factor
  off (``unconstrained`` computes no allowed set and samples the whole vocabulary);
* ``old``: everything off as the runtime did before: full-vocabulary masked sampling, one forward
  pass per token, and a prefix cache that deep-copies the cache at store and at lookup.

Arms alternate within each repetition (same machine load); medians of ``--reps``; prefill and
decode are reported apart; the JSON also holds the load average. Tiers: ``tiny`` (the tests'
random model, byte tokenizer) and ``270m`` (Gemma-3-270M's real text weights and tokenizer with a
small random vision tower, from the disk cache: ``vlm2vla-prepare-270m``). ``--second-start``
times a fresh process that loads the cached 270M tier and its token table.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vlm2vla_policy.decoding import GrammarConstraint
from vlm2vla_policy.language import (
    ChunkFormat,
    Stage,
    chunk_grammar,
    chunk_prompt,
    decode_chunk,
    grammar_for,
    plan_prompt,
)
from vlm2vla_policy.runtime import ModelConfig, SamplingConfig, load_model
from vlm2vla_policy.runtime.chat import ChatPrompt
from vlm2vla_policy.runtime.disk_cache import cached_token_table
from vlm2vla_policy.runtime.generation import EncodedPrompt, GenerationEngine
from vlm2vla_policy.runtime.images import as_pil_image
from vlm2vla_policy.runtime.prefix_cache import PrefixCache
from vlm2vla_policy.runtime.sampling import next_token
from vlm2vla_policy.testing.tiny_gemma3 import build_tiny_gemma3, cached_gemma3_270m_vlm

INSTRUCTION = "put the lid on the pot"
SUBTASK = "grasp the lid"
PLAN_SAMPLING = SamplingConfig(temperature=0.1, top_p=0.95, max_new_tokens=96)
CHUNK_SAMPLING = SamplingConfig(temperature=0.5, top_p=0.95, max_new_tokens=640)
ARMS: dict[str, dict[str, bool]] = {
    "new": {"restricted": True, "jump": True, "reuse": True, "copy": False, "constrained": True},
    "no_jump": {"restricted": True, "jump": False, "reuse": True, "copy": False,
                "constrained": True},
    "full_vocab_sampling": {"restricted": False, "jump": True, "reuse": True, "copy": False,
                            "constrained": True},
    "no_reuse": {"restricted": True, "jump": True, "reuse": False, "copy": False,
                 "constrained": True},
    "unconstrained": {"restricted": False, "jump": False, "reuse": True, "copy": False,
                      "constrained": False},
    "old": {"restricted": False, "jump": False, "reuse": True, "copy": True, "constrained": True},
}  # fmt: skip


def full_vocab_next_token(
    logits: torch.Tensor,
    sampling: SamplingConfig,
    generator: torch.Generator,
    allowed: Any,
    vocab_size: int,
) -> int | None:
    """The runtime's sampler before restricted sampling: mask, softmax, sort the whole vector."""
    scores = logits.float().clone()
    scores[vocab_size:] = -torch.inf
    if allowed is not None:
        mask = torch.full_like(scores, -torch.inf)
        mask[torch.as_tensor(allowed, dtype=torch.long)] = 0.0
        scores = scores + mask
    probs = torch.softmax(scores / sampling.temperature, dim=-1)
    sorted_probs, order = torch.sort(probs, descending=True)
    keep = (torch.cumsum(sorted_probs, dim=-1) - sorted_probs) < sampling.top_p
    sorted_probs = torch.where(keep, sorted_probs, torch.zeros_like(sorted_probs))
    return int(order[torch.multinomial(sorted_probs, 1, generator=generator)])


@dataclass
class StageCost:
    """Work and time of one stage in one arm."""

    prefill_s: float = 0.0
    decode_s: float = 0.0
    sample_s: float = 0.0
    passes: int = 0
    samples: int = 0


class Replayer:
    """Decodes recorded answers again under one arm's settings, timing prefill and decode."""

    def __init__(self, model: Any, vocab_size: int, flags: dict[str, bool], seed: int) -> None:
        self.model = model
        self.vocab_size = vocab_size
        self.flags = flags
        self.generator = torch.Generator().manual_seed(seed)
        self.stored: tuple[list[int], Any] | None = None

    @torch.inference_mode()
    def stage(
        self,
        prompt: EncodedPrompt,
        answer: Sequence[int],
        constraint: GrammarConstraint,
        sampling: SamplingConfig,
    ) -> StageCost:
        """Prefill ``prompt`` (reusing the previous stage's prefix if the arm does), then
        decode ``answer`` token by token or run by run."""
        cost = StageCost()
        start = time.perf_counter()
        cache, logits = self._prefill(prompt)
        cost.prefill_s = time.perf_counter() - start
        start = time.perf_counter()
        self._decode(cache, logits, list(answer), constraint, sampling, cost)
        cost.decode_s = time.perf_counter() - start
        return cost

    def _prefill(self, prompt: EncodedPrompt) -> tuple[Any, torch.Tensor]:
        from transformers import DynamicCache

        ids = prompt.input_ids[0].tolist()
        reused = 0
        if self.flags["reuse"] and self.stored is not None:
            stored_ids, cache = self.stored
            if self.flags["copy"]:
                cache = copy.deepcopy(cache)
            shared = next(
                (i for i, (a, b) in enumerate(zip(stored_ids, ids, strict=False)) if a != b),
                min(len(stored_ids), len(ids)),
            )
            reused = min(shared, len(ids) - 1)
            cache.crop(-(cache.get_seq_length() - reused))
            out = self.model(input_ids=prompt.input_ids[:, reused:], cache=cache, logits_to_keep=1)
        else:
            cache = DynamicCache(config=self.model.config)
            out = self.model(
                input_ids=prompt.input_ids,
                pixel_values=prompt.pixel_values,
                token_type_ids=prompt.token_type_ids,
                cache=cache,
                logits_to_keep=1,
            )
        self.stored = (ids, copy.deepcopy(cache) if self.flags["copy"] else cache)
        return cache, out.logits[0, -1]

    def _decode(  # noqa: PLR0917 (one private call site)
        self,
        cache: Any,
        logits: torch.Tensor,
        answer: list[int],
        constraint: GrammarConstraint,
        sampling: SamplingConfig,
        cost: StageCost,
    ) -> None:
        state = constraint.start_state
        position = 0
        pending: list[int] = []
        while True:
            if self.flags["jump"]:
                forced = list(constraint.forced_tokens(state))
                pending += forced
                position += len(forced)
                for token in forced:
                    state = constraint.next_state(state, token)
            if pending:
                logits = self._forward(cache, pending, cost)
                pending = []
            self._sample(logits, constraint, state, sampling, cost)
            if position >= len(answer):
                return
            token = answer[position]
            position += 1
            state = constraint.next_state(state, token)
            pending = [token]
            if not self.flags["jump"]:
                logits = self._forward(cache, pending, cost)
                pending = []

    def _sample(
        self,
        logits: torch.Tensor,
        constraint: GrammarConstraint,
        state: int,
        sampling: SamplingConfig,
        cost: StageCost,
    ) -> None:
        start = time.perf_counter()
        allowed = constraint.allowed(state) if self.flags["constrained"] else None
        if self.flags["restricted"] and self.flags["constrained"]:
            forced = constraint.forced_tokens(state)  # as the runtime: no draw in a forced run
            allowed = forced[:1] if forced else allowed
        if self.flags["restricted"]:
            next_token(logits, sampling, self.generator, allowed, self.vocab_size)
        else:
            full_vocab_next_token(logits, sampling, self.generator, allowed, self.vocab_size)
        cost.sample_s += time.perf_counter() - start
        cost.samples += 1

    def _forward(self, cache: Any, tokens: list[int], cost: StageCost) -> torch.Tensor:
        cost.passes += 1
        step = torch.tensor([tokens], dtype=torch.long)
        return self.model(input_ids=step, cache=cache, logits_to_keep=1).logits[0, -1]


def build_tier(name: str) -> tuple[Any, Any, float]:
    """(model, processor, load seconds) of a tier, on the CPU."""
    start = time.perf_counter()
    if name == "tiny":
        model, processor = build_tiny_gemma3()
    else:
        loaded = load_model(ModelConfig(model=str(cached_gemma3_270m_vlm()), device="cpu"))
        model, processor = loaded.model, loaded.processor
    return model, processor, time.perf_counter() - start


def cycle_prompts(engine: GenerationEngine, frame: np.ndarray) -> tuple[EncodedPrompt, Any]:
    """The plan prompt of ``frame`` encoded, and a function of the plan text -> chunk prompt."""
    image = (as_pil_image(frame),)
    plan = engine.encode(ChatPrompt(tuple(plan_prompt(INSTRUCTION, SUBTASK)), image))

    def chunk(plan_text: str) -> EncodedPrompt:
        messages = chunk_prompt(INSTRUCTION, SUBTASK, plan_text)
        return engine.encode(ChatPrompt(tuple(messages), image))

    return plan, chunk


def run_tier(name: str, reps: int, seed: int) -> dict[str, Any]:
    """Time every arm on ``reps`` frames of tier ``name``."""
    model, processor, load_s = build_tier(name)
    table = cached_token_table(processor.tokenizer)
    plan_constraint = GrammarConstraint(grammar_for(Stage.PLAN), table)
    chunk_constraint = GrammarConstraint(chunk_grammar(ChunkFormat()), table)
    vocab_size = len(processor.tokenizer)
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(reps + 1)]
    rows: dict[str, list[dict[str, float]]] = {arm: [] for arm in ["generate", *ARMS]}
    for index, frame in enumerate(frames):
        engine = GenerationEngine(model, processor, PrefixCache(), seed=seed + index)
        plan_prompt_ids, chunk_of = cycle_prompts(engine, frame)
        plan = engine.generate(plan_prompt_ids, PLAN_SAMPLING, constraint=plan_constraint)
        chunk_prompt_ids = chunk_of(plan.text)
        chunk = engine.generate(chunk_prompt_ids, CHUNK_SAMPLING, constraint=chunk_constraint)
        if index == 0:
            continue  # warm-up: allowed sets and forced runs of the visited states get cached
        steps = len(decode_chunk(chunk.text)) if chunk.finished else 0
        rows["generate"].append(_generate_row(plan, chunk, steps))
        for arm, flags in ARMS.items():
            replay = Replayer(model, vocab_size, flags, seed)
            plan_cost = replay.stage(
                plan_prompt_ids, plan.token_ids, plan_constraint, PLAN_SAMPLING
            )
            chunk_cost = replay.stage(
                chunk_prompt_ids, chunk.token_ids, chunk_constraint, CHUNK_SAMPLING
            )
            rows[arm].append(_arm_row(plan_cost, chunk_cost, steps, len(chunk.token_ids)))
    medians = {arm: _medians(arm_rows) for arm, arm_rows in rows.items()}
    ratios = {
        arm: statistics.median(
            a["cycle_ms"] / b["cycle_ms"] for a, b in zip(rows["new"], arm_rows, strict=True)
        )
        for arm, arm_rows in rows.items()
        if arm != "new"
    }
    return {"load_s": load_s, "vocab_size": vocab_size, "arms": medians, "new_over": ratios}


def _generate_row(plan: Any, chunk: Any, steps: int) -> dict[str, float]:
    timing = plan.timing + chunk.timing
    return {
        "cycle_ms": 1000 * timing.total_s,
        "prefill_ms": 1000 * timing.prefill_s,
        "decode_ms": 1000 * timing.decode_s,
        "chunk_tokens": len(chunk.token_ids),
        "chunk_steps": steps,
        "chunk_passes": chunk.timing.forward_passes,
        "passes_per_step": chunk.timing.forward_passes / steps if steps else float("nan"),
    }


def _arm_row(plan: StageCost, chunk: StageCost, steps: int, tokens: int) -> dict[str, float]:
    total = [plan, chunk]
    decode_s = sum(c.decode_s for c in total)
    passes = sum(c.passes for c in total)
    return {
        "cycle_ms": 1000 * sum(c.prefill_s + c.decode_s for c in total),
        "prefill_ms": 1000 * sum(c.prefill_s for c in total),
        "decode_ms": 1000 * decode_s,
        "chunk_tokens": tokens,
        "chunk_steps": steps,
        "chunk_passes": chunk.passes,
        "passes_per_step": chunk.passes / steps if steps else float("nan"),
        "sample_ms_per_call": 1000 * sum(c.sample_s for c in total) / sum(c.samples for c in total),
        "forward_ms_per_pass": 1000 * (decode_s - sum(c.sample_s for c in total)) / max(1, passes),
    }


def _medians(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]}


def second_start_s() -> float:
    """Wall seconds of a fresh process that loads the cached 270M tier and its token table."""
    code = (
        "from vlm2vla_policy.runtime import ModelConfig, load_model\n"
        "from vlm2vla_policy.runtime.disk_cache import cached_token_table\n"
        "from vlm2vla_policy.testing.tiny_gemma3 import cached_gemma3_270m_vlm\n"
        "loaded = load_model(ModelConfig(model=str(cached_gemma3_270m_vlm()), device='cpu'))\n"
        "cached_token_table(loaded.processor.tokenizer)\n"
    )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def print_table(results: dict[str, Any]) -> None:
    """One row per tier and arm: cycle, prefill and decode medians, passes, sampling cost."""
    header = (
        f"{'tier':5} {'arm':20} {'cycle ms':>9} {'prefill':>8} {'decode':>8} {'new/arm':>8} "
        f"{'passes/step':>11} {'sample ms':>9} {'fwd ms':>7} {'sample/fwd':>10}"
    )
    print(header)
    print("-" * len(header))
    for tier, result in results["tiers"].items():
        for arm, row in result["arms"].items():
            ratio = result["new_over"].get(arm, 1.0)
            sample = row.get("sample_ms_per_call", float("nan"))
            forward = row.get("forward_ms_per_pass", float("nan"))
            print(
                f"{tier:5} {arm:20} {row['cycle_ms']:9.0f} {row['prefill_ms']:8.0f} "
                f"{row['decode_ms']:8.0f} {ratio:8.2f} {row['passes_per_step']:11.1f} "
                f"{sample:9.3f} {forward:7.2f} {sample / forward:10.1%}"
            )
    if "second_start_s" in results:
        print(f"second start of the 270m tier: {results['second_start_s']:.1f} s")


def main() -> None:
    """Run the tiers, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="bench_decoding.json", help="JSON results file")
    parser.add_argument("--tiers", default="tiny,270m", help="comma-separated: tiny, 270m")
    parser.add_argument("--reps", type=int, default=5, help="timed cycles (frames) per tier")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--second-start", action="store_true", help="time a cached 270m start")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpu_threads": torch.get_num_threads(),
            "load_average_before": os.getloadavg(),
        },
        "reps": args.reps,
        "tiers": {},
    }
    for tier in args.tiers.split(","):
        if tier not in ("tiny", "270m"):
            parser.error(f"--tiers: unknown tier {tier!r}; choose from tiny, 270m")
        results["tiers"][tier] = run_tier(tier, args.reps, args.seed)
    if args.second_start:
        results["second_start_s"] = second_start_s()
    results["machine"]["load_average_after"] = os.getloadavg()
    print_table(results)
    print(f"load average before {results['machine']['load_average_before']}, after "
          f"{results['machine']['load_average_after']}")  # fmt: skip
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
