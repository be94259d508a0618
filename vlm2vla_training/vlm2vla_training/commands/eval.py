"""``vlm2vla-train eval``: offline metrics of a trained adapter, plots and VQA retention."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "evaluate a trained adapter on held-out episodes (action metrics, plots, VQA retention)"
DESCRIPTION = """\
Run the runtime policy (base model + adapter, greedy decoding) on the eval split of a built
dataset and write to --out: metrics.json (per stage: parse rate; chunks: direction agreement,
L1 error in cm per axis, gripper accuracy; plans: direction agreement with the true chunk;
subtasks: keyword accuracy; verification and direction: accuracy; VQA retention), a
predictions.jsonl, trajectory.png (predicted vs true cumulative displacement per axis) and
training_curve.png (with --run). The VQA check scores a built-in multiple-choice set with and
without the adapter; for full benchmarks see vlm2vla_training.evaluation.external
(VLMEvalKit / lmms-eval).

examples:
  vlm2vla-train eval --run ~/runs/paper --out ~/runs/paper/eval
  vlm2vla-train eval --model google/gemma-3-12b-it --adapter ~/runs/a/adapter --data ~/data/sft \\
      --out /tmp/eval --max-samples-per-stage 200
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``eval``."""
    from vlm2vla_training.samples import ALL_STAGES

    parser.add_argument(
        "--run", dest="run_dir", type=Path, default=None, help="a fit run directory"
    )
    parser.add_argument("--out", type=Path, default=None, help="output dir (default <run>/eval)")
    parser.add_argument("--data", type=Path, default=None, help="output directory of `build`")
    parser.add_argument("--model", default=None, help="base (or fully fine-tuned) model")
    parser.add_argument("--adapter", type=Path, default=None, help="LoRA adapter directory")
    parser.add_argument("--base-model", default=None, help="VQA baseline for a full fine-tune")
    parser.add_argument(
        "--stages", nargs="+", choices=ALL_STAGES, default=list(ALL_STAGES), help="stages"
    )
    parser.add_argument("--max-samples-per-stage", type=int, default=50, help="samples per stage")
    parser.add_argument(
        "--unconstrained", action="store_true", help="decode freely (raw parse rate)"
    )
    parser.add_argument("--max-retries", type=int, default=0, help="retries of unparsable output")
    parser.add_argument(
        "--max-new-tokens", type=int, default=0, help="answer budget of every stage (0: defaults)"
    )
    parser.add_argument("--device", default="auto", help="torch device (auto, cpu, cuda:0)")
    parser.add_argument("--dtype", default="auto", help="weight dtype (auto, float32, bfloat16)")
    parser.add_argument("--no-vqa", action="store_true", help="skip the VQA retention check")
    parser.add_argument(
        "--vqa-image-questions", type=int, default=30, help="picture questions of the VQA check"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the questions and sampler")


def run(args: argparse.Namespace) -> list[str]:
    """Evaluate; return the summary lines."""
    from vlm2vla_policy.runtime import PolicyRuntimeError
    from vlm2vla_training.evaluation import EvalConfig, evaluate

    if args.out is None and args.run_dir is None:
        raise ValueError("pass --out (or --run, whose eval/ subdirectory is the default)")
    config = EvalConfig(
        data=str(args.data or ""),
        out=str(args.out or args.run_dir / "eval"),
        model=args.model or "",
        adapter=str(args.adapter or ""),
        run=str(args.run_dir or ""),
        base_model=args.base_model or "",
        stages=tuple(args.stages),
        max_samples_per_stage=args.max_samples_per_stage,
        constrained=not args.unconstrained,
        max_retries=args.max_retries,
        max_new_tokens=args.max_new_tokens,
        device=args.device,
        dtype=args.dtype,
        vqa=not args.no_vqa,
        vqa_image_questions=args.vqa_image_questions,
        seed=args.seed,
    )
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
