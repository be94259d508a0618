"""Plans: free-form motion plans (the paper's) versus the closed 15-phrase vocabulary.

Does writing the plan in free words cost the policy anything, or help it? At CPU scale this
experiment trains the pretrained Gemma-3-270M with LoRA (the paper's r=16 / alpha=32) on the
text-only plan and chunk tasks (:mod:`~vlm2vla_experiments.paper.textonly`: synthetic Bridge-like
episodes, the image replaced by a scene description), once per plan style with one budget:

* ``free``: the heuristic labeler describes each chunk in words (axes largest first with their
  size in centimetres, the gripper change, what the motion goes toward), e.g. "move down about
  6 cm and slightly forward toward the carrot, then close the gripper";
* ``vocabulary``: the same chunks' canonical plans, e.g. "move down and slightly forward and
  close the gripper".

Everything else is equal: episodes, chunk windows, chunk texts, seeds, steps. Held-out episodes
are decoded greedily under each stage's grammar, as the policy decodes
(:func:`vlm2vla_training.evaluation.evaluate`; at this budget the model has not yet learned to
stop, and unconstrained answers run past their end and parse as nothing): the plan
stage gives the parse rate and direction agreement of the predicted plan (per axis with the true
plan, and :func:`~vlm2vla_policy.language.check_plan` of the predicted plan against the true
chunk), the chunk stage (prompted with the true plan) the chunk L1 error in centimetres.

Layout of the output directory::

    base/                the 270M text weights as an image-text checkpoint (shared with forgetting)
    data-<style>/        the text-only dataset of one style, in build's format
    runs/<style>/        fit's run directory; runs/<style>/eval/ evaluate's output
    plans.json           every number below, the config and the seeds
    plans.md             the table
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlm2vla_experiments.paper import docs
from vlm2vla_experiments.paper.forgetting import prepare_base, write_text_dataset
from vlm2vla_experiments.paper.textonly import (
    TextChunkSample,
    TextTaskConfig,
    split_by_episode,
    text_chunk_samples,
)
from vlm2vla_policy.language.config import PLAN_STYLES

STAGES: tuple[str, ...] = ("plan", "chunk")
"""The stages trained and evaluated."""


@dataclass(frozen=True)
class PlansConfig:
    """Budget and settings of the plans experiment (one budget for both styles)."""

    # Seed of fit (LoRA initialisation, sample order) and of the episodes.
    seed: int = 0
    # "gemma3-270m" (real pretrained weights) or "tiny" (random, for smoke tests).
    model: str = "gemma3-270m"
    # The styles compared, a subset of PLAN_STYLES.
    styles: tuple[str, ...] = PLAN_STYLES
    # Episodes whose samples train, and held-out episodes whose samples test.
    train_episodes: int = 8
    eval_episodes: int = 2
    # Optimizer steps and samples per step (plan and chunk samples mixed).
    steps: int = 40
    batch_size: int = 4
    learning_rate: float = 5e-4
    warmup_steps: int = 2
    # Held-out samples decoded per stage, and the token budget of one answer (a 160-character
    # plan is about 40 tokens, a chunk 18 per step).
    eval_samples: int = 8
    max_new_tokens: int = 160

    def __post_init__(self) -> None:
        if not self.styles or set(self.styles) - set(PLAN_STYLES):
            raise ValueError(f"styles must be a non-empty subset of {PLAN_STYLES}")
        if min(self.train_episodes, self.eval_episodes, self.steps, self.batch_size) < 1:
            raise ValueError("episodes, steps and batch_size must be >= 1")


def smoke_config(model: str = "tiny", seed: int = 0) -> PlansConfig:
    """A few steps on a few episodes: checks the plumbing in minutes, measures nothing."""
    return PlansConfig(
        seed=seed,
        model=model,
        train_episodes=2,
        eval_episodes=1,
        steps=2,
        batch_size=2,
        warmup_steps=0,
        eval_samples=2,
        max_new_tokens=48,
    )


def style_samples(
    config: PlansConfig, style: str
) -> tuple[list[TextChunkSample], list[TextChunkSample]]:
    """Training and held-out plan and chunk samples of ``style`` (same episodes for every style)."""
    task = TextTaskConfig(seed=config.seed, plan_style=style)
    total = config.train_episodes + config.eval_episodes
    samples = text_chunk_samples(task, num_episodes=total, stages=STAGES)
    return split_by_episode(samples, config.train_episodes)


def run_style(config: PlansConfig, style: str, base: Path, out: Path, progress: bool) -> dict:
    """Train and evaluate one style; its fit, plan and chunk figures and example plans."""
    from vlm2vla_training.evaluation import EvalConfig, evaluate
    from vlm2vla_training.fit import TrainConfig, fit

    train, held_out = style_samples(config, style)
    language = TextTaskConfig(plan_style=style).language
    data = write_text_dataset(out / f"data-{style}", train, held_out, language)
    run_dir = out / "runs" / style
    started = time.perf_counter()
    result = fit(
        TrainConfig(
            model=str(base),
            data=str(data),
            out=str(run_dir),
            stages=STAGES,
            finetune="lora",
            learning_rate=config.learning_rate,
            warmup_steps=config.warmup_steps,
            effective_batch_size=config.batch_size,
            per_device_batch_size=config.batch_size,
            max_steps=config.steps,
            mixed_precision="no",
            seed=config.seed,
            checkpoint_every_steps=0,
            cpu=True,
        ),
        progress=progress,
    )
    trained = time.perf_counter()
    scores = evaluate(
        EvalConfig(
            run=str(run_dir),
            out=str(run_dir / "eval"),
            stages=STAGES,
            max_samples_per_stage=config.eval_samples,
            constrained=True,
            device="cpu",
            dtype="float32",
            vqa=False,
            max_new_tokens=config.max_new_tokens,
            seed=config.seed,
        ),
        progress=progress,
    )
    plan, chunk = scores["stages"]["plan"], scores["stages"]["chunk"]
    return {
        "train_samples": len(train),
        "eval_samples": len(held_out),
        "example_plans": [s.answer for s in train if s.stage == "plan"][:3],
        "fit": {key: result.metrics.get(key) for key in ("first_loss", "final_loss", "steps")},
        "plan": {
            "samples": plan["samples"],
            "parse_rate": plan["parse_rate"],
            "direction_agreement": plan["direction_agreement"]["all"],
            "chunk_agreement": plan["chunk_agreement"],
        },
        "chunk": {
            "samples": chunk["samples"],
            "parse_rate": chunk["parse_rate"],
            "l1_cm": chunk["l1_cm"],
        },
        "seconds": {
            "fit": round(trained - started, 1),
            "eval": round(time.perf_counter() - trained, 1),
        },
    }


def run_plans(config: PlansConfig, out: Path, progress: bool = True) -> dict[str, Any]:
    """The whole experiment into ``out``; returns (and writes) ``plans.json``'s content."""
    from tqdm import tqdm

    from vlm2vla_experiments.paper.likelihood import environment

    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    base = prepare_base(config.model, out / "base")
    results: dict[str, Any] = {
        "experiment": "plans",
        "config": dataclasses.asdict(config),
        "styles": {},
        "environment": environment(),
    }
    for index, style in enumerate(config.styles):
        if progress:
            tqdm.write(f"[plans] style {index + 1}/{len(config.styles)}: {style}")
        results["styles"][style] = run_style(config, style, base, out, progress)
    results["seconds"] = round(time.perf_counter() - started, 1)
    (out / "plans.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return results


def markdown_table(results: dict[str, Any]) -> str:
    """One row per style: loss, plan parse rate and agreement, chunk L1; then example plans."""
    lines = [
        "| plan style | train loss first → last 10 | plan parse rate | plan direction "
        "agreement (axes) | plan agrees with true chunk | chunk parse rate | chunk L1 cm "
        "x / y / z |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for style, run in results["styles"].items():
        fit, plan, chunk = run["fit"], run["plan"], run["chunk"]
        l1 = docs.fmt_axes(chunk["l1_cm"])
        lines.append(
            f"| {style} | {docs.fmt(fit['first_loss'])} → {docs.fmt(fit['final_loss'])} | "
            f"{docs.fmt(plan['parse_rate'])} | {docs.fmt(plan['direction_agreement'])} | "
            f"{docs.fmt(plan['chunk_agreement'])} | {docs.fmt(chunk['parse_rate'])} | {l1} |"
        )
    config = results["config"]
    first = next(iter(results["styles"].values()))
    lines += [
        "",
        f"Model {config['model']}, LoRA r=16, {config['steps']} steps of batch "
        f"{config['batch_size']} (lr {config['learning_rate']:.0e}) on {first['train_samples']} "
        f"plan and chunk samples of {config['train_episodes']} episodes per style; "
        f"{config['eval_samples']} held-out samples per stage from {config['eval_episodes']} "
        "episodes, greedy, constrained by each stage's grammar; the chunk stage is prompted with "
        "the true plan. "
        f"Seed {config['seed']}; {results['seconds'] / 60:.0f} min on "
        f"{results['environment']['torch_threads']} CPU threads.",
        "",
        "Example training plans:",
        "",
    ]
    for style, run in results["styles"].items():
        lines += [f"- {style}: " + "; ".join(f'"{p}"' for p in run["example_plans"])]
    return "\n".join(lines)


def run_plans_command(args: Any, command_line: str) -> list[str]:
    """``vlm2vla-experiment plans``: run, write the table, optionally the docs."""
    if args.profile == "smoke":
        config = smoke_config(args.model, args.seed)
    else:
        config = PlansConfig(seed=args.seed, model=args.model)
    results = run_plans(config, args.out, progress=not args.quiet)
    table = markdown_table(results)
    return docs.publish_tables(args.out, "plans", table, args.write_docs, command_line)
