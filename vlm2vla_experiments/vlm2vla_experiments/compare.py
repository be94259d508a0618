"""Compare two ``vlm2vla-sim-eval`` runs seed by seed (is policy A better than policy B).

``python -m vlm2vla_experiments.compare artifacts/eval/demo artifacts/eval/random`` reads both
``summary.json`` files, keeps the seeds both ran, and prints per metric (success, final and
closest EE-to-object distance) each run's mean and the paired difference A - B with a 95 %
bootstrap interval over seeds (resampling seeds, so layout difficulty cancels). ``--json`` writes
the table as JSON too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from vlm2vla_experiments.paper.stats import paired_difference

BOOTSTRAP_RESAMPLES = 10_000  # resamples of the seeds for each interval

METRICS = (
    ("success", "success rate", 1.0, ""),
    ("final_distance_m", "final EE-object distance", 100.0, " cm"),
    ("closest_distance_m", "closest EE-object distance", 100.0, " cm"),
)
"""(per-episode field, label, display scale, unit) of each compared metric."""


def compare(summary_a: dict[str, Any], summary_b: dict[str, Any]) -> dict[str, Any]:
    """Per-metric means of both runs and their paired difference, on the seeds both ran."""
    by_seed_a = {e["seed"]: e for e in summary_a["per_episode"]}
    by_seed_b = {e["seed"]: e for e in summary_b["per_episode"]}
    seeds = sorted(set(by_seed_a) & set(by_seed_b))
    if not seeds:
        raise ValueError("the two runs share no seed; run both with the same --start-seed")
    ones = np.ones(len(seeds))
    table = {}
    for field, _, _, _ in METRICS:
        a = np.array([float(by_seed_a[s][field]) for s in seeds])
        b = np.array([float(by_seed_b[s][field]) for s in seeds])
        # stats.paired_difference gives mean(second) - mean(first) with a paired bootstrap.
        diff = paired_difference(
            (b, ones), (a, ones), np.random.default_rng(0), BOOTSTRAP_RESAMPLES
        )
        table[field] = {
            "a": float(a.mean()),
            "b": float(b.mean()),
            "mean": diff.estimate,
            "ci95_low": diff.low,
            "ci95_high": diff.high,
        }
    return {"a": summary_a["policy"], "b": summary_b["policy"], "seeds": seeds, "metrics": table}


def format_table(result: dict[str, Any]) -> str:
    """The comparison as a Markdown table."""
    lines = [
        f"A = {result['a']}, B = {result['b']}, {len(result['seeds'])} paired seeds",
        "",
        "| metric | A | B | A - B (95 % bootstrap CI) |",
        "|---|---|---|---|",
    ]
    for field, label, scale, unit in METRICS:
        row = result["metrics"][field]
        lines.append(
            f"| {label} | {row['a'] * scale:.2f}{unit} | {row['b'] * scale:.2f}{unit} | "
            f"{row['mean'] * scale:+.2f}{unit} ({row['ci95_low'] * scale:+.2f} .. "
            f"{row['ci95_high'] * scale:+.2f}) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the comparison of two evaluation directories; 2 when one cannot be read."""
    parser = argparse.ArgumentParser(
        prog="python -m vlm2vla_experiments.compare", description=__doc__
    )
    parser.add_argument("run_a", type=Path, help="vlm2vla-sim-eval --out directory of policy A")
    parser.add_argument("run_b", type=Path, help="... of policy B (e.g. the random baseline)")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)
    try:
        summaries = [
            json.loads((run / "summary.json").read_text()) for run in (args.run_a, args.run_b)
        ]
        result = compare(*summaries)
    except (OSError, ValueError, KeyError) as err:
        print(f"compare: error: {err}", file=sys.stderr)
        return 2
    print(format_table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
