r"""Streaming + overlap vs sequential execution, closed loop in the MuJoCo sim, paired seeds.

    python vlm2vla_experiments/bench/bench_streaming.py --model assets/demo/base \
        --adapter assets/demo/adapter --episodes 10 --out artifacts/bench/streaming.json \
        [--tier-270m artifacts/bench/gemma3-270m-vlm --tier-cycles 3]

Both modes run the same policy on the same scene seeds in one process, interleaved (A B, then
B A for the next seed), with greedy decoding so both write the same tokens for the same image.
The controller ticks on the wall clock (``SimEvalConfig.realtime``) while the policy thinks, as the
ROS controller does, so idle time is real. Per mode it reports, as medians: per cycle the time
from the start of chunk generation to the first arm command; per episode the time from the
instruction to the first arm command, the fraction of the episode the arm is idle (1 - commanded
control periods x period / episode wall time) and the wall time; and the success rate, with the
paired difference streaming - sequential and its 95 % bootstrap interval over seeds. The machine
load (1-minute load average) is printed before and after.

``--tier-270m DIR`` (a directory written by ``save_gemma3_270m_vlm``: Gemma-3-270M's real text
weights with a small vision tower) adds per-cycle figures of the larger model on a sim image:
plan time, time to the first chunk step when streamed, time to the whole chunk (the first arm
command of the sequential loop), interleaved, greedy, same token counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from statistics import median

from vlm2vla_experiments.compare import compare, format_table
from vlm2vla_experiments.evaluation import SimEvalConfig, run_eval_episode, summarize
from vlm2vla_policy.language import format_plan
from vlm2vla_policy.runtime import ModelConfig, PolicyConfig, make_policy
from vlm2vla_policy.runtime.config import StageSampling
from vlm2vla_sim.env import WidowXSim
from vlm2vla_sim.tasks import parse_task

MODES = ("sequential", "streaming")


def greedy() -> StageSampling:
    """Every stage greedy, so both modes decode the same tokens for the same image."""
    caps = StageSampling()
    return StageSampling(**{
        stage: replace(getattr(caps, stage), temperature=0.0)
        for stage in ("subtasks", "plan", "chunk", "verify")
    })  # fmt: skip


def load_policy(model: str, adapter: str):
    config = PolicyConfig(
        model=ModelConfig(model=model, adapter=adapter, cpu_threads=1), sampling=greedy(), seed=0
    )
    return make_policy(config)


def episode_figures(report) -> dict:
    idle = 1.0 - report.moving_s / report.wall_s if report.wall_s > 0 else None
    return {
        "seed": report.seed,
        "success": report.success,
        "first_command_s": report.first_command_s,
        "instruction_to_command_s": report.instruction_to_command_s,
        "idle_fraction": idle,
        "wall_s": report.wall_s,
        "cycles": report.cycles,
    }


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(median(values), 4) if values else None


def closed_loop(args: argparse.Namespace) -> dict:
    """Both modes over the seeds, interleaved; per-mode medians and the paired comparison."""
    policy = load_policy(args.model, args.adapter)
    task = parse_task(args.task)
    sim = WidowXSim()
    base = SimEvalConfig(
        episodes=1, max_cycles=args.max_cycles, verify=False, video=False, plot=False,
        realtime=True,
    )  # fmt: skip
    reports: dict[str, list] = {mode: [] for mode in MODES}
    seeds = range(args.start_seed, args.start_seed + args.episodes)
    started = time.monotonic()
    for index, seed in enumerate(seeds):
        order = MODES if index % 2 == 0 else MODES[::-1]
        for mode in order:
            config = replace(base, streaming=mode == "streaming")
            report = run_eval_episode(sim, policy, task, seed, config)
            reports[mode].append(report)
            fig = episode_figures(report)
            done = index * 2 + order.index(mode) + 1
            eta = (time.monotonic() - started) / done * (2 * args.episodes - done)
            print(
                f"[{done}/{2 * args.episodes}, ETA {eta:.0f} s] seed {seed} {mode:10s} "
                f"success={fig['success']!s:5s} first-cmd={fig['first_command_s']} "
                f"idle={fig['idle_fraction']:.2f} wall={fig['wall_s']:.1f} s",
                flush=True,
            )
    sim.close()
    per_mode = {}
    for mode in MODES:
        figs = [episode_figures(r) for r in reports[mode]]
        per_mode[mode] = {
            "chunk_start_to_first_command_s": _median(
                [s for f in figs for s in f["first_command_s"]]
            ),
            "instruction_to_first_command_s": _median(
                [f["instruction_to_command_s"] for f in figs]
            ),
            "idle_fraction": _median([f["idle_fraction"] for f in figs]),
            "episode_wall_s": _median([f["wall_s"] for f in figs]),
            "success_rate": sum(f["success"] for f in figs) / len(figs),
            "cycles": sum(f["cycles"] for f in figs),
            "episodes": figs,
        }
    summaries = {m: summarize(task, m, reports[m], base) for m in MODES}
    paired = compare(summaries["streaming"], summaries["sequential"])
    seq, stream = per_mode["sequential"], per_mode["streaming"]
    ratio = None
    if seq["chunk_start_to_first_command_s"] and stream["chunk_start_to_first_command_s"]:
        ratio = round(
            stream["chunk_start_to_first_command_s"] / seq["chunk_start_to_first_command_s"], 4
        )
    return {"per_mode": per_mode, "first_command_ratio": ratio, "paired": paired}


def tier_cycles(directory: str, cycles: int, task_text: str) -> dict:
    """Per-cycle plan, first streamed step and whole chunk of a larger model, interleaved."""
    policy = load_policy(directory, "")
    seed = 1000
    sim = WidowXSim()
    sim.reset(seed, parse_task(task_text))
    image = sim.render()
    sim.close()
    rows = []
    for cycle in range(cycles):
        policy.reset()
        started = time.monotonic()
        plan = policy.plan(image, "reach the block", instruction=task_text)
        plan_s = time.monotonic() - started
        row = {"cycle": cycle, "seed": seed, "plan_s": round(plan_s, 4)}
        for mode in MODES if cycle % 2 == 0 else MODES[::-1]:
            reader, first = policy.chunk_reader(), []
            start = time.monotonic()

            def on_text(piece: str, reader=reader, first=first, start=start) -> None:
                if reader.feed(piece) and not first:
                    first.append(time.monotonic() - start)

            kwargs = {"on_text": on_text} if mode == "streaming" else {}
            result = policy.chunk(
                image, "reach the block", plan.value, instruction=task_text, **kwargs
            )
            total = time.monotonic() - start
            row[mode] = {
                "first_command_s": round(first[0] if first else total, 4),
                "chunk_s": round(total, 4),
                "decoded_tokens": result.timing.decoded_tokens,
                "steps": len(result.value),
            }
        rows.append(row)
        print(f"[270m cycle {cycle + 1}/{cycles}] {json.dumps(row)}", flush=True)
    return {
        "model": directory,
        "plan": format_plan(plan.value),
        "cycles": rows,
        "median_first_command_s": {
            mode: _median([r[mode]["first_command_s"] for r in rows]) for mode in MODES
        },
    }


def print_table(result: dict) -> None:
    per_mode = result["per_mode"]
    rows = (
        ("chunk start -> first arm command (median, s)", "chunk_start_to_first_command_s"),
        ("instruction -> first arm command (median, s)", "instruction_to_first_command_s"),
        ("arm idle fraction of the episode (median)", "idle_fraction"),
        ("episode wall time (median, s)", "episode_wall_s"),
        ("success rate", "success_rate"),
    )
    print(f"\n{'':48s} {'sequential':>12s} {'streaming':>12s}")
    for label, key in rows:
        values = [per_mode[m][key] for m in MODES]
        print(f"{label:48s} " + " ".join(f"{v if v is not None else '-':>12}" for v in values))
    print(f"first-command ratio streaming / sequential: {result['first_command_ratio']}")
    print(format_table(result["paired"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="the demo's vision-pretrained base")
    parser.add_argument("--adapter", default="", help="the demo's LoRA adapter")
    parser.add_argument("--task", default="pick up the block", help="instruction")
    parser.add_argument("--episodes", type=int, default=10, help="paired seeds")
    parser.add_argument("--start-seed", type=int, default=1000, help="first scene seed")
    parser.add_argument("--max-cycles", type=int, default=8, help="chunks per episode at most")
    parser.add_argument("--tier-270m", default="", help="directory of the 270M tier model")
    parser.add_argument("--tier-cycles", type=int, default=3, help="cycles of the 270M tier")
    parser.add_argument("--out", type=Path, required=True, help="JSON results")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    result = {"closed_loop": closed_loop(args), "cpu_count": os.cpu_count()}
    if args.tier_270m:
        result["tier_270m"] = tier_cycles(args.tier_270m, args.tier_cycles, args.task)
    result["load_1min"] = {"before": load_before, "after": os.getloadavg()[0]}
    print_table(result["closed_loop"])
    if "tier_270m" in result:
        print(
            f"270M tier, median first arm command: {result['tier_270m']['median_first_command_s']}"
        )
    print(
        f"load average (1 min): {load_before:.2f} before, {result['load_1min']['after']:.2f} after"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
