"""Likelihood: action chunks as language versus AT tokens under the pretrained model.

VLM2VLA's argument: chunks written with ordinary digits are text the base model already finds
likely, so fine-tuning on them moves the model less than fine-tuning on numbers written with the
tokenizer's least-likely tokens (the VLM2VLA-AT ablation). This experiment measures the first
half: for the same chunks after the same prompt, the log-probability under the pretrained
Gemma-3-270M (text-only; the image replaced by a scene description, see
:mod:`~vlm2vla_experiments.paper.textonly`) of the language encoding and of the AT encoding,
per token, per digit token and per chunk, with paired bootstrap confidence intervals of the
difference (AT minus language). The AT table is chosen from the same model
(:func:`~vlm2vla_policy.language.rank_tokens_by_model`). Log-probabilities are natural logs (nats).
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vlm2vla_experiments.paper.lm import (
    DTYPES,
    MODEL_CHOICES,
    TextModel,
    answer_ids,
    load_text_model,
    render_prompt,
    score_continuations,
)
from vlm2vla_experiments.paper.stats import Interval, paired_difference, ratio
from vlm2vla_experiments.paper.textonly import TextTaskConfig, text_chunk_samples
from vlm2vla_policy.language import AtChunkCodec, AtTable, build_at_table, rank_tokens_by_model

ENCODINGS: tuple[str, ...] = ("language", "at")
"""The two encodings compared: digits as text, and digits as AT tokens."""


@dataclass(frozen=True)
class LikelihoodConfig:
    """What the likelihood experiment scores and how."""

    # Chunks scored (the first ones of the synthetic episode stream).
    num_chunks: int = 300
    # Seed of the bootstrap (the episodes: task.seed; the command line sets both).
    seed: int = 0
    # The synthetic episodes and chunk windows.
    task: TextTaskConfig = field(default_factory=TextTaskConfig)
    # "gemma3-270m" (real pretrained weights) or "tiny" (random, for tests).
    model: str = "gemma3-270m"
    # Weight dtype; float32 keeps the reported log-probabilities exact to print precision.
    dtype: str = "float32"
    # Bootstrap resamples and confidence level of the intervals.
    bootstrap_resamples: int = 2000
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.num_chunks < 2:
            raise ValueError("num_chunks must be >= 2")
        if self.model not in MODEL_CHOICES or self.dtype not in DTYPES:
            raise ValueError(f"model must be one of {MODEL_CHOICES} and dtype one of {DTYPES}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class ChunkScore:
    """Scores of one chunk in one encoding (nats)."""

    # Answer tokens and their summed log-probability.
    tokens: int
    logprob: float
    # Tokens that write digits (plain digit tokens, or the AT table's tokens) and their sum.
    digit_tokens: int
    digit_logprob: float


@dataclass
class LikelihoodResult:
    """Everything the experiment measured; :meth:`to_dict` is what gets saved."""

    config: LikelihoodConfig
    model_name: str
    model_source: str
    at_table: AtTable
    # Encoding -> one ChunkScore per chunk, in sample order.
    scores: dict[str, list[ChunkScore]]
    # Episode id and step of each chunk.
    chunks: list[tuple[str, int]]
    # Metric -> bootstrap interval of (AT minus language).
    differences: dict[str, Interval]
    # Seconds spent loading, choosing the AT table, scoring; and where it ran.
    timing: dict[str, float]
    environment: dict[str, Any]

    def arrays(self, encoding: str) -> dict[str, np.ndarray]:
        """Per-chunk arrays of ``encoding``: tokens, logprob, digit_tokens, digit_logprob."""
        rows = self.scores[encoding]
        return {
            name: np.array([getattr(row, name) for row in rows], dtype=np.float64)
            for name in ("tokens", "logprob", "digit_tokens", "digit_logprob")
        }

    def means(self, encoding: str) -> dict[str, float]:
        """Per token (pooled), per digit token (pooled) and per chunk means of ``encoding``."""
        a = self.arrays(encoding)
        return {
            "per_token": ratio(a["logprob"], a["tokens"]),
            "per_digit_token": ratio(a["digit_logprob"], a["digit_tokens"]),
            "per_chunk": float(a["logprob"].mean()),
            "tokens_per_chunk": float(a["tokens"].mean()),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the config, summary, intervals and every per-chunk score."""
        return {
            "experiment": "likelihood",
            "config": self.config.to_dict(),
            "model": {"name": self.model_name, "source": self.model_source},
            "at_table": self.at_table.to_dict(),
            "means": {encoding: self.means(encoding) for encoding in ENCODINGS},
            "differences_at_minus_language": {
                name: interval.to_dict() for name, interval in self.differences.items()
            },
            "timing_s": self.timing,
            "environment": self.environment,
            "chunks": [
                {
                    "episode_id": episode_id,
                    "step": step,
                    **{enc: asdict(self.scores[enc][i]) for enc in ENCODINGS},
                }
                for i, (episode_id, step) in enumerate(self.chunks)
            ],
        }

    def save(self, path: Path) -> None:
        """Write :meth:`to_dict` as JSON."""
        path.write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n")


def environment() -> dict[str, Any]:
    """Versions and threads, recorded beside the numbers."""
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads(),
        "machine": platform.machine(),
    }


def at_table_for(text: TextModel) -> AtTable:
    """The model's AT table: its least likely tokens after BOS, checked for clean tokenization."""
    ranking, method = rank_tokens_by_model(text.model, text.tokenizer)
    return build_at_table(text.tokenizer, ranking, method)


def _chunk_score(logprobs: np.ndarray, digit_mask: np.ndarray) -> ChunkScore:
    return ChunkScore(
        tokens=len(logprobs),
        logprob=float(logprobs.sum()),
        digit_tokens=int(digit_mask.sum()),
        digit_logprob=float(logprobs[digit_mask].sum()),
    )


def run_likelihood(
    config: LikelihoodConfig, text: TextModel | None = None, progress: bool = True
) -> LikelihoodResult:
    """Score ``config.num_chunks`` chunks in both encodings; see the module docstring.

    ``text`` overrides the model named in the config (tests pass a tiny one).
    """
    from tqdm.auto import tqdm

    started = time.perf_counter()
    text = text or load_text_model(config.model, config.dtype, config.seed)
    loaded = time.perf_counter()
    table = at_table_for(text)
    at_codec = AtChunkCodec(table)
    at_ids = set(table.token_ids)
    chosen = time.perf_counter()
    samples = text_chunk_samples(config.task, num_samples=config.num_chunks)
    tokenizer = text.tokenizer
    scores: dict[str, list[ChunkScore]] = {encoding: [] for encoding in ENCODINGS}
    for sample in tqdm(samples, desc="scoring chunks", unit="chunk", disable=not progress):
        at_text = at_codec.encode(sample.steps)
        if table.from_at(at_text) != sample.answer:
            raise RuntimeError(f"AT text {at_text!r} does not map back to {sample.answer!r}")
        language = answer_ids(tokenizer, sample.answer)
        at = answer_ids(tokenizer, at_text)
        prompt = render_prompt(tokenizer, sample.messages)
        lang_lp, at_lp = score_continuations(text.model, prompt, [language, at])
        is_digit = np.array([tokenizer.decode([i]).strip().isdigit() for i in language])
        scores["language"].append(_chunk_score(lang_lp, is_digit))
        scores["at"].append(_chunk_score(at_lp, np.array([i in at_ids for i in at])))
    scored = time.perf_counter()
    result = LikelihoodResult(
        config=config,
        model_name=text.name,
        model_source=text.source,
        at_table=table,
        scores=scores,
        chunks=[(s.episode_id, s.step) for s in samples],
        differences={},
        timing={},
        environment={**environment(), "dtype": config.dtype},
    )
    lang, at = result.arrays("language"), result.arrays("at")
    ones = np.ones(len(samples))
    rng = np.random.default_rng(config.seed)
    pairs = {
        "per_token": ((lang["logprob"], lang["tokens"]), (at["logprob"], at["tokens"])),
        "per_digit_token": (
            (lang["digit_logprob"], lang["digit_tokens"]),
            (at["digit_logprob"], at["digit_tokens"]),
        ),
        "per_chunk": ((lang["logprob"], ones), (at["logprob"], ones)),
    }
    for name, (a, b) in pairs.items():
        result.differences[name] = paired_difference(
            a, b, rng, config.bootstrap_resamples, config.confidence
        )
    result.timing.update(
        load=round(loaded - started, 2),
        at_table=round(chosen - loaded, 2),
        scoring=round(scored - chosen, 2),
        total=round(time.perf_counter() - started, 2),
    )
    return result


def markdown_table(result: LikelihoodResult) -> str:
    """The result as a Markdown table plus a one-line reading of it."""
    lang, at = result.means("language"), result.means("at")
    diff = result.differences
    level = round(result.config.confidence * 100)
    rows = [
        ("log p per token (all answer tokens)", "per_token"),
        ("log p per digit token", "per_digit_token"),
        ("log p per chunk (sum over its tokens)", "per_chunk"),
    ]
    lines = [
        f"| mean, nats | language | AT | AT − language ({level} % CI) |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {label} | {lang[key]:.3f} | {at[key]:.3f} | {diff[key].text(3)} |"
        for label, key in rows
    ]
    lines.append(
        f"| tokens per chunk | {lang['tokens_per_chunk']:.2f} | {at['tokens_per_chunk']:.2f} | |"
    )
    per_token = diff["per_token"]
    orders = -diff["per_chunk"].estimate / np.log(10.0)
    lines += [
        "",
        f"{result.config.num_chunks} chunks, model {result.model_name} ({result.config.dtype}), "
        f"AT table by {result.at_table.method}: "
        + " ".join(f"`{t}`" for t in result.at_table.token_strings)
        + f" for the digits 0-9. Per answer token the AT encoding is "
        f"{-per_token.estimate:.2f} nats less likely ({level} % CI {-per_token.high:.2f} to "
        f"{-per_token.low:.2f}); a whole AT chunk is about 10^{orders:.0f} times less likely "
        "than its language twin. "
        f"Wall time {result.timing['total']:.0f} s (load {result.timing['load']:.0f} s, "
        f"scoring {result.timing['scoring']:.0f} s) on {result.environment['torch_threads']} "
        "CPU threads.",
    ]
    return "\n".join(lines)


def plot(result: LikelihoodResult, path: Path) -> None:
    """Histograms of per-chunk log-probabilities of both encodings (PNG, matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(9, 3.4), dpi=90)
    colors = {"language": "tab:blue", "at": "tab:red"}
    labels = {"language": "language (digits)", "at": "AT (least-likely tokens)"}
    panels = (
        ("mean log p per answer token (nats)", lambda a: a["logprob"] / a["tokens"]),
        ("log p of the whole chunk (nats)", lambda a: a["logprob"]),
    )
    for axis, (title, value) in zip(axes, panels, strict=True):
        data = {encoding: value(result.arrays(encoding)) for encoding in ENCODINGS}
        edges = np.histogram_bin_edges(np.concatenate(list(data.values())), bins=40)
        for encoding in ENCODINGS:
            axis.hist(
                data[encoding],
                bins=edges,
                alpha=0.6,
                color=colors[encoding],
                label=labels[encoding],
            )
        axis.set_xlabel(title)
        axis.set_ylabel("chunks")
    axes[0].legend(fontsize=8)
    figure.suptitle(
        f"Action chunks under pretrained {result.model_name}: language vs AT "
        f"({result.config.num_chunks} chunks)",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
