"""``vlm2vla-train build``: samples of every stage -> a Hugging Face dataset."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from vlm2vla_policy.cli_options import Options

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


@functools.cache
def options() -> Options:
    """The flags of ``build``: :class:`~vlm2vla_training.dataset_build.BuildConfig`'s settings."""
    from vlm2vla_training.dataset_build import BuildConfig

    return Options(
        BuildConfig,
        ("labels", "seed", "eval_fraction", "samples.stages", "samples.window_stride_steps",
         "samples.negatives_per_positive", "samples.use_label_plans",
         "samples.drop_disagreeing_plans", "samples.language.plan.style"),
        rename={"samples.use_label_plans": "--no-label-plans",
                "samples.drop_disagreeing_plans": "--keep-disagreeing-plans",
                "samples.language.plan.style": "--plan-style"},
    )  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``build``."""
    parser.add_argument("--store", required=True, type=Path, help="episode store")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    options().add_to(parser)


def run(args: argparse.Namespace) -> list[str]:
    """Build; return the summary lines (samples per stage, examples per second, paths)."""
    from vlm2vla_training.dataset_build import build
    from vlm2vla_training.store import EpisodeStore

    config = options().apply(args)
    report = build(EpisodeStore(args.store), args.out, config, progress=not args.quiet)
    return [
        report.summary(),
        f"samples: {report.totals['samples']}",
        f"throughput: {report.totals['examples_per_s']} examples/s",
        f"dataset: {args.out / 'dataset'}  report: {args.out / 'build_report.json'}",
    ]
