"""The paper's VQA retention table: per benchmark, the base score, the adapter's and their ratio.

A results file holds both runs' scores, on each benchmark's own scale (percent; MME's
perception + cognition sum, 0-2800; OCRBench's score, 0-1000), keyed by any name
:func:`~vlm2vla_training.vqa_benchmarks.find_benchmark` knows; ``null`` is a score not yet in::

    {"base": {"MMMU_DEV_VAL": 46.0, "MME": 1520.4, ...}, "adapter": {"MMMU_DEV_VAL": 42.7, ...}}

:func:`results_template` writes that skeleton, :func:`load_scores` reads and checks it and
:func:`retention_table` renders the Markdown table (empty cells where a score is missing), with
retention = adapter / base in percent, as the paper gives it (85-118 %).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vlm2vla_training.evaluation.external import ADAPTER, BASE
from vlm2vla_training.vqa_benchmarks import PAPER_BENCHMARKS, Benchmark, find_benchmark

Scores = dict[str, dict[str, float]]  # run label (BASE, ADAPTER) -> VLMEvalKit name -> score
HEADER = ("Benchmark", "Metric", "Base", "+ adapter", "Retention")


def results_template(benchmarks: Sequence[str] = PAPER_BENCHMARKS) -> dict[str, Any]:
    """The results file to fill in: every benchmark's score of both runs, all ``None``."""
    names = [find_benchmark(b).vlmevalkit for b in benchmarks]
    return {label: dict.fromkeys(names) for label in (BASE, ADAPTER)}


def load_scores(path: str | Path) -> Scores:
    """The scores of the results file ``path``; ValueError naming what is wrong in it.

    Refused: run labels other than base/adapter, unknown or repeated benchmarks, scores that are
    not numbers or lie outside the benchmark's scale. ``null`` scores are left out.
    """
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or set(data) - {BASE, ADAPTER}:
        raise ValueError(f"{path}: expected an object with keys {BASE!r} and {ADAPTER!r}")
    return {label: _run_scores(path, label, data.get(label) or {}) for label in (BASE, ADAPTER)}


def retention_table(
    benchmarks: Sequence[str] = PAPER_BENCHMARKS,
    scores: Mapping[str, Mapping[str, float]] | None = None,
) -> str:
    """The Markdown table of ``benchmarks``, one row each, filled from ``scores`` where given."""
    scores = scores or {}
    rows = [HEADER, ("---",) * len(HEADER)]
    for name in benchmarks:
        bench = find_benchmark(name)
        base = scores.get(BASE, {}).get(bench.vlmevalkit)
        adapter = scores.get(ADAPTER, {}).get(bench.vlmevalkit)
        metric = f"{bench.metric}, {bench.unit}"
        rows.append((bench.title, metric, _score(base), _score(adapter), _ratio(adapter, base)))
    return "\n".join("| " + " | ".join(row) + " |" for row in rows) + "\n"


def _run_scores(path: str | Path, label: str, run: Any) -> dict[str, float]:
    if not isinstance(run, dict):
        raise ValueError(f"{path}: {label!r} must map benchmark names to scores")
    scores: dict[str, float] = {}
    for name, value in run.items():
        bench = find_benchmark(name)
        if bench.vlmevalkit in scores:
            raise ValueError(f"{path}: {label} gives {bench.title} twice")
        if value is not None:
            scores[bench.vlmevalkit] = _checked(path, label, bench, value)
    return scores


def _checked(path: str | Path, label: str, bench: Benchmark, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{path}: {label} {bench.title} score must be a number, got {value!r}")
    if not 0.0 <= value <= bench.scale:
        raise ValueError(
            f"{path}: {label} {bench.title} score {value} is outside its scale {bench.unit} "
            f"({bench.metric}, 0 to {bench.scale:g})"
        )
    return float(value)


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _ratio(adapter: float | None, base: float | None) -> str:
    if adapter is None or base is None:
        return ""
    return f"{100.0 * adapter / base:.1f} %" if base else "n/a"
