"""Path preservation of chunk labels: the paper's two merge rules versus keeping reversals.

    python vlm2vla_experiments/bench/bench_chunking.py --sim-episodes 20 --synthetic 200 \
        --out bench_chunking.json

Path preservation is the summed length of the merged chunk steps over the summed length of the
raw motion (1 = the label keeps the whole path; a back-and-forth merged into one step lowers it).
Two sources: the sim's scripted expert (actions recomputed from reached end-effector states, as
``vlm2vla-train convert`` does with a recording) and the synthetic Bridge-like trajectories of
the training tests. Each episode is merged both ways; the table gives medians and the 10th
percentile, and the steps per episode.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from vlm2vla_experiments.recorder import ee_states
from vlm2vla_policy.language import ChunkingConfig, chunk_deltas
from vlm2vla_policy.language.delta_merging import path_preservation
from vlm2vla_sim import TASKS, RolloutConfig, WidowXSim, run_episode
from vlm2vla_training.episode import recompute_actions
from vlm2vla_training.synthetic import SyntheticConfig, make_trajectory

RULES = {"paper": ChunkingConfig(keep_reversals=False), "keep_reversals": ChunkingConfig()}


def sim_actions(episodes: int, seed: int) -> list[np.ndarray]:
    """(T, 7) actions of scripted-expert episodes, recomputed from the reached EE states."""
    sim = WidowXSim()
    tasks = list(TASKS)
    actions = []
    try:
        for index in range(episodes):
            task = tasks[index % len(tasks)]
            episode = run_episode(sim, task, seed + index, RolloutConfig(render=False))
            actions.append(recompute_actions(ee_states(episode), np.array(episode.gripper)))
    finally:
        sim.close()
    return actions


def synthetic_actions(count: int, seed: int) -> list[np.ndarray]:
    """(T, 7) actions recomputed from the synthetic trajectories' reached states."""
    rng = np.random.default_rng(seed)
    config = SyntheticConfig(num_steps=30)
    out = []
    for _ in range(count):
        trajectory = make_trajectory(rng, config)
        out.append(recompute_actions(trajectory.states, trajectory.commanded[:, -1]))
    return out


def measure(actions: list[np.ndarray]) -> dict[str, dict[str, float]]:
    """Per rule: median and 10th percentile of path preservation, median steps per episode."""
    result = {}
    for name, config in RULES.items():
        kept = [path_preservation(a, chunk_deltas(a, config)) for a in actions]
        steps = [len(chunk_deltas(a, config)) for a in actions]
        result[name] = {
            "median": statistics.median(kept),
            "p10": float(np.percentile(kept, 10)),
            "steps_median": statistics.median(steps),
        }
    return result


def main() -> None:
    """Measure both sources, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sim-episodes", type=int, default=20, help="scripted-expert episodes")
    parser.add_argument("--synthetic", type=int, default=200, help="synthetic trajectories")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench_chunking.json"))
    args = parser.parse_args()
    results: dict[str, Any] = {
        "sim expert": measure(sim_actions(args.sim_episodes, args.seed)),
        "synthetic Bridge-like": measure(synthetic_actions(args.synthetic, args.seed)),
        "load_average": os.getloadavg(),
        "counts": {"sim": args.sim_episodes, "synthetic": args.synthetic},
    }
    print(f"{'data':24} {'rule':15} {'median':>7} {'p10':>7} {'steps':>6}")
    for source in ("sim expert", "synthetic Bridge-like"):
        for rule, row in results[source].items():
            print(
                f"{source:24} {rule:15} {row['median']:7.3f} {row['p10']:7.3f} "
                f"{row['steps_median']:6.0f}"
            )
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
