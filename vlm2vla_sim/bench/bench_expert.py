"""Scripted-expert success rate per task, the simulator's real-time factor and render cost.

    python vlm2vla_sim/bench/bench_expert.py --seeds 50 --out expert_bench.json

For every task, seeds 0..N-1: reset, let the expert solve it through the chunk executor at 5 Hz
(no rendering), and judge success with the task's predicate. Then:

* real-time factor, physics only: simulated seconds per wall-clock second while the arm moves;
* real-time factor, episode: the same over whole expert episodes (physics, IK, expert);
* render: median ms per camera frame at each size (offscreen, EGL).

Prints a table and writes the numbers with the machine's description as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np

from vlm2vla_sim import TASKS, RolloutConfig, SimConfig, WidowXSim, run_episode

RENDER_SIZES = ((320, 240), (640, 480))
RENDER_FRAMES = 30
PHYSICS_SECONDS = 10.0


def bench_tasks(sim: WidowXSim, seeds: int) -> tuple[list[dict], float, float]:
    """Per-task results, and the total simulated and wall-clock seconds of the episodes."""
    rows, sim_s, wall_s = [], 0.0, 0.0
    config = RolloutConfig(render=False)
    for task in TASKS:
        failures, steps, started = [], [], time.perf_counter()
        for seed in range(seeds):
            episode = run_episode(sim, task, seed, config)
            steps.append(episode.num_actions)
            sim_s += episode.times_s[-1] + config.judge_after_s
            if not episode.success:
                failures.append(seed)
        elapsed = time.perf_counter() - started
        wall_s += elapsed
        rows.append({
            "task": task.instruction,
            "episodes": seeds,
            "successes": seeds - len(failures),
            "success_rate": (seeds - len(failures)) / seeds,
            "failed_seeds": failures,
            "mean_steps": float(np.mean(steps)),
            "seconds_per_episode": elapsed / seeds,
        })  # fmt: skip
    return rows, sim_s, wall_s


def bench_physics(sim: WidowXSim) -> float:
    """Real-time factor of physics alone while the arm sweeps back and forth."""
    sim.reset(0)
    start = sim.joints()
    swing = start + np.array([0.4, 0.2, -0.2, 0.3, 0.2, 0.5])
    started = time.perf_counter()
    for k in range(int(PHYSICS_SECONDS)):
        sim.set_arm_targets(swing if k % 2 == 0 else start, duration_s=1.0)
        sim.step(1.0)
    return PHYSICS_SECONDS / (time.perf_counter() - started)


def bench_render() -> dict[str, float]:
    """Median ms per frame at each image size."""
    results = {}
    for width, height in RENDER_SIZES:
        base = SimConfig()
        sim = WidowXSim(replace(base, camera=replace(base.camera, width=width, height=height)))
        sim.render()
        times = []
        for _ in range(RENDER_FRAMES):
            sim.step(0.02)
            started = time.perf_counter()
            sim.render()
            times.append(time.perf_counter() - started)
        sim.close()
        results[f"{width}x{height}"] = 1e3 * statistics.median(times)
    return results


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=50, help="seeds per task")
    parser.add_argument("--out", type=Path, default=Path("expert_bench.json"), help="JSON output")
    args = parser.parse_args()

    sim = WidowXSim()
    rows, sim_s, wall_s = bench_tasks(sim, args.seeds)
    physics_rtf = bench_physics(sim)
    render_ms = bench_render()
    print(f"{'task':32s} {'success':>9s} {'rate':>6s} {'steps':>6s} {'s/ep':>6s}  failed seeds")
    for row in rows:
        print(
            f"{row['task']:32s} {row['successes']:>4d}/{row['episodes']:<4d} "
            f"{100 * row['success_rate']:5.1f}% {row['mean_steps']:6.1f} "
            f"{row['seconds_per_episode']:6.2f}  {row['failed_seeds'] or '-'}"
        )
    print(f"real-time factor: physics {physics_rtf:.1f}x, whole episodes {sim_s / wall_s:.1f}x")
    print("render ms/frame: " + ", ".join(f"{k} {v:.1f}" for k, v in render_ms.items()))
    result = {
        "tasks": rows,
        "real_time_factor_physics": physics_rtf,
        "real_time_factor_episodes": sim_s / wall_s,
        "render_ms_per_frame": render_ms,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "mujoco_gl": os.environ.get("MUJOCO_GL"),
        },
    }
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
