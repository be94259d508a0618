"""``vlm2vla-train build``: samples of every stage -> a Hugging Face dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "build training samples of every stage into a Hugging Face dataset"
DESCRIPTION = """\
Turn labeled episodes into training samples for each stage (subtask list, motion plan, action
chunk with the paper's chunking, verification positives and negatives, movement direction), with
prompts and answers written by vlm2vla_policy.language, and save a DatasetDict with "train" and
"eval" splits (split by episode) to <out>/dataset; load it with datasets.load_from_disk.
The same store, labels, settings and seed give the same dataset. Episodes already built (one
shard each under <out>/shards) are not rebuilt; a rerun with different settings is refused.

example:
  vlm2vla-train build --store ~/data/store --labels teacher --out ~/data/sft --seed 0
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``build``."""
    from vlm2vla_training.samples import ALL_STAGES

    parser.add_argument("--store", required=True, type=Path, help="episode store")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--labels", default="heuristic", help="labeler whose segments to use")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and the negatives")
    parser.add_argument("--eval-fraction", type=float, default=0.1, help="episodes held out")
    parser.add_argument(
        "--stages",
        nargs="+",
        choices=ALL_STAGES,
        default=list(ALL_STAGES),
        help="stages to build samples for",
    )
    parser.add_argument(
        "--window-stride-steps",
        type=int,
        default=0,
        help="0: one plan/chunk window per segment; k: also one every k steps inside it",
    )
    parser.add_argument(
        "--negatives-per-positive", type=int, default=1, help="verification negatives per positive"
    )
    parser.add_argument(
        "--no-label-plans",
        action="store_true",
        help="always write plans from the chunk, never take the labeled motion plan",
    )


def run(args: argparse.Namespace) -> list[str]:
    """Build; return the summary lines (samples per stage, examples per second, paths)."""
    from vlm2vla_training.dataset_build import BuildConfig, build
    from vlm2vla_training.samples import SampleConfig
    from vlm2vla_training.store import EpisodeStore

    config = BuildConfig(
        labels=args.labels,
        seed=args.seed,
        eval_fraction=args.eval_fraction,
        samples=SampleConfig(
            stages=tuple(args.stages),
            window_stride_steps=args.window_stride_steps,
            negatives_per_positive=args.negatives_per_positive,
            use_label_plans=not args.no_label_plans,
        ),
    )
    report = build(EpisodeStore(args.store), args.out, config, progress=not args.quiet)
    return [
        report.summary(),
        f"samples: {report.totals['samples']}",
        f"throughput: {report.totals['examples_per_s']} examples/s",
        f"dataset: {args.out / 'dataset'}  report: {args.out / 'build_report.json'}",
    ]
