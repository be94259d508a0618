r"""``vlm2vla-sim-eval``: closed-loop success rate of a policy (or a random baseline) in the sim.

Examples::

    vlm2vla-sim-eval --task "pick up the block" --model artifacts/demo/base \\
        --adapter artifacts/demo/run/adapter --episodes 20 --out artifacts/eval/demo
    vlm2vla-sim-eval --task "pick up the block" --random --episodes 20 --out artifacts/eval/random
    vlm2vla-sim-eval --task "pick up the block" \\
        --base-url http://gpu-box:8000/v1 --remote-model vlm2vla --adapter ./adapter

Writes ``summary.json`` (success rate with its Wilson 95 % interval, mean final EE-to-object
distance, cycle times, every episode), and per episode a video and an EE-path plot, in ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from vlm2vla_experiments.evaluation import RandomPolicy, SimEvalConfig, evaluate_in_sim
from vlm2vla_sim.env import SimConfig, WidowXSim
from vlm2vla_sim.tasks import TASKS, parse_task


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``vlm2vla-sim-eval``."""
    parser = argparse.ArgumentParser(
        prog="vlm2vla-sim-eval",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="tasks: " + "; ".join(t.instruction for t in TASKS),
    )
    parser.add_argument("--task", required=True, help='instruction, e.g. "pick up the block"')
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--model", help="Gemma-3 checkpoint (local dir or HF id), backend hf")
    who.add_argument("--random", action="store_true", help="random-chunk baseline")
    who.add_argument("--base-url", help="OpenAI-compatible server (backend remote), e.g. .../v1")
    parser.add_argument("--adapter", default="", help="LoRA adapter directory (or local copy)")
    parser.add_argument("--remote-model", default="vlm2vla", help="served model name (remote)")
    parser.add_argument("--device", default="auto", help="torch device of the hf backend")
    parser.add_argument("--episodes", type=int, default=20, help="seeded episodes")
    parser.add_argument("--start-seed", type=int, default=1000, help="first scene seed")
    parser.add_argument("--max-cycles", type=int, default=8, help="chunks per episode at most")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed of the policy")
    parser.add_argument(
        "--verifier",
        choices=("onboard", "adapter", "none"),
        default="onboard",
        help="who verifies a subtask: the base model (onboard), the fine-tuned model (adapter), "
        "or nobody (none: advance after every chunk)",
    )
    parser.add_argument("--no-video", action="store_true", help="save no videos")
    parser.add_argument("--width", type=int, default=320, help="camera image width, pixels")
    parser.add_argument("--height", type=int, default=240, help="camera image height, pixels")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def make_eval_policy(args: argparse.Namespace):
    """The policy the arguments name, and a short name for the summary."""
    if args.random:
        return RandomPolicy(seed=args.seed), "random"
    from vlm2vla_policy.runtime import (
        ModelConfig,
        PolicyConfig,
        RemoteConfig,
        VerifierConfig,
        make_policy,
    )

    verifier = VerifierConfig(kind="adapter" if args.verifier == "adapter" else "onboard")
    if args.base_url:
        remote = RemoteConfig(base_url=args.base_url, model=args.remote_model, adapter=args.adapter)
        config = PolicyConfig(backend="remote", remote=remote, seed=args.seed, verifier=verifier)
        return make_policy(config), f"remote:{args.remote_model}"
    model = ModelConfig(model=args.model, adapter=args.adapter, device=args.device)
    config = PolicyConfig(backend="hf", model=model, seed=args.seed, verifier=verifier)
    return make_policy(config), f"hf:{args.model}" + (f"+{args.adapter}" if args.adapter else "")


def main(argv: list[str] | None = None) -> int:
    """Evaluate; print the summary's headline; 2 on a usage or loading error."""
    args = build_parser().parse_args(argv)
    try:
        task = parse_task(args.task)
        config = SimEvalConfig(
            episodes=args.episodes,
            start_seed=args.start_seed,
            max_cycles=args.max_cycles,
            verify=args.verifier != "none",
            video=not args.no_video,
        )
        policy, name = make_eval_policy(args)
    except (ValueError, OSError) as err:
        print(f"vlm2vla-sim-eval: error: {err}", file=sys.stderr)
        return 2
    base = SimConfig()
    sim = WidowXSim(
        replace(base, camera=replace(base.camera, width=args.width, height=args.height))
    )
    from tqdm import tqdm

    bar = tqdm(total=config.episodes, desc=f"eval {name}", disable=args.quiet, unit="ep")

    def progress(report) -> None:
        bar.update(1)
        bar.set_postfix(success=report.success, dist_cm=round(report.final_distance_m * 100, 1))

    try:
        summary = evaluate_in_sim(
            sim, policy, task, config, args.out, policy_name=name, progress=progress
        )
    finally:
        bar.close()
        sim.close()
    low, high = summary["success_ci95"]
    print(
        f"{summary['task']} | {name}: {summary['successes']}/{summary['episodes']} succeeded "
        f"({summary['success_rate']:.0%}, 95% CI {low:.0%}-{high:.0%}); mean final EE-object "
        f"distance {summary['mean_final_distance_m'] * 100:.1f} cm (closest "
        f"{summary['mean_closest_distance_m'] * 100:.1f} cm); mean cycle "
        f"{summary['cycle_s']['mean'] or 0:.2f} s"
    )
    print(f"summary: {args.out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
