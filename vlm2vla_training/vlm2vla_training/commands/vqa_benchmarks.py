"""``vlm2vla-train vqa-benchmarks``: the paper's 12-benchmark VQA retention: commands and table."""

from __future__ import annotations

import argparse
import functools
import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from vlm2vla_policy.cli_options import Options

if TYPE_CHECKING:
    from vlm2vla_training.evaluation.external import BenchmarkRun
    from vlm2vla_training.vqa_benchmarks_config import VqaBenchmarksConfig

HELP = "write the VQA retention runs (VLMEvalKit / lmms-eval, with and without the adapter)"
DESCRIPTION = """\
The paper's VQA retention: 12 benchmarks (MMMU, MMStar, MME, OCRBench, MMBench-en/-cn, TextVQA,
DocVQA, InfoVQA, AI2D, ChartQA, RealWorldQA) scored for the base model and for the model with the
adapter, and their ratio. Neither toolkit knows LoRA adapters, so the adapter runs evaluate the
adapter merged into the base weights (--merge does that now, into <out>/merged). Writes to --out
and prints:

  commands.sh   the merge (unless done) and each toolkit's run of the base model (no adapter)
                and of the merged one; VLMEvalKit's from a checkout named by $VLMEVALKIT
  results.json  the scores to fill in per run and benchmark (kept if it exists): percent, MME
                perception + cognition (0-2800), OCRBench's score (0-1000)
  retention.md  the paper's table: benchmark, metric, base, + adapter, retention = adapter / base
                (--results fills it from a results file)

Run the commands where the toolkit is installed, with a GPU (benchmarks download their data).

examples:
  vlm2vla-train vqa-benchmarks --adapter ~/runs/a/adapter --out ~/runs/a/vqa
  vlm2vla-train vqa-benchmarks --adapter ~/runs/a/adapter --out ~/runs/a/vqa --merge
  vlm2vla-train vqa-benchmarks --adapter ~/runs/a/adapter --out ~/runs/a/vqa \\
      --results ~/runs/a/vqa/results.json
  vlm2vla-train vqa-benchmarks ... --tools lmms-eval --benchmarks MMMU_DEV_VAL MME
"""
COMMANDS_FILE = "commands.sh"
RESULTS_FILE = "results.json"
TABLE_FILE = "retention.md"
MERGED_DIR = "merged"  # the adapter merged into the base weights, what the adapter runs evaluate
IN_VLMEVALKIT = 'cd "${VLMEVALKIT:?set VLMEVALKIT to a VLMEvalKit checkout}"'


@functools.cache
def options() -> Options:
    """The flags: :class:`~vlm2vla_training.vqa_benchmarks_config.VqaBenchmarksConfig`'s."""
    from vlm2vla_training.vqa_benchmarks_config import VqaBenchmarksConfig

    return Options(
        VqaBenchmarksConfig,
        ("model", "adapter", "out", "tools", "benchmarks", "merge", "results"),
        required=("adapter", "out"),
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``vqa-benchmarks``."""
    options().add_to(parser)


def run(args: argparse.Namespace) -> list[str]:
    """Merge if asked, write the commands, results skeleton and table; return what to show."""
    from vlm2vla_training.evaluation.external import export_merged_model, retention_runs
    from vlm2vla_training.evaluation.retention_table import (
        load_scores,
        results_template,
        retention_table,
    )

    config = options().apply(args)
    scores = load_scores(config.results) if config.results else None
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    merged = out / MERGED_DIR
    if config.merge:
        export_merged_model(config.model, config.adapter, merged)
    runs = retention_runs(config.model, merged, out, config.tools, config.benchmarks)
    lines = _commands(config, runs, merged)
    (out / COMMANDS_FILE).write_text("\n".join(["#!/usr/bin/env bash", *lines]) + "\n")
    results = out / RESULTS_FILE
    if not results.exists():
        results.write_text(json.dumps(results_template(config.benchmarks), indent=2) + "\n")
    table = retention_table(config.benchmarks, scores)
    (out / TABLE_FILE).write_text(table)
    return [
        f"commands: {out / COMMANDS_FILE}",
        *lines,
        f"results to fill in: {results}",
        f"table: {out / TABLE_FILE}" + (f" (from {config.results})" if scores else ""),
        *table.splitlines(),
    ]


def _commands(config: VqaBenchmarksConfig, runs: list[BenchmarkRun], merged: Path) -> list[str]:
    """The shell lines of the runs, each after a comment naming it; the merge first if not done."""
    lines = ["# VQA retention runs (vlm2vla-train vqa-benchmarks)"]
    if not (merged / "config.json").is_file():
        lines += ["# merge the adapter first (writes the checkpoint the adapter runs evaluate)"]
        lines += [shlex.join(_merge_command(config))]
    for item in runs:
        command = shlex.join(item.command)
        in_place = f"({IN_VLMEVALKIT} && {command})" if item.tool == "vlmevalkit" else command
        lines += [f"# {item.tool}, {item.label}", in_place]
    return lines


def _merge_command(config: VqaBenchmarksConfig) -> list[str]:
    """``vqa-benchmarks --merge`` with ``config``'s model, adapter, out, tools and benchmarks.

    Local paths are absolute, so that it runs from anywhere.
    """
    from vlm2vla_training.evaluation.external import checkpoint_location

    return [
        "vlm2vla-train", "vqa-benchmarks", "--model", checkpoint_location(config.model),
        "--adapter", str(Path(config.adapter).resolve()), "--out", str(Path(config.out).resolve()),
        "--tools", *config.tools, "--benchmarks", *config.benchmarks, "--merge",
    ]  # fmt: skip
