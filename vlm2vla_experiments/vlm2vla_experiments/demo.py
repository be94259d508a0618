"""``vlm2vla-demo`` (``make demo``): a small VLM2VLA policy picking up a block in the MuJoCo sim.

``make demo`` takes the shipped policy (``assets/demo/``: a small Gemma-3 whose vision tower is
pretrained on sim frames, and a LoRA adapter on its language model, trained from scripted
demonstrations) and goes straight to the live run; ``make demo-train`` (``--train``) builds the
policy from nothing instead, stage by stage into ``--cache``
(:mod:`vlm2vla_experiments.demo_policy`: record, label, build, pretrain the vision, fit the
adapter; a changed setting rebuilds only the stages it affects); ``make demo-assets`` builds it
and writes the shipped assets. With ``--model`` (and ``--adapter``) that checkpoint drives the
arm.

The live run (:mod:`vlm2vla_experiments.demo_live`) starts sim + policy + controller
(``vlm2vla-launch sim``), publishes the instruction, prints the policy's status lines and
chunks, records the policy's ``~/debug_image`` to a gif, and ends with one line: success or
failure, with the closest gripper-object distance and where the gripper closed. It verifies
nothing by default (``--verifier none``): the loop runs reach, grasp, lift once each.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from vlm2vla_experiments.demo_live import LiveSettings, run_live
from vlm2vla_experiments.demo_policy import (
    DemoRecipe,
    build_policy,
    export_assets,
    shipped_assets,
    shipped_recipe,
)

DEFAULT_TASK = "pick up the block"
DEFAULT_ASSETS = Path("assets/demo")


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``vlm2vla-demo``; every option also reads an environment variable."""
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="vlm2vla-demo",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--task", default=env("TASK", DEFAULT_TASK), help="instruction (TASK)")
    parser.add_argument(
        "--model",
        default=env("MODEL", ""),
        help="Gemma-3 checkpoint to use instead of training the small one (MODEL)",
    )
    parser.add_argument("--adapter", default=env("ADAPTER", ""),
                        help="LoRA adapter for --model (ADAPTER)")  # fmt: skip
    parser.add_argument("--verifier", default=env("VERIFIER", ""),
                        choices=("", "none", "onboard", "adapter", "remote"),
                        help="who verifies subtasks in the live run (VERIFIER; default: adapter "
                             "for a demo policy trained with a verifier, else none)")  # fmt: skip
    parser.add_argument("--episodes", type=int, default=int(env("EPISODES", "300")),
                        help="expert demonstrations to record (EPISODES)")  # fmt: skip
    parser.add_argument("--vision-layouts", type=int, default=int(env("VISION_LAYOUTS", "1500")),
                        help="sim frames of the vision pretraining (VISION_LAYOUTS)")  # fmt: skip
    parser.add_argument("--vision-steps", type=int, default=int(env("VISION_STEPS", "2000")),
                        help="steps of the vision pretraining (VISION_STEPS)")  # fmt: skip
    parser.add_argument("--fit-steps", type=int, default=int(env("FIT_STEPS", "4500")),
                        help="optimizer steps of the demo adapter (FIT_STEPS)")  # fmt: skip
    parser.add_argument("--learning-rate", type=float, default=float(env("LR", "2e-3")),
                        help="learning rate of the demo adapter (LR)")  # fmt: skip
    parser.add_argument("--window-stride-steps", type=int, default=int(env("WINDOW_STRIDE", "0")),
                        help="also train a plan/chunk window every k steps inside a "
                             "subtask, so a retry sees states like its own (WINDOW_STRIDE; "
                             "0: none)")  # fmt: skip
    parser.add_argument("--train-verifier", action=argparse.BooleanOptionalAction,
                        default=env("TRAIN_VERIFIER", "0") not in ("", "0"),
                        help="train the adapter as the verifier too; the live run then retries a "
                             "subtask until it says done (TRAIN_VERIFIER=1)")  # fmt: skip
    parser.add_argument("--cache", type=Path, default=Path(env("DEMO_CACHE", "artifacts/demo")),
                        help="where every stage's output is kept (DEMO_CACHE)")  # fmt: skip
    parser.add_argument("--assets", type=Path, default=Path(env("DEMO_ASSETS", DEFAULT_ASSETS)),
                        help="the shipped demo policy (DEMO_ASSETS)")  # fmt: skip
    parser.add_argument("--train", action="store_true",
                        default=env("DEMO_TRAIN", "") not in ("", "0"),
                        help="build the policy from nothing instead of taking the shipped one "
                             "(DEMO_TRAIN=1; make demo-train)")  # fmt: skip
    parser.add_argument("--export-assets", type=Path, default=None, metavar="DIR",
                        help="with --train: copy the built policy to DIR with its manifest "
                             "(make demo-assets)")  # fmt: skip
    parser.add_argument("--video", type=Path, default=Path(env("VIDEO")) if env("VIDEO") else None,
                        help="gif of ~/debug_image (VIDEO; default <cache>/demo.gif)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=int(env("SEED", "1000")),
                        help="scene seed of the live run (SEED)")  # fmt: skip
    parser.add_argument("--timeout-s", type=float, default=float(env("DEMO_TIMEOUT_S", "180")),
                        help="longest live run, s (DEMO_TIMEOUT_S)")  # fmt: skip
    parser.add_argument("--startup-timeout-s", type=float, default=120.0,
                        help="longest wait for the nodes to come up, s")  # fmt: skip
    parser.add_argument("--video-fps", type=float, default=5.0, help="gif frame rate")
    parser.add_argument("--log-level", default="warn", help="log level of the launched nodes")
    parser.add_argument("--prepare-only", action="store_true", help="build the policy, run nothing")
    return parser


def recipe_of(args: argparse.Namespace) -> DemoRecipe:
    """The demo recipe the arguments ask for."""
    return DemoRecipe(task=args.task, episodes=args.episodes, vision_layouts=args.vision_layouts,
                      vision_steps=args.vision_steps, fit_steps=args.fit_steps,
                      learning_rate=args.learning_rate,
                      window_stride_steps=args.window_stride_steps,
                      verifier=args.train_verifier)  # fmt: skip


def choose_policy(args: argparse.Namespace, command: str) -> tuple[str, str, str]:
    """(model, adapter, verifier): --model's, the shipped one's or one built now (``--train``).

    The verifier is --verifier's, else ``adapter`` for a demo policy trained as its own
    verifier, else ``none``. ``command`` is what the assets' manifest records as their maker.
    """
    if args.model:
        return args.model, args.adapter, args.verifier or "none"
    shipped = None if args.train else shipped_assets(args.assets)
    if shipped is not None:
        print(f"[demo] the shipped demo policy ({args.assets}; make demo-train builds one)")
        trained_verifier = shipped_recipe(args.assets).get("verifier", False)
        base, adapter = map(str, shipped)
    else:
        if not args.train:
            print(f"[demo] no shipped policy in {args.assets}: building one (make demo-train)")
        recipe = recipe_of(args)
        built = build_policy(recipe, args.cache)
        if args.export_assets is not None:
            export_assets(recipe, *built, args.export_assets, command)
        trained_verifier = recipe.verifier
        base, adapter = map(str, built)
    return base, adapter, args.verifier or ("adapter" if trained_verifier else "none")


def live_settings(
    args: argparse.Namespace, model: str, adapter: str, verifier: str
) -> LiveSettings:
    """What the live run needs, from the arguments."""
    return LiveSettings(
        task=args.task, model=model, adapter=adapter, verifier=verifier, seed=args.seed,
        timeout_s=args.timeout_s, startup_timeout_s=args.startup_timeout_s,
        video=args.video or args.cache / "demo.gif", plot=args.cache / "demo_ee_path.png",
        video_fps=args.video_fps, log_level=args.log_level,
        params_file=args.cache / "live_params.yaml",
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Choose (or build) the demo policy, then run it live in the simulator."""
    args = build_parser().parse_args(argv)
    started = time.monotonic()
    if args.adapter and not args.model:
        print("vlm2vla-demo: error: ADAPTER needs MODEL (its base checkpoint)", file=sys.stderr)
        return 2
    if args.export_assets is not None and not args.train:
        print("vlm2vla-demo: error: --export-assets needs --train", file=sys.stderr)
        return 2
    try:
        command = " ".join(["vlm2vla-demo", *(sys.argv[1:] if argv is None else argv)])
        model, adapter, verifier = choose_policy(args, command)
    except RuntimeError as err:
        print(f"vlm2vla-demo: error: {err}", file=sys.stderr)
        return 1
    print(f"[demo] policy ready in {time.monotonic() - started:.0f} s: {model} + {adapter or '-'}"
          f" (verifier: {verifier})")  # fmt: skip
    if args.prepare_only:
        return 0
    code = run_live(live_settings(args, model, adapter, verifier))
    print(f"[demo] total {time.monotonic() - started:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
