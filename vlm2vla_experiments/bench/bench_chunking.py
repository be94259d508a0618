"""Path preservation of chunk labels: the paper's two merge rules versus keeping reversals.

    python vlm2vla_experiments/bench/bench_chunking.py --sim-episodes 20 --synthetic 200 \
        --out bench_chunking.json

Path preservation is the summed length of the merged chunk steps over the summed length of the
raw motion (1 = the label keeps the whole path; a back-and-forth merged into one step lowers it).
Three sources: the sim's scripted expert (actions recomputed from reached end-effector states, as
``vlm2vla-train convert`` does with a recording), the synthetic Bridge-like trajectories of the
training tests, and those same trajectories with one operator correction each (an overshoot of
1-3 cm and its way back, as teleoperated episodes have). Each episode is merged both ways; the
table gives the median, 10th percentile and minimum, and the steps per episode.
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
SOURCES = ("sim expert", "synthetic Bridge-like", "synthetic with a correction")


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


def corrected_actions(count: int, seed: int) -> list[np.ndarray]:
    """Synthetic actions with one operator correction each: an overshoot and its way back.

    Teleoperated Bridge episodes hold such corrections; the scripted sources above do not. At a
    random step, the arm goes 1-3 cm further along a random axis in 0.5 cm steps, then comes back
    the same way (gripper unchanged); the rest of the episode is untouched.
    """
    rng = np.random.default_rng(seed + 1)
    out = []
    for actions in synthetic_actions(count, seed):
        at = int(rng.integers(1, len(actions) - 1))
        axis, sign = int(rng.integers(0, 3)), rng.choice((-1.0, 1.0))
        steps = int(rng.integers(2, 7))  # 2-6 steps of 0.5 cm: 1-3 cm out and back
        detour = np.zeros((2 * steps, actions.shape[1]))
        detour[:, 6] = actions[at, 6]
        detour[:steps, axis] = sign * 0.005
        detour[steps:, axis] = -sign * 0.005
        out.append(np.concatenate([actions[:at], detour, actions[at:]]))
    return out


def measure(actions: list[np.ndarray]) -> dict[str, dict[str, float]]:
    """Per rule: median and 10th percentile of path preservation, median steps per episode."""
    result = {}
    for name, config in RULES.items():
        merged = [chunk_deltas(a, config) for a in actions]
        kept = [path_preservation(a, m) for a, m in zip(actions, merged, strict=True)]
        steps = [len(m) for m in merged]
        result[name] = {
            "median": statistics.median(kept),
            "p10": float(np.percentile(kept, 10)),
            "min": min(kept),
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
        "synthetic with a correction": measure(corrected_actions(args.synthetic, args.seed)),
        "load_average": os.getloadavg(),
        "counts": {"sim": args.sim_episodes, "synthetic": args.synthetic},
    }
    print("| data | rule | median | 10th percentile | min | steps (median) |")
    print("|---|---|---:|---:|---:|---:|")
    for source in SOURCES:
        for rule, row in results[source].items():
            print(
                f"| {source} | {rule} | {row['median']:.3f} | {row['p10']:.3f} | "
                f"{row['min']:.3f} | {row['steps_median']:.0f} |"
            )
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
