"""``vlm2vla-sim-record``: record scripted-expert demonstrations as BridgeData raw or MCAP.

Examples::

    vlm2vla-sim-record --task "put the carrot on the plate" --episodes 20 --out data/sim
    vlm2vla-sim-record --task all --episodes 5 --out data/sim_bags --format mcap
    vlm2vla-train convert --reader bridge_raw --input data/sim --store data/store

Seeds are tried in order from ``--start-seed``; an episode the expert fails is reported and
skipped (kept with ``--keep-failures``), so each task gets ``--episodes`` successful ones. An
episode already on disk is skipped, so an interrupted run can simply be started again.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from vlm2vla_experiments.recorder import (
    FORMATS,
    bridge_traj_dir,
    mcap_bag_dir,
    write_bridge_episode,
    write_mcap_episode,
)
from vlm2vla_policy.bags import COMPRESSIONS, DEFAULT_COMPRESSION
from vlm2vla_sim import TASKS, RolloutConfig, SimConfig, WidowXSim, parse_task, run_episode


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``vlm2vla-sim-record``."""
    parser = argparse.ArgumentParser(
        prog="vlm2vla-sim-record",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="tasks: " + "; ".join(t.instruction for t in TASKS),
    )
    parser.add_argument(
        "--task", action="append", required=True,
        help='instruction, e.g. "pick up the block" (repeatable), or "all"',
    )  # fmt: skip
    parser.add_argument("--episodes", type=int, default=10, help="successful episodes per task")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--format", choices=FORMATS, default="bridge", help="output layout")
    parser.add_argument(
        "--compression", choices=list(COMPRESSIONS), default=DEFAULT_COMPRESSION,
        help=f"MCAP chunk compression with --format mcap (default {DEFAULT_COMPRESSION})",
    )  # fmt: skip
    parser.add_argument("--start-seed", type=int, default=0, help="first scene seed")
    parser.add_argument(
        "--max-tries", type=int, default=0, help="seeds to try per task (default 2 x episodes)"
    )
    parser.add_argument("--keep-failures", action="store_true", help="also save failed episodes")
    parser.add_argument("--width", type=int, default=320, help="camera image width, pixels")
    parser.add_argument("--height", type=int, default=240, help="camera image height, pixels")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Record; exit code 1 when a task got fewer successful episodes than asked for."""
    args = build_parser().parse_args(argv)
    try:
        tasks = list(TASKS) if "all" in args.task else [parse_task(t) for t in args.task]
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    base = SimConfig()
    sim = WidowXSim(
        replace(base, camera=replace(base.camera, width=args.width, height=args.height))
    )
    config = RolloutConfig(render=True)
    where = bridge_traj_dir if args.format == "bridge" else mcap_bag_dir
    short = False
    try:
        for task in tasks:
            saved = 0
            tries = args.max_tries or 2 * args.episodes
            for seed in range(args.start_seed, args.start_seed + tries):
                if saved >= args.episodes:
                    break
                path = where(args.out, task, seed)
                if path.exists():
                    print(f"{task.instruction} seed {seed}: {path} exists, skipped")
                    saved += 1
                    continue
                started = time.perf_counter()
                episode = run_episode(sim, task, seed, config)
                if episode.success or args.keep_failures:
                    if args.format == "bridge":
                        write_bridge_episode(path, episode)
                    else:
                        write_mcap_episode(
                            path, episode, config.executor.period_s, args.compression
                        )
                    saved += episode.success
                outcome = "success" if episode.success else "FAILED"
                print(
                    f"{task.instruction} seed {seed}: {outcome}, {episode.num_actions} steps, "
                    f"{time.perf_counter() - started:.1f} s"
                )
            if saved < args.episodes:
                short = True
                print(f"{task.instruction}: only {saved} of {args.episodes} successful episodes")
    finally:
        sim.close()
    print(f"done: {args.out}")
    return 1 if short else 0


if __name__ == "__main__":
    sys.exit(main())
