"""Forgetting: what fine-tuning on action chunks costs in general ability, four ways.

Does it cost general ability, and do LoRA and language targets help? The paper's claim
(VLM2VLA, arXiv 2509.22195): LoRA on actions written as language keeps 85-118 % of the base
model's VQA scores, while fully fine-tuned VLAs lose nearly everything. At CPU scale this
experiment trains the pretrained Gemma-3-270M on the text-only chunk task
(:mod:`~vlm2vla_experiments.paper.textonly`) four ways with one budget:

* ``lora-language``, ``lora-at``: LoRA r=16 / alpha=32 on q/k/v/o/gate/up/down (the paper);
* ``full-language``, ``full-at``: every language-model weight trains (embeddings included);

``language`` writes chunk numbers with digits, ``at`` with the model's least-likely tokens.
Training is :func:`vlm2vla_training.fit.fit` itself, on a dataset written in ``build``'s format;
task accuracy is :func:`vlm2vla_training.evaluation.evaluate` (the runtime policy, greedy and
unconstrained, on held-out episodes); general ability is perplexity on
:data:`~vlm2vla_experiments.paper.general_text.PARAGRAPHS` and accuracy on
:func:`~vlm2vla_experiments.paper.general_text.general_questions` (plain-text scoring, see
:mod:`~vlm2vla_experiments.paper.probes`), before and after. Retention = after / before per
metric (for perplexity, above 1 means worse).

Learning rates follow one documented rule instead of a sweep (a sweep of four methods does not
fit the CPU budget): full fine-tuning gets the paper's 5e-5, LoRA ten times that, 5e-4, the
ratio Schulman et al. found optimal ("LoRA Without Regret", Thinking Machines, 2025) and the
usual LoRA range; the paper's 5e-5 for LoRA is set for thousands of steps (not tried here).
Both use linear warm-up then linear decay and see no training sample twice. Training runs in
float32 (``mixed_precision="no"``): on the 2-core test machine bf16 autocast was not faster for
this model size (casts and element-wise work dominate), and fp32 keeps the runs comparable with
the float32 scoring.

Layout of the output directory::

    base/               the 270M text weights as a Gemma-3 image-text checkpoint (fit's input)
    data/               the text-only dataset in build's format (train and eval splits)
    runs/<name>/        fit's run directory (adapter/ or model/, train_log.jsonl, metrics.json)
    runs/<name>/eval/   evaluate's output (metrics.json, predictions.jsonl)
    forgetting.json     every number below, the config and the seeds
    forgetting.md       the tables
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vlm2vla_experiments.paper import docs, probes
from vlm2vla_experiments.paper.general_text import PARAGRAPHS, general_questions
from vlm2vla_experiments.paper.stats import Interval, paired_difference, paired_ratio
from vlm2vla_experiments.paper.textonly import (
    TextChunkSample,
    TextTaskConfig,
    split_by_episode,
    text_chunk_samples,
)

RUN_NAMES: tuple[str, ...] = ("lora-language", "lora-at", "full-language", "full-at")
"""The four runs: fine-tuning method and chunk encoding."""

ENCODING_OF: dict[str, str] = {"language": "text", "at": "at"}
"""Run-name encoding -> fit's ``encoding`` value."""


@dataclass(frozen=True)
class ForgettingConfig:
    """Budget and settings of the forgetting experiment (one budget for all four runs)."""

    # Seed of fit: LoRA initialisation, sample order, dropout (the episodes: task.seed).
    seed: int = 0
    # "gemma3-270m" (real pretrained weights) or "tiny" (random, for smoke tests).
    model: str = "gemma3-270m"
    # Which runs to do, a subset of RUN_NAMES.
    runs: tuple[str, ...] = RUN_NAMES
    # The synthetic episodes and chunk windows.
    task: TextTaskConfig = field(default_factory=TextTaskConfig)
    # Episodes whose chunks train, and held-out episodes whose chunks test the task.
    train_episodes: int = 8
    eval_episodes: int = 2
    # Optimizer steps and samples per step, the same for every run.
    steps: int = 16
    batch_size: int = 4
    # Peak learning rates (see the module docstring for the rule) and warm-up steps.
    full_learning_rate: float = 5e-5
    lora_learning_rate: float = 5e-4
    warmup_steps: int = 2
    # fit's mixed precision: "no" (fp32), or "auto" (bf16 autocast on AVX512-BF16/AMX CPUs).
    mixed_precision: str = "no"
    # Held-out chunks decoded for task accuracy, and their token budget (the longest true answers
    # are about 110 tokens; decoding is memory-bound, about 1 GB of fp32 weights per token).
    task_eval_chunks: int = 12
    max_new_tokens: int = 128
    # How many paragraphs and questions the general probes use (0: all).
    paragraphs: int = 0
    questions: int = 0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.runs) - set(RUN_NAMES))
        if unknown or not self.runs:
            raise ValueError(f"runs must be a non-empty subset of {RUN_NAMES}, got {unknown}")
        if min(self.train_episodes, self.eval_episodes, self.steps, self.batch_size) < 1:
            raise ValueError("episodes, steps and batch_size must be >= 1")

    def learning_rate(self, run: str) -> float:
        """Peak learning rate of ``run``."""
        return self.lora_learning_rate if run.startswith("lora") else self.full_learning_rate

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        data = dataclasses.asdict(self)
        data["runs"] = list(self.runs)
        return data


def smoke_config(model: str = "tiny", seed: int = 0) -> ForgettingConfig:
    """A few steps on a few episodes: checks the plumbing in minutes, measures nothing."""
    return ForgettingConfig(
        seed=seed,
        model=model,
        train_episodes=2,
        eval_episodes=1,
        steps=2,
        batch_size=2,
        warmup_steps=0,
        task_eval_chunks=2,
        max_new_tokens=48 if model == "gemma3-270m" else 96,
        paragraphs=4,
        questions=4,
    )


# --- inputs: the base checkpoint and the dataset -------------------------------------------------


def prepare_base(model: str, directory: Path) -> Path:
    """The base model as a Gemma-3 image-text checkpoint in ``directory`` (kept between runs).

    fit trains image-text checkpoints; the 270M text weights get a tiny random vision tower that
    text-only prompts never use (:func:`~vlm2vla_policy.testing.tiny_gemma3.save_gemma3_270m_vlm`,
    from its disk cache).
    """
    from vlm2vla_policy.testing.tiny_gemma3 import cached_gemma3_270m_vlm, save_tiny_gemma3

    if (directory / "config.json").is_file():
        return directory
    partial = directory.with_name(f".partial-{directory.name}")
    if model == "gemma3-270m":
        shutil.copytree(cached_gemma3_270m_vlm(), partial)  # converted once per machine
    elif model == "tiny":
        save_tiny_gemma3(partial)
    else:
        raise ValueError(f"model must be 'gemma3-270m' or 'tiny', got {model!r}")
    partial.replace(directory)
    return directory


def dataset_row(sample: TextChunkSample) -> dict[str, Any]:
    """A dataset row in build's format for a text-only chunk sample (no images)."""
    answer = {"role": "assistant", "content": [{"type": "text", "text": sample.answer}]}
    return {
        "episode_id": sample.episode_id,
        "stage": sample.stage,
        "frames": [sample.step],
        "messages": [*sample.messages, answer],
        "images": [],
        "answer": sample.answer,
        "info": json.dumps({"text_only": True, "chunk_steps": len(sample.steps)}),
    }


def write_text_dataset(
    directory: Path,
    train: Sequence[TextChunkSample],
    held_out: Sequence[TextChunkSample],
    language: Any = None,
) -> Path:
    """Write the samples as ``vlm2vla-train build`` would (dataset/ and build_info.json).

    ``language`` is the samples' LanguageConfig (default: the default one).
    """
    from datasets import Dataset, DatasetDict

    from vlm2vla_policy.language import LanguageConfig
    from vlm2vla_training.built_dataset import DATASET_DIR, write_build_info
    from vlm2vla_training.dataset_build import features

    splits = {"train": train, "eval": held_out}
    parts = {
        name: Dataset.from_list([dataset_row(s) for s in samples], features=features())
        for name, samples in splits.items()
    }
    directory.mkdir(parents=True, exist_ok=True)
    DatasetDict(parts).save_to_disk(str(directory / DATASET_DIR))
    write_build_info(
        directory,
        language or LanguageConfig(),
        {"text_only": True},
        {n: sorted({s.episode_id for s in samples}) for n, samples in splits.items()},
        {name: dict(Counter(s.stage for s in samples)) for name, samples in splits.items()},
    )
    return directory


def split_samples(config: ForgettingConfig) -> tuple[list[TextChunkSample], list[TextChunkSample]]:
    """Training samples (first episodes of the stream) and held-out ones (the episodes after)."""
    total = config.train_episodes + config.eval_episodes
    samples = text_chunk_samples(config.task, num_episodes=total)
    train, held_out = split_by_episode(samples, config.train_episodes)
    needed = config.steps * config.batch_size
    if len(train) < needed:
        raise ValueError(
            f"{config.train_episodes} training episodes give {len(train)} samples, fewer than "
            f"steps x batch_size = {needed}; raise train_episodes"
        )
    return train, held_out


# --- general ability -----------------------------------------------------------------------------


def general_scores(model: Any, tokenizer: Any, config: ForgettingConfig) -> dict[str, Any]:
    """Perplexity on the paragraphs and multiple-choice accuracy (see ``probes``)."""
    paragraphs = PARAGRAPHS[: config.paragraphs or None]
    questions = general_questions()[: config.questions or None]
    return probes.general_scores(model, tokenizer, paragraphs, questions)


def load_for_scoring(model_dir: str, adapter: str = "") -> Any:
    """Model (with its adapter) and processor through the runtime's loader, float32 on CPU."""
    from vlm2vla_policy.runtime import ModelConfig, load_model

    return load_model(ModelConfig(model=model_dir, adapter=adapter, device="cpu", dtype="float32"))


# --- the experiment ------------------------------------------------------------------------------


def train_config(config: ForgettingConfig, run: str, base: Path, data: Path, out: Path) -> Any:
    """The fit config of ``run``: the paper's recipe with this experiment's budget."""
    from vlm2vla_training.fit import TrainConfig

    finetune, encoding = run.split("-")
    return TrainConfig(
        model=str(base),
        data=str(data),
        out=str(out),
        stages=("chunk",),
        encoding=ENCODING_OF[encoding],
        at_ranking="model",
        finetune=finetune,
        learning_rate=config.learning_rate(run),
        warmup_steps=config.warmup_steps,
        effective_batch_size=config.batch_size,
        per_device_batch_size=config.batch_size,
        max_steps=config.steps,
        mixed_precision=config.mixed_precision,
        seed=config.seed,
        checkpoint_every_steps=0,
        cpu=True,
    )


def run_one(
    config: ForgettingConfig, run: str, base: Path, data: Path, out: Path, *, progress: bool
) -> dict[str, Any]:
    """Train ``run``, then score its task accuracy and general ability."""
    from vlm2vla_training.evaluation import EvalConfig, evaluate
    from vlm2vla_training.fit import fit

    started = time.perf_counter()
    result = fit(train_config(config, run, base, data, out), progress=progress)
    trained = time.perf_counter()
    task = evaluate(
        EvalConfig(
            run=str(out),
            out=str(out / "eval"),
            stages=("chunk",),
            max_samples_per_stage=config.task_eval_chunks,
            constrained=False,
            device="cpu",
            dtype="float32",
            vqa=False,
            max_new_tokens=config.max_new_tokens,
            seed=config.seed,
        ),
        progress=progress,
    )
    evaluated = time.perf_counter()
    full = run.startswith("full")
    loaded = load_for_scoring(
        str(result.output_dir) if full else str(base), "" if full else str(result.output_dir)
    )
    general = general_scores(loaded.model, loaded.processor.tokenizer, config)
    chunk = task["stages"]["chunk"]
    metrics = result.metrics
    return {
        "learning_rate": config.learning_rate(run),
        "fit": {
            key: metrics.get(key)
            for key in (
                "steps",
                "samples",
                "first_loss",
                "final_loss",
                "s_per_step",
                "elapsed_s",
                "trainable_params",
                "total_params",
                "mixed_precision",
            )
        },
        "task": {
            "samples": chunk["samples"],
            "parse_rate": chunk["parse_rate"],
            "direction_agreement": chunk["direction_agreement"]["all"],
            "l1_cm": chunk["l1_cm"],
            "gripper_accuracy": chunk["gripper_accuracy"],
        },
        "general_after": general,
        "seconds": {
            "fit": round(trained - started, 1),
            "task_eval": round(evaluated - trained, 1),
            "general_eval": general["seconds"],
            "total": round(time.perf_counter() - started, 1),
        },
    }


def retention(
    before: dict[str, Any], after: dict[str, Any], rng: np.random.Generator, resamples: int = 2000
) -> dict[str, dict[str, float] | None]:
    """Ratio after / before of each general metric with a 95 % paired bootstrap interval.

    Perplexity (above 1 is worse) resamples paragraphs, accuracy resamples questions; the
    accuracy ratio is None when the base model got nothing right.
    """
    tokens = np.asarray(before["paragraph_tokens"], dtype=np.float64)
    text = paired_difference(
        (np.asarray(before["paragraph_logprobs"]), tokens),
        (np.asarray(after["paragraph_logprobs"]), tokens),
        rng,
        resamples,
    )
    # log(perplexity after / before) is minus the change in mean log-probability per token.
    perplexity = Interval(
        math.exp(-text.estimate), math.exp(-text.high), math.exp(-text.low), text.level
    )
    choice = None
    if sum(before["mc_correct"]):
        choice = paired_ratio(before["mc_correct"], after["mc_correct"], rng, resamples)
    return {
        "perplexity": _rounded(perplexity),
        "mc_accuracy": None if choice is None else _rounded(choice),
    }


def _rounded(interval: Interval) -> dict[str, float]:
    return {key: round(value, 4) for key, value in interval.to_dict().items()}


def run_forgetting(config: ForgettingConfig, out: Path, progress: bool = True) -> dict[str, Any]:
    """The whole experiment into ``out``; returns (and writes) ``forgetting.json``'s content.

    Finished fit runs in ``out/runs`` are reused (fit returns them as they are); their recorded
    training times are reported.
    """
    from tqdm import tqdm

    from vlm2vla_experiments.paper.likelihood import environment

    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    base = prepare_base(config.model, out / "base")
    train, held_out = split_samples(config)
    data = write_text_dataset(out / "data", train, held_out)
    prepared = time.perf_counter()
    loaded = load_for_scoring(str(base))
    before = general_scores(loaded.model, loaded.processor.tokenizer, config)
    del loaded
    results: dict[str, Any] = {
        "experiment": "forgetting",
        "config": config.to_dict(),
        "seeds": {
            "episodes": config.task.seed,
            "fit": config.seed,
            "note": "fit seeds LoRA init, sample order and dropout with config.seed",
        },
        "data": {"train_samples": len(train), "eval_samples": len(held_out)},
        "base": before,
        "runs": {},
        "environment": environment(),
    }
    for index, run in enumerate(config.runs):
        if progress:
            tqdm.write(f"[forgetting] run {index + 1}/{len(config.runs)}: {run}")
        record = run_one(config, run, base, data, out / "runs" / run, progress=progress)
        rng = np.random.default_rng([config.seed, RUN_NAMES.index(run)])
        record["retention"] = retention(before, record["general_after"], rng)
        results["runs"][run] = record
        if progress:
            done = time.perf_counter() - prepared
            left = done / (index + 1) * (len(config.runs) - index - 1)
            tqdm.write(f"[forgetting] {run} done; about {left / 60:.0f} min left")
    results["seconds"] = {
        "prepare": round(prepared - started, 1),
        "total": round(time.perf_counter() - started, 1),
    }
    (out / "forgetting.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return results


def _fmt_ratio(kept: dict[str, float] | None) -> str:
    if kept is None:
        return "n/a"
    return f"{kept['estimate']:.3f} [{kept['low']:.2f}, {kept['high']:.2f}]"


def markdown_tables(results: dict[str, Any]) -> str:
    """The retention table (like the paper's), the task table and a note on budget and seeds."""
    config, base = results["config"], results["base"]
    lines = [
        "| run | method | chunk numbers | peak lr | perplexity before → after | ratio (95 % CI) | "
        "MC accuracy before → after | ratio (95 % CI) |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, run in results["runs"].items():
        finetune, encoding = name.split("-")
        after, kept = run["general_after"], run["retention"]
        lines.append(
            f"| {name} | {'LoRA r=16' if finetune == 'lora' else 'full fine-tune'} | "
            f"{'digits' if encoding == 'language' else 'AT tokens'} | "
            f"{run['learning_rate']:.0e} | {base['perplexity']:.2f} → {after['perplexity']:.2f} "
            f"| {_fmt_ratio(kept['perplexity'])} | {base['mc_accuracy']:.3f} → "
            f"{after['mc_accuracy']:.3f} | {_fmt_ratio(kept['mc_accuracy'])} |"
        )
    lines += [
        "",
        "| run | train loss first → last 10 | parse rate | direction agreement | "
        "L1 cm x / y / z | trainable params | s / step | wall s (fit + evals) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run in results["runs"].items():
        fit, task = run["fit"], run["task"]
        l1 = docs.fmt_axes(task["l1_cm"])
        lines.append(
            f"| {name} | {docs.fmt(fit['first_loss'])} → {docs.fmt(fit['final_loss'])} | "
            f"{docs.fmt(task['parse_rate'])} | {docs.fmt(task['direction_agreement'])} | {l1} | "
            f"{fit['trainable_params']:,} | {docs.fmt(fit['s_per_step'], 1)} | "
            f"{run['seconds']['total']:.0f} |"
        )
    lines += [
        "",
        f"Model {config['model']}; {results['data']['train_samples']} training chunks from "
        f"{config['train_episodes']} episodes, {config['steps']} steps of batch "
        f"{config['batch_size']} for every run (linear warm-up {config['warmup_steps']} steps, "
        f"then linear decay); task scores on the first {config['task_eval_chunks']} chunks of "
        f"{config['eval_episodes']} held-out episodes, greedy, unconstrained. General probes: "
        f"perplexity on {base['tokens']} tokens of {config['paragraphs'] or len(PARAGRAPHS)} "
        f"paragraphs, {base['mc_questions']} multiple-choice questions (chance 0.25; one question "
        f"is {1 / base['mc_questions']:.3f}). Intervals: paired bootstrap over paragraphs and "
        "questions, 2,000 resamples. Train loss: nats per answer token, first step and mean of the "
        "last 10. Seeds: "
        f"episodes {results['seeds']['episodes']}, fit {results['seeds']['fit']}. Total wall time "
        f"{results['seconds']['total'] / 60:.0f} min on {results['environment']['torch_threads']}"
        " CPU threads.",
    ]
    return "\n".join(lines)


def run_forgetting_command(args: Any, command_line: str) -> list[str]:
    """``vlm2vla-experiment forgetting``: run, write the tables, optionally the docs."""
    if args.profile == "smoke":
        config = smoke_config(args.model, args.seed)
    else:
        config = ForgettingConfig(seed=args.seed, model=args.model)
    config = dataclasses.replace(config, task=dataclasses.replace(config.task, seed=args.seed))
    if args.runs:
        config = dataclasses.replace(config, runs=tuple(args.runs))
    results = run_forgetting(config, args.out, progress=not args.quiet)
    tables = markdown_tables(results)
    return docs.publish_tables(args.out, "forgetting", tables, args.write_docs, command_line)
