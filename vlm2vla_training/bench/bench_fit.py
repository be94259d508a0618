"""Seconds per optimizer step of ``fit`` on this machine, for two model sizes.

    python vlm2vla_training/bench/bench_fit.py [--tiers tiny,270m] [--precisions no bf16]

Tiers (random or partly random weights: the numbers are speeds, not learning):

* ``tiny``: the tiny random Gemma-3 of the tests (byte tokenizer, 4 image tokens), 10 steps;
* ``270m``: Gemma-3-270M's real text weights (GGUF package) + a tiny SigLIP tower giving 64 image
  tokens, the real tokenizer, sequences up to 256 tokens, 5 steps (building the model from the
  GGUF file takes about a minute and is not timed).

Both train LoRA with the paper's recipe otherwise (r=16, effective batch 8 = 8 accumulated
micro-batches of 1 on one process) on synthetic BridgeData samples of every stage. Reported per
tier: median s/step over the steps after the first (warm-up), s/sample, tokens/s, mean tokens per
sample, the precision used and the torch thread count (default 1: on a shared machine more
threads mostly measure the neighbours). Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import statistics
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

from vlm2vla_training import synthetic
from vlm2vla_training.cli import main as train_cli
from vlm2vla_training.fit import TrainConfig, fit, read_train_log

TIERS = {
    "tiny": {"steps": 10, "max_seq_len": 1024},
    "270m": {"steps": 5, "max_seq_len": 256},
}


def build_data(root: Path) -> Path:
    """A built dataset of 12 synthetic episodes (every stage), through the CLI."""
    config = synthetic.SyntheticConfig(num_steps=20, image_size=(128, 96))
    synthetic.write_bridge_raw(root / "bridge", 12, seed=0, config=config)
    store, out = str(root / "store"), str(root / "data")
    for argv in (
        ["convert", "--reader", "bridge_raw", "--input", str(root / "bridge"), "--store", store],
        ["relabel", "--store", store],
        ["build", "--store", store, "--out", out, "--eval-fraction", "0.1"],
    ):
        assert train_cli([*argv, "--quiet"]) == 0, argv
    return Path(out)


def save_model(tier: str, directory: Path) -> Path:
    """The tier's checkpoint, saved to ``directory``."""
    from vlm2vla_policy.testing.tiny_gemma3 import (
        TinyGemma3Spec,
        save_gemma3_270m_vlm,
        save_tiny_gemma3,
    )

    if tier == "tiny":
        return save_tiny_gemma3(directory)
    spec = TinyGemma3Spec(image_size=224, patch_size=14, mm_tokens_per_image=64)
    return save_gemma3_270m_vlm(directory, spec)


def run_tier(
    tier: str, *, model_dir: Path, data: Path, out: Path, precision: str, threads: int
) -> dict[str, Any]:
    """Time one fit run (in a fresh process: accelerate fixes the precision once per process)."""
    torch.set_num_threads(threads)
    settings = TIERS[tier]
    config = TrainConfig(
        model=str(model_dir),
        data=str(data),
        out=str(out),
        max_steps=settings["steps"],
        max_seq_len=settings["max_seq_len"],
        mixed_precision=precision,
        checkpoint_every_steps=0,
    )
    result = fit(config, progress=False)
    log = read_train_log(config.out)
    after_warmup = [r["s_per_step"] for r in log[1:]] or [log[0]["s_per_step"]]
    s_per_step = statistics.median(after_warmup)
    samples_per_step = result.metrics["effective_batch_size"]
    tokens = sum(r["tokens"] for r in log)
    return {
        "tier": tier,
        "steps": result.steps,
        "max_seq_len": config.max_seq_len,
        "precision": result.metrics["mixed_precision"],
        "weights_dtype": result.metrics["weights_dtype"],
        "trainable_params": result.metrics["trainable_params"],
        "total_params": result.metrics["total_params"],
        "s_per_step": round(s_per_step, 3),
        "first_step_s": round(log[0]["s_per_step"], 3),
        "s_per_sample": round(s_per_step / samples_per_step, 3),
        "tokens_per_s": round(statistics.median(r["tokens_per_s"] for r in log[1:] or log), 1),
        "tokens_per_sample": round(tokens / (len(log) * samples_per_step), 1),
        "truncated_samples": result.metrics["truncated_samples"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiers", default="tiny,270m", help="comma-separated: tiny, 270m")
    parser.add_argument(
        "--precisions",
        nargs="+",
        default=["no", "bf16"],
        choices=("auto", "bf16", "no"),
        help="mixed precision settings to time (no = fp32)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = build_data(root)
        for tier in (t.strip() for t in args.tiers.split(",")):
            model_dir = save_model(tier, root / f"model-{tier}")
            for precision in args.precisions:
                out = root / f"run-{tier}-{precision}"
                spawn = multiprocessing.get_context("spawn")
                with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
                    job = pool.submit(
                        run_tier,
                        tier,
                        model_dir=model_dir,
                        data=data,
                        out=out,
                        precision=precision,
                        threads=args.threads,
                    )
                    results.append(job.result())
    print(
        f"{'tier':>5} {'steps':>5} {'seq':>5} {'prec':>5} {'s/step':>7} {'1st s':>7} "
        f"{'s/sample':>8} {'tok/s':>8} {'tok/sample':>10} {'trainable':>10}"
    )
    for r in results:
        print(
            f"{r['tier']:>5} {r['steps']:>5} {r['max_seq_len']:>5} {r['precision']:>5} "
            f"{r['s_per_step']:>7} {r['first_step_s']:>7} {r['s_per_sample']:>8} "
            f"{r['tokens_per_s']:>8} {r['tokens_per_sample']:>10} {r['trainable_params']:>10}"
        )
    record = {
        "machine": platform.processor() or platform.machine(),
        "torch_threads": args.threads,
        "effective_batch_size": 8,
        "results": results,
    }
    print(json.dumps(record))
    if args.out:
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
