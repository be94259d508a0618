"""``eval``: offline metrics of a trained adapter on the held-out episodes, plots, VQA retention.

The real runtime answers: :func:`vlm2vla_policy.runtime.make_policy` loads the base model with
the adapter (its metadata gives the text format, AT table included) and every eval-split sample's
prompt (the same chat messages and images the dataset holds) goes through the policy's stage
runner with greedy decoding. Outputs are parsed by the runtime, truths by the language module.

Output directory::

    metrics.json        per stage: parse rate and the stage's metrics (action_metrics), VQA
    predictions.jsonl   one record per sample: row, episode, stage, truth, output, parsed
    trajectory.png      predicted vs true cumulative displacement per axis, a few episodes
    training_curve.png  loss and learning rate per step (when a training run is given)
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vlm2vla_policy.language import LanguageConfig, LanguageFormatError, Stage, parse_output
from vlm2vla_training.built_dataset import load_built_data
from vlm2vla_training.eval_config import EvalConfig
from vlm2vla_training.evaluation.action_metrics import (
    chunk_metrics,
    direction_metrics,
    plan_metrics,
    subtask_metrics,
    verdict_metrics,
)
from vlm2vla_training.evaluation.plots import plot_training_curve, plot_trajectories
from vlm2vla_training.evaluation.vqa import score_questions, vqa_retention
from vlm2vla_training.evaluation.vqa_questions import builtin_questions
from vlm2vla_training.fit.chat_samples import clean_messages
from vlm2vla_training.fit.checkpoint import CONFIG_FILE
from vlm2vla_training.fit.data import stage_rows
from vlm2vla_training.fit.run import ADAPTER_DIR, MODEL_DIR
from vlm2vla_training.fit.train_log import read_train_log

MAX_NEW_TOKENS: dict[str, int] = {
    "subtasks": 160,
    "plan": 32,
    "chunk": 256,
    "verification": 32,
    "direction": 8,
}
"""Answer budget per stage, tokens (the runtime's defaults; direction is one word)."""

METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.jsonl"
TRAJECTORY_PNG = "trajectory.png"
TRAINING_CURVE_PNG = "training_curve.png"


def resolve_run(config: EvalConfig) -> EvalConfig:
    """Fill model, adapter, data and base_model from ``config.run``'s files where empty."""
    if not config.run:
        if not (config.model and config.data):
            raise ValueError("eval needs --run, or --model and --data (and --adapter for LoRA)")
        return config
    run = Path(config.run)
    path = run / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run} is not a fit run directory (no {CONFIG_FILE})")
    train = json.loads(path.read_text())["train_config"]
    full = train["finetune"] == "full"
    output = run / (MODEL_DIR if full else ADAPTER_DIR)
    if not output.is_dir():
        raise FileNotFoundError(f"{output} is missing: the run has not finished; resume `fit`")
    return dataclasses.replace(
        config,
        data=config.data or train["data"],
        model=config.model or (str(output) if full else train["model"]),
        adapter=config.adapter or ("" if full else str(output)),
        base_model=config.base_model or (train["model"] if full else ""),
    )


@dataclass(frozen=True)
class Prediction:
    """One evaluated sample."""

    # Row index in the eval split, its episode, stage and frames.
    row: int
    episode_id: str
    stage: str
    frames: tuple[int, ...]
    # The true answer text and the parsed truth.
    answer: str
    truth: Any
    # What the policy wrote (last attempt) and its parsed value (None when unparsable).
    output: str
    value: Any


def evaluate(config: EvalConfig, progress: bool = True) -> dict[str, Any]:
    """Evaluate as ``config`` says; write the files listed in the module docstring.

    Returns the metrics (also in ``metrics.json``).
    """
    from vlm2vla_policy.runtime import ModelConfig, PolicyConfig, make_policy

    started = time.monotonic()
    config = resolve_run(config)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_built_data(config.data)
    split = data.splits["eval"]
    if len(split) == 0:
        raise ValueError(f"the eval split of {config.data} is empty; build with --eval-fraction")
    rows = sorted(
        row
        for stage in config.stages
        for row in stage_rows(split, (stage,))[: config.max_samples_per_stage]
    )

    policy = make_policy(
        PolicyConfig(
            model=ModelConfig(
                model=config.model, adapter=config.adapter, device=config.device, dtype=config.dtype
            ),
            constrained=config.constrained,
            max_retries=config.max_retries,
            seed=config.seed,
        )
    )
    budgets = {s: config.max_new_tokens or n for s, n in MAX_NEW_TOKENS.items()}
    predictions = predict(
        policy, split, rows, language=data.language, max_new_tokens=budgets, progress=progress
    )
    _write_predictions(out / PREDICTIONS_FILE, predictions)
    metrics: dict[str, Any] = {
        "model": config.model,
        "adapter": config.adapter,
        "data": config.data,
        "samples": len(predictions),
        "constrained": config.constrained,
        "max_retries": config.max_retries,
        "stages": stage_metrics(predictions, _chunk_truths(split, data.language), data.language),
    }

    plots = [str(_trajectory_plot(predictions, config.trajectory_episodes, out / TRAJECTORY_PNG))]
    records = read_train_log(config.run) if config.run else []
    if records:
        plots.append(str(plot_training_curve(records, out / TRAINING_CURVE_PNG)))
    metrics["plots"] = plots

    if config.vqa:
        loaded = policy.backend.loaded
        questions = builtin_questions(config.vqa_image_questions, config.seed)
        if config.adapter:
            metrics["vqa"] = vqa_retention(loaded.model, loaded.processor, questions)
        elif config.base_model:
            from vlm2vla_policy.runtime import load_model

            base = load_model(
                ModelConfig(model=config.base_model, device=config.device, dtype=config.dtype)
            )
            metrics["vqa"] = vqa_retention(
                loaded.model, loaded.processor, questions, base_model=base.model
            )
        else:
            score = score_questions(loaded.model, loaded.processor, questions)
            metrics["vqa"] = {"questions": len(questions), "accuracy": round(score.accuracy, 4)}
    metrics["elapsed_s"] = round(time.monotonic() - started, 2)
    (out / METRICS_FILE).write_text(json.dumps(metrics, indent=1, sort_keys=True) + "\n")
    return metrics


def predict(
    policy: Any,
    split: Any,
    rows: list[int],
    *,
    language: LanguageConfig,
    max_new_tokens: dict[str, int],
    progress: bool,
) -> list[Prediction]:
    """Ask ``policy`` each selected row's prompt; parse the truths with the dataset's format.

    Decoding is greedy with ``max_new_tokens`` per stage name.
    """
    from vlm2vla_policy.runtime import ChatPrompt, OutputParseError, SamplingConfig

    predictions = []
    episode = None
    for row in tqdm(rows, desc="eval", unit="sample", disable=not progress):
        record = split[row]
        if record["episode_id"] != episode:
            policy.reset()  # a new episode: cached prompt prefixes are of no use
            episode = record["episode_id"]
        stage = Stage(record["stage"])
        prompt = ChatPrompt(
            messages=tuple(clean_messages(record["messages"])[:-1]),
            images=tuple(image.convert("RGB") for image in record["images"]),
        )
        # Greedy: metrics of the most likely answer, reproducible from run to run.
        sampling = SamplingConfig(
            temperature=0.0, top_p=1.0, max_new_tokens=max_new_tokens[stage.value]
        )
        try:
            result = policy.runner.run(stage, prompt, sampling)
            output, value = result.raw_text, result.value
        except OutputParseError as exc:
            output, value = exc.raw_text, None
        predictions.append(
            Prediction(
                row=row,
                episode_id=record["episode_id"],
                stage=stage.value,
                frames=tuple(record["frames"]),
                answer=record["answer"],
                truth=parse_output(stage, record["answer"], language),
                output=output,
                value=value,
            )
        )
    return predictions


def stage_metrics(
    predictions: list[Prediction],
    chunk_truths: dict[tuple, list],
    language: LanguageConfig,
) -> dict[str, Any]:
    """The metrics of each evaluated stage (see :mod:`~.action_metrics`)."""
    by_stage: dict[str, list[Prediction]] = defaultdict(list)
    for prediction in predictions:
        by_stage[prediction.stage].append(prediction)
    results: dict[str, Any] = {}
    for stage, items in sorted(by_stage.items()):
        pairs = [(p.value, p.truth) for p in items]
        if stage == Stage.CHUNK.value:
            results[stage] = chunk_metrics(pairs, language.plan.dead_zone_m)
        elif stage == Stage.PLAN.value:
            triples = [(p.value, p.truth, chunk_truths.get(_window(p))) for p in items]
            results[stage] = plan_metrics(triples, language.plan)
        elif stage == Stage.SUBTASKS.value:
            results[stage] = subtask_metrics(pairs)
        elif stage == Stage.VERIFICATION.value:
            results[stage] = verdict_metrics(pairs)
        else:
            results[stage] = direction_metrics(pairs)
    return results


def _window(prediction: Prediction) -> tuple:
    return (prediction.episode_id, prediction.frames)


def _chunk_truths(split: Any, language: LanguageConfig) -> dict[tuple, list]:
    """True chunk of each (episode, frames) window of the split, for plan checks."""
    columns = split.select_columns(["episode_id", "stage", "frames", "answer"])
    truths = {}
    for record in columns:
        if record["stage"] == Stage.CHUNK.value:
            try:
                steps = parse_output(Stage.CHUNK, record["answer"], language)
            except LanguageFormatError:
                continue
            truths[(record["episode_id"], tuple(record["frames"]))] = steps
    return truths


def _trajectory_plot(predictions: list[Prediction], episodes: int, path: Path) -> Path:
    chunks: dict[str, tuple[list, list]] = {}
    for prediction in predictions:
        if prediction.stage != Stage.CHUNK.value:
            continue
        if prediction.episode_id not in chunks and len(chunks) >= episodes:
            continue
        predicted, truth = chunks.setdefault(prediction.episode_id, ([], []))
        predicted.append(prediction.value)
        truth.append(prediction.truth)
    return plot_trajectories(chunks, path)


def _write_predictions(path: Path, predictions: list[Prediction]) -> None:
    with path.open("w") as stream:
        for p in predictions:
            record = {
                "row": p.row,
                "episode_id": p.episode_id,
                "stage": p.stage,
                "frames": list(p.frames),
                "answer": p.answer,
                "output": p.output,
                "parsed": p.value is not None,
            }
            stream.write(json.dumps(record) + "\n")
