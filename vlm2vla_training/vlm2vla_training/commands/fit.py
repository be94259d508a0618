"""``vlm2vla-train fit``: LoRA fine-tuning of Gemma-3 on a built dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "fine-tune Gemma-3 with LoRA on a built dataset (the paper's recipe by default)"
DESCRIPTION = """\
Supervised fine-tuning with peft LoRA on the language model's q/k/v/o/gate/up/down projections
(vision tower and projector frozen), loss on the answer tokens only, prompts rendered with the
runtime's chat template. Defaults are the paper's recipe (configs/paper.yaml): r=16, alpha=32,
AdamW (0.9, 0.999, 1e-8), lr 5e-5 with linear decay, effective batch 8 (gradient accumulation
fills it on any number of processes), max sequence 1024, 1 epoch, bf16 where supported.

The run directory gets checkpoints every N steps (weights, optimizer, schedule, RNG states, data
position); running the same command again resumes from the newest one exactly. At the end it
holds adapter/ (or model/ with --full-finetune) for the runtime, train_log.jsonl, tensorboard/,
config.json and metrics.json.

examples:
  vlm2vla-train fit --config paper --model google/gemma-3-12b-it --data ~/data/sft --out ~/runs/a
  vlm2vla-train fit --config debug --model /tmp/tiny --data /tmp/sft --out /tmp/run
  accelerate launch --config_file vlm2vla_training/configs/accelerate_multi_gpu.yaml \\
      --num_processes 4 -m vlm2vla_training.cli fit --config paper --model ... --data ... --out ...
  vlm2vla-train fit ... --encoding at          # the VLM2VLA-AT ablation
  vlm2vla-train fit ... --set learning_rate=1e-4 --set stages=[chunk,plan]
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``fit``."""
    parser.add_argument(
        "--config",
        default="paper",
        help="named config (paper, debug) or a YAML/JSON file; default: paper",
    )
    parser.add_argument("--model", default=None, help="base checkpoint directory or hub id")
    parser.add_argument("--data", type=Path, default=None, help="output directory of `build`")
    parser.add_argument("--out", type=Path, default=None, help="run directory")
    parser.add_argument(
        "--encoding", choices=("text", "at"), default=None, help="chunk numbers: digits or AT"
    )
    parser.add_argument(
        "--full-finetune",
        action="store_true",
        help="train every language-model weight instead of LoRA (the ablation)",
    )
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config field (value read as YAML); repeatable",
    )
    parser.add_argument(
        "--stop-after-steps",
        type=int,
        default=None,
        help="test hook: stop after this many steps without the final save, as if killed",
    )


FLAGS = {"model": "--model", "data": "--data", "out": "--out", "encoding": "--encoding",
         "max_steps": "--max-steps"}  # fmt: skip
"""TrainConfig fields with a flag of their own; every other one is set with --set."""


def error_flags() -> dict:
    """How an error's ``TrainConfig.<field>`` is spelled: its flag, else ``--set field=...``."""
    from dataclasses import fields

    from vlm2vla_training.fit.config import TrainConfig

    def with_set(name: str):
        return lambda value: f"--set {name}" if value is None else f"--set {name}={value}"

    spelled = {f"TrainConfig.{f.name}": with_set(f.name) for f in fields(TrainConfig)}
    spelled |= {f"TrainConfig.{name}": flag for name, flag in FLAGS.items()}
    return spelled | {"ModelConfig.model": "--model"}


def run(args: argparse.Namespace) -> list[str]:
    """Train (or resume); return the summary lines (on the main process only)."""
    from accelerate import PartialState

    from vlm2vla_training.fit import fit, load_train_config, parse_overrides

    overrides = parse_overrides(args.set)
    flags = {
        "model": args.model,
        "data": None if args.data is None else str(args.data),
        "out": None if args.out is None else str(args.out),
        "encoding": args.encoding,
        "finetune": "full" if args.full_finetune else None,
        "max_steps": args.max_steps,
    }
    overrides.update({key: value for key, value in flags.items() if value is not None})
    config = load_train_config(args.config, overrides)
    result = fit(config, progress=not args.quiet, stop_after_steps=args.stop_after_steps)
    if not PartialState().is_main_process:
        return []  # under accelerate launch, one summary is enough
    metrics = result.metrics
    lines = [
        f"fit: {result.steps}/{result.total_steps} steps, {metrics['samples']} samples, "
        f"loss {metrics['first_loss']} -> {metrics['final_loss']}, "
        f"{metrics['s_per_step']} s/step, {metrics['tokens_per_s']} tokens/s",
    ]
    if result.completed:
        lines.append(f"output: {result.output_dir}  metrics: {result.run_dir / 'metrics.json'}")
    else:
        lines.append(f"stopped early; run the same command to resume from {result.run_dir}")
    return lines
