"""Latency of the policy's stages on each model tier (what one cycle costs, stage by stage).

    python vlm2vla_policy/bench/bench_runtime.py --out results.json [--tiers tiny,270m,12b]

Tiers (all random or partly random weights: the numbers are latencies, not behaviour):

* ``tiny``: the tiny random Gemma-3 of the tests (byte tokenizer), CPU;
* ``270m``: Gemma-3-270M's real text weights (GGUF package) + a tiny SigLIP tower giving 256
  image tokens, the real tokenizer, CPU (converted once into the disk cache);
* ``12b``: the full Gemma-3-12B-IT architecture (config values below, no download) with random
  bf16 weights at 896x896 (256 image tokens), CUDA only: the number to hold against the
  paper's 6.1 s median cycle on an A100 (their cycle also waited for Gemini's verification).

Per stage it prints the median prefill ms (image preprocessing + prompt), decode ms and token
counts; per cycle (plan + chunk) the total and how often the vision tower ran. Random models
write answers of random length, so compare ms per token as well as totals. What each speed-up
saves (prefix reuse, restricted sampling, jump-forward) is measured on identical tokens by
``bench_decoding.py``, not here.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vlm2vla_policy.language import grammar_for
from vlm2vla_policy.runtime import ModelConfig, PolicyConfig, load_model
from vlm2vla_policy.runtime.backends.hf import HFBackend
from vlm2vla_policy.runtime.factory import POLICY_STAGES, make_verifier
from vlm2vla_policy.runtime.loading import LoadedModel
from vlm2vla_policy.runtime.policy import Policy
from vlm2vla_policy.testing.tiny_gemma3 import (
    build_processor,
    build_real_tokenizer,
    build_tiny_gemma3,
    cached_gemma3_270m_vlm,
    reinit_projector,
)

INSTRUCTION = "put the lid on the pot"
SUBTASK = "grasp the lid"
PAPER_MEDIAN_CYCLE_S = 6.1

GEMMA3_12B_IT: dict[str, Any] = {
    "text_config": {
        "vocab_size": 262_208,
        "hidden_size": 3840,
        "intermediate_size": 15360,
        "num_hidden_layers": 48,
        "num_attention_heads": 16,
        "num_key_value_heads": 8,
        "head_dim": 256,
        "query_pre_attn_scalar": 256,
        "sliding_window": 1024,
        "max_position_embeddings": 131_072,
        "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
        "rope_theta": 1_000_000.0,
        "rope_local_base_freq": 10_000.0,
        "hidden_activation": "gelu_pytorch_tanh",
        "rms_norm_eps": 1e-6,
        "pad_token_id": 0,
        "bos_token_id": 2,
        "eos_token_id": [1, 106],
    },
    "vision_config": {
        "model_type": "siglip_vision_model",
        "hidden_size": 1152,
        "intermediate_size": 4304,
        "num_hidden_layers": 27,
        "num_attention_heads": 16,
        "image_size": 896,
        "patch_size": 14,
        "layer_norm_eps": 1e-6,
        "vision_use_head": False,
    },
    "mm_tokens_per_image": 256,
    "boi_token_index": 255_999,
    "eoi_token_index": 256_000,
    "image_token_index": 262_144,
    "eos_token_id": [1, 106],
}
"""google/gemma-3-12b-it's architecture (its config.json values), for random-weight timing."""


def build_tiny() -> tuple[Any, Any, torch.device]:
    """The tests' tiny model on the CPU."""
    model, processor = build_tiny_gemma3()
    return model, processor, torch.device("cpu")


def build_270m() -> tuple[Any, Any, torch.device]:
    """Gemma-3-270M text weights + tiny vision tower on the CPU (from the disk cache)."""
    loaded = load_model(ModelConfig(model=str(cached_gemma3_270m_vlm()), device="cpu"))
    return loaded.model, loaded.processor, torch.device("cpu")


def build_12b() -> tuple[Any, Any, torch.device]:
    """Gemma-3-12B-IT architecture, random bf16 weights, on the first CUDA device."""
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    device = torch.device("cuda")
    config = Gemma3Config(**GEMMA3_12B_IT)
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with device:
            model = Gemma3ForConditionalGeneration(config).eval()
    finally:
        torch.set_default_dtype(default_dtype)
    reinit_projector(model, std=0.02)
    processor = build_processor(build_real_tokenizer(), image_size=896, mm_tokens_per_image=256)
    return model, processor, device


TIERS: dict[str, Callable[[], tuple[Any, Any, torch.device]]] = {
    "tiny": build_tiny,
    "270m": build_270m,
    "12b": build_12b,
}


@dataclasses.dataclass
class VisionCounter:
    """Counts forward calls of the vision tower."""

    calls: int = 0

    def __call__(self, *_: Any) -> None:
        self.calls += 1


def make_policy(model: Any, processor: Any, device: torch.device, seed: int) -> Policy:
    """A policy over an in-memory model (no adapter: verification runs the same weights)."""
    loaded = LoadedModel(model, processor, device, model.dtype, None, adapter_switchable=False)
    backend = HFBackend(loaded, seed=seed)
    config = PolicyConfig(seed=seed)
    policy = Policy(backend, make_verifier(config, backend), config)
    backend.prepare(grammar_for(stage) for stage in POLICY_STAGES)
    return policy


def run_tier(name: str, cycles: int, seed: int) -> dict[str, Any]:
    """Build tier ``name`` and time its stages and cycles."""
    start = time.perf_counter()
    model, processor, device = TIERS[name]()
    build_s = time.perf_counter() - start
    counter = VisionCounter()
    model.model.vision_tower.register_forward_hook(counter)
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 256, size=(480, 640, 3), dtype=np.uint8) for _ in range(cycles + 1)]

    policy = make_policy(model, processor, device, seed)
    stages: dict[str, list[dict[str, float]]] = {}
    cycles_of: list[dict[str, float]] = []
    _cycle(policy, frames[0])  # warm-up: first calls allocate, constraints index states
    policy.reset()
    _record(stages, policy.subtasks(frames[0], INSTRUCTION))
    for frame in frames[1:]:
        policy.reset()
        before = counter.calls
        plan, chunk = _cycle(policy, frame)
        timing = plan.timing + chunk.timing
        cycles_of.append(
            {"total_ms": 1000 * timing.total_s, "vision_calls": counter.calls - before}
        )
        _record(stages, plan)
        _record(stages, chunk)
        _record(stages, policy.verify(frames[0], frame, SUBTASK))
    summary = {stage: _median(rows) for stage, rows in stages.items()}
    plan_chunk_ms = statistics.median(row["total_ms"] for row in cycles_of)
    return {
        "device": str(device),
        "build_s": build_s,
        "stages": summary,
        "cycle": {
            "plan_chunk_ms": plan_chunk_ms,
            "plan_chunk_verify_ms": plan_chunk_ms + summary["verification"]["total_ms"],
            "vision_calls_per_cycle": statistics.median(r["vision_calls"] for r in cycles_of),
            "paper_median_cycle_ms": 1000 * PAPER_MEDIAN_CYCLE_S,
        },
    }


def _cycle(policy: Policy, frame: np.ndarray) -> tuple[Any, Any]:
    plan = policy.plan(frame, SUBTASK, instruction=INSTRUCTION)
    chunk = policy.chunk(frame, SUBTASK, plan.value, instruction=INSTRUCTION)
    return plan, chunk


def _record(stages: dict[str, list[dict[str, float]]], result: Any) -> None:
    row = dict(result.timing.to_dict())
    row["ms_per_token"] = row["decode_ms"] / max(1, row["decoded_tokens"])
    stages.setdefault(result.stage, []).append(row)


def _median(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]}


def print_table(results: dict[str, Any]) -> None:
    """The per-stage table and the cycle summary of every tier."""
    header = (
        f"{'tier':6} {'stage':13} {'prefill ms':>10} {'decode ms':>10} {'prompt tok':>10} "
        f"{'reused tok':>10} {'decoded tok':>11} {'ms/tok':>7}"
    )
    print(header)
    print("-" * len(header))
    for tier, result in results["tiers"].items():
        for stage, row in result["stages"].items():
            print(
                f"{tier:6} {stage:13} {row['prefill_ms']:10.1f} {row['decode_ms']:10.1f} "
                f"{row['prefill_tokens']:10.0f} {row['reused_tokens']:10.0f} "
                f"{row['decoded_tokens']:11.0f} {row['ms_per_token']:7.1f}"
            )
    print()
    for tier, result in results["tiers"].items():
        cycle = result["cycle"]
        print(
            f"{tier:6} plan+chunk (median of {results['cycles']}) {cycle['plan_chunk_ms']:.0f} ms; "
            f"vision tower runs per cycle {cycle['vision_calls_per_cycle']:.0f}; plan+chunk+verify "
            f"{cycle['plan_chunk_verify_ms']:.0f} ms (paper: {PAPER_MEDIAN_CYCLE_S} s median)"
        )


def main() -> None:
    """Run the tiers asked for (12b only where CUDA is present) and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="bench_runtime.json", help="JSON results file")
    parser.add_argument("--tiers", default="tiny,270m,12b", help="comma-separated tiers")
    parser.add_argument("--cycles", type=int, default=5, help="timed cycles per tier")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpu_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
        "cycles": args.cycles,
        "tiers": {},
        "skipped": {},
    }
    for tier in args.tiers.split(","):
        if tier not in TIERS:
            parser.error(f"unknown tier {tier!r}; choose from {sorted(TIERS)}")
        if tier == "12b" and not torch.cuda.is_available():
            results["skipped"][tier] = "needs CUDA"
            continue
        results["tiers"][tier] = run_tier(tier, args.cycles, args.seed)
    print_table(results)
    for tier, reason in results["skipped"].items():
        print(f"{tier}: skipped ({reason})")
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
