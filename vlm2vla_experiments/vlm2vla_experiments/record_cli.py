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


class Progress:
    """Counts saved episodes out of ``total`` and estimates the time left from this run's pace.

    The pace is the wall time per saved episode (failed tries included); episodes found on disk
    count as saved but not in the pace.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.saved = 0
        self._recorded = 0  # saved by this run
        self._started = time.monotonic()

    def skipped(self) -> None:
        """One episode was already on disk."""
        self.saved += 1
        self._started = time.monotonic()  # the pace counts recording only

    def tried(self, success: bool) -> None:
        """One episode was run; ``success``: it was saved."""
        self.saved += success
        self._recorded += success

    def finish_task(self, missing: int) -> None:
        """A task ended ``missing`` episodes short: they are not waited for."""
        self.total -= missing

    def count(self) -> str:
        """``[saved/total]``."""
        return f"[{self.saved}/{self.total}]"

    def eta(self) -> str:
        """``ETA 3 min 20 s`` (or ``ETA unknown`` before the first saved episode)."""
        if self._recorded == 0:
            return "ETA unknown"
        pace_s = (time.monotonic() - self._started) / self._recorded
        left_s = round(pace_s * max(self.total - self.saved, 0))
        return f"ETA {left_s // 60} min {left_s % 60:02d} s"


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
    progress = Progress(args.episodes * len(tasks))
    try:
        for task in tasks:
            saved = 0
            tries = args.max_tries or 2 * args.episodes
            for seed in range(args.start_seed, args.start_seed + tries):
                if saved >= args.episodes:
                    break
                path = where(args.out, task, seed)
                if path.exists():
                    saved += 1
                    progress.skipped()
                    print(f"{progress.count()} {task.instruction} seed {seed}: on disk, kept")
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
                progress.tried(episode.success)
                outcome = "success" if episode.success else "FAILED (not saved)"
                print(
                    f"{progress.count()} {task.instruction} seed {seed}: {outcome}, "
                    f"{episode.num_actions} steps, {time.perf_counter() - started:.1f} s; "
                    f"{progress.eta()}",
                    flush=True,
                )
            progress.finish_task(args.episodes - saved)
            if saved < args.episodes:
                short = True
                print(f"{task.instruction}: only {saved} of {args.episodes} successful episodes")
    finally:
        sim.close()
    print(f"done: {args.out}")
    return 1 if short else 0


if __name__ == "__main__":
    sys.exit(main())
