r"""``vlm2vla-sim-eval``: closed-loop success rate of a policy (or a baseline) in the sim.

The baselines: ``--random`` (random chunks, never done) and ``--expert`` (the sim's scripted
expert, the one that records the demonstrations: what a perfect policy reaches on these seeds).

Examples::

    vlm2vla-sim-eval --task "pick up the block" --model assets/demo/base \\
        --adapter assets/demo/adapter --episodes 20 --out artifacts/eval/demo
    vlm2vla-sim-eval --task "pick up the block" --random --episodes 20 --out artifacts/eval/random
    vlm2vla-sim-eval --task "pick up the block" --expert --episodes 20 --out artifacts/eval/expert
    vlm2vla-sim-eval --task "pick up the block" \\
        --base-url http://gpu-box:8000/v1 --remote-model vlm2vla --adapter ./adapter

Writes ``summary.json`` (success rate with its Wilson 95 % interval, mean final EE-to-object
distance, cycle times, every episode), and per episode a video and an EE-path plot, in ``--out``.
With ``--expert`` the policy's flags (``--seed``, ``--verifier``, ``--max-cycles``) do not apply.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from vlm2vla_experiments.evaluation import (
    RandomPolicy,
    SimEvalConfig,
    evaluate_expert_in_sim,
    evaluate_in_sim,
)
from vlm2vla_policy.cli_options import Options, flag_message
from vlm2vla_policy.runtime.config import PolicyConfig, VerifierConfig
from vlm2vla_policy.runtime.errors import PolicyRuntimeError
from vlm2vla_policy.settings import default_of, replace_paths, setting, validate
from vlm2vla_sim.env import SimConfig, WidowXSim
from vlm2vla_sim.tasks import TASKS, parse_task

PROG = "vlm2vla-sim-eval"


@dataclass(frozen=True)
class EvalPolicyConfig:
    """What the command line adds to the runtime's settings of the evaluated policy."""

    verifier: str = setting(
        default_of(VerifierConfig, "kind"),
        "who verifies a subtask: the base model (onboard), the fine-tuned model (adapter), or "
        "nobody (none: advance after every chunk)",
        choices=("onboard", "adapter", "none"),
    )
    seed: int = setting(0, "sampling seed of the policy (and of the random baseline)")

    def __post_init__(self) -> None:
        validate(self)


POLICY_OPTIONS = Options(
    PolicyConfig, ("model.adapter", "remote.model", "model.device", "model.allow_download"),
    rename={"remote.model": "--remote-model"},
)  # fmt: skip
CHOICE_OPTIONS = Options(EvalPolicyConfig, ("verifier", "seed"))
EVAL_OPTIONS = Options(SimEvalConfig, ("episodes", "start_seed", "max_cycles", "video"))
CAMERA_OPTIONS = Options(
    SimConfig, ("camera.width", "camera.height"),
    rename={"camera.width": "--width", "camera.height": "--height"},
)  # fmt: skip
HAND_WRITTEN_FLAGS = {
    "ModelConfig.model": "--model",
    "RemoteConfig.base_url": "--base-url",
    "RemoteConfig.adapter": "--adapter",  # --adapter goes to the server's config with --base-url
}
"""The fields the arguments written by hand set, by the key errors name them with."""


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``vlm2vla-sim-eval``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="tasks: " + "; ".join(t.instruction for t in TASKS),
    )
    parser.add_argument("--task", required=True, help='instruction, e.g. "pick up the block"')
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--model", help="Gemma-3 checkpoint (local dir or HF id), backend hf")
    who.add_argument("--random", action="store_true", help="random-chunk baseline")
    who.add_argument("--base-url", help="OpenAI-compatible server (backend remote), e.g. .../v1")
    who.add_argument(
        "--expert",
        action="store_true",
        help="the scripted expert (vlm2vla_sim's expert, the one that records the demonstrations)",
    )
    for options in (POLICY_OPTIONS, CHOICE_OPTIONS, EVAL_OPTIONS, CAMERA_OPTIONS):
        options.add_to(parser)
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def make_eval_policy(args: argparse.Namespace):
    """The policy the arguments name, and a short name for the summary."""
    choice = CHOICE_OPTIONS.apply(args)
    if args.random:
        return RandomPolicy(seed=choice.seed), "random"
    from vlm2vla_policy.runtime import make_policy

    changes = {"seed": choice.seed}
    if choice.verifier != "none":
        changes["verifier.kind"] = choice.verifier
    config = POLICY_OPTIONS.apply(args, changes)
    adapter = config.model.adapter
    if args.base_url:
        remote = {"backend": "remote", "remote.base_url": args.base_url, "remote.adapter": adapter}
        config = replace_paths(config, {**remote, "model.adapter": ""})
        return make_policy(config), f"remote:{config.remote.model}"
    config = replace_paths(config, {"model.model": args.model})
    return make_policy(config), f"hf:{args.model}" + (f"+{adapter}" if adapter else "")


def error_message(err: BaseException | str) -> str:
    """One line: what went wrong, with every setting named by the flag that sets it."""
    options = (POLICY_OPTIONS, CHOICE_OPTIONS, EVAL_OPTIONS, CAMERA_OPTIONS)
    text = flag_message(err, *options, flags=HAND_WRITTEN_FLAGS)
    return f"{PROG}: error: {text}"


def main(argv: list[str] | None = None) -> int:
    """Evaluate; print the summary's headline.

    A usage or loading error (a bad value, a model that cannot be found, an --out that is a
    file) prints one line naming the flag and returns 2; a policy that fails while it runs (a
    server that stops answering) prints one line and returns 1.
    """
    args = build_parser().parse_args(argv)
    try:
        if args.out.exists() and not args.out.is_dir():
            raise FileExistsError(f"--out {args.out} exists and is not a directory")
        task = parse_task(args.task)
        verify = CHOICE_OPTIONS.apply(args).verifier != "none"
        config = EVAL_OPTIONS.apply(args, {"verify": verify})
        sim_config = CAMERA_OPTIONS.apply(args)
        policy, name = (None, "expert") if args.expert else make_eval_policy(args)
    except (ValueError, OSError, PolicyRuntimeError) as err:
        print(error_message(err), file=sys.stderr)
        return 2
    sim = WidowXSim(sim_config)
    from tqdm import tqdm

    bar = tqdm(total=config.episodes, desc=f"eval {name}", disable=args.quiet, unit="ep")

    def progress(report) -> None:
        bar.update(1)
        bar.set_postfix(success=report.success, dist_cm=round(report.final_distance_m * 100, 1))

    try:
        if policy is None:
            summary = evaluate_expert_in_sim(sim, task, config, args.out, progress=progress)
        else:
            summary = evaluate_in_sim(
                sim, policy, task, config, args.out, policy_name=name, progress=progress
            )
    except (OSError, PolicyRuntimeError) as err:
        bar.close()
        print(error_message(err), file=sys.stderr)
        return 1
    finally:
        bar.close()
        sim.close()
    low, high = summary["success_ci95"]
    cycle_s = summary["cycle_s"]["mean"]  # None for the expert: it does not think
    print(
        f"{summary['task']} | {name}: {summary['successes']}/{summary['episodes']} succeeded "
        f"({summary['success_rate']:.0%}, 95% CI {low:.0%}-{high:.0%}); mean final EE-object "
        f"distance {summary['mean_final_distance_m'] * 100:.1f} cm (closest "
        f"{summary['mean_closest_distance_m'] * 100:.1f} cm); mean cycle "
        + ("-" if cycle_s is None else f"{cycle_s:.2f} s")
    )
    print(f"summary: {args.out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
