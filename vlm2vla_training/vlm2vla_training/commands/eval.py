"""``vlm2vla-train eval``: offline metrics of a trained adapter, plots and VQA retention."""

from __future__ import annotations

import argparse
import functools
from dataclasses import replace
from pathlib import Path

from vlm2vla_policy.cli_options import Options

HELP = "evaluate a trained adapter on held-out episodes (action metrics, plots, VQA retention)"
DESCRIPTION = """\
Run the runtime policy (base model + adapter, greedy decoding) on the eval split of a built
dataset and write to --out: metrics.json (per stage: parse rate; chunks: direction agreement,
L1 error in cm per axis, gripper accuracy; plans: direction agreement with the true chunk;
subtasks: keyword accuracy; verification and direction: accuracy; VQA retention), a
predictions.jsonl, trajectory.png (predicted vs true cumulative displacement per axis) and
training_curve.png (with --run). The VQA check scores a built-in multiple-choice set with and
without the adapter; for the paper's 12 full benchmarks (VLMEvalKit / lmms-eval) see
`vlm2vla-train vqa-benchmarks`.

examples:
  vlm2vla-train eval --run ~/runs/paper --out ~/runs/paper/eval
  vlm2vla-train eval --model google/gemma-3-12b-it --adapter ~/runs/a/adapter --data ~/data/sft \\
      --out /tmp/eval --max-samples-per-stage 200
"""


@functools.cache
def options() -> Options:
    """The flags of ``eval``: :class:`~vlm2vla_training.eval_config.EvalConfig`'s settings."""
    from vlm2vla_training.eval_config import EvalConfig

    return Options(
        EvalConfig,
        ("run", "out", "data", "model", "adapter", "base_model", "stages",
         "max_samples_per_stage", "constrained", "max_retries", "max_new_tokens", "device",
         "dtype", "vqa", "vqa_image_questions", "seed"),
        rename={"constrained": "--unconstrained"},
    )  # fmt: skip


def error_flags() -> dict[str, str]:
    """The flags of the runtime's fields that ``eval`` fills (ModelConfig.model: ``--model``)."""
    flags = {name: f"--{name}" for name in ("model", "adapter", "device", "dtype")}
    return {f"ModelConfig.{name}": flag for name, flag in flags.items()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``eval``."""
    options().add_to(parser)


def run(args: argparse.Namespace) -> list[str]:
    """Evaluate; return the summary lines."""
    from vlm2vla_policy.runtime import PolicyRuntimeError
    from vlm2vla_training.evaluation import evaluate

    config = options().apply(args)
    if not config.out:
        if not config.run:
            raise ValueError("pass --out (or --run, whose eval/ subdirectory is the default)")
        config = replace(config, out=str(Path(config.run) / "eval"))
    try:
        metrics = evaluate(config, progress=not args.quiet)
    except PolicyRuntimeError as exc:  # model or adapter problems: say what to pass instead
        raise ValueError(str(exc)) from None
    lines = [f"eval: {metrics['samples']} samples in {metrics['elapsed_s']} s"]
    for stage, values in metrics["stages"].items():
        headline = {k: v for k, v in values.items() if not isinstance(v, dict)}
        lines.append(f"  {stage}: " + ", ".join(f"{k}={v}" for k, v in headline.items()))
        if "direction_agreement" in values:
            lines.append(f"    direction agreement: {values['direction_agreement']}")
        if "l1_cm" in values:
            lines.append(f"    L1 error (cm): {values['l1_cm']}")
    if "vqa" in metrics:
        lines.append(f"  vqa: {metrics['vqa']}")
    lines.append(f"metrics: {Path(config.out) / 'metrics.json'}")
    lines.append(f"plots: {', '.join(metrics['plots'])}")
    return lines
