"""Many robots, one server: cycle throughput and latency of ``vlm2vla-serve`` with batching.

    python vlm2vla_policy/bench/bench_serving.py --out serving.json [--tiers tiny,270m]

Each simulated robot is a process running the remote policy (the code a robot runs) against a
``vlm2vla-serve`` process: a cycle is a plan request and a chunk request on the robot's own
camera image (a new image every cycle; the chunk reuses the plan's prefix on the server; its
prompt carries a fixed plan, so that it does not depend on the random model's plan). Both
stages are greedy with fixed token budgets, so every robot count asks for the same answers and
the same tokens. Two servers run side by side: A batches (``--max-batch 8``), B answers one
request at a time (``--max-batch 1``). The robot counts 1, 2, 4, 8 and the two servers are
interleaved, round after round; per count and server the table gives the median cycle latency
(p50, p90), the throughput (cycles per second, all robots together) and the ratios to one robot.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from vlm2vla_policy.runtime import PolicyConfig, RemoteConfig, make_policy
from vlm2vla_policy.runtime.config import SamplingConfig, StageSampling
from vlm2vla_policy.runtime.errors import OutputParseError
from vlm2vla_policy.testing.serve_process import serving
from vlm2vla_policy.testing.tiny_gemma3 import cached_gemma3_270m_vlm, save_tiny_gemma3
from vlm2vla_policy.testing.tiny_lora import save_lora_adapter

INSTRUCTION = "put the lid on the pot"
SUBTASK = "grasp the lid"
PLAN = "move down and to the left"
ROBOTS = (1, 2, 4, 8)
SERVERS = {"A batched": 8, "B one at a time": 1}
TOKENS = (32, 128)
"""Tokens decoded (plan, chunk): a real cycle's, with the Gemma-3 tokenizer (docs/serving.md
section 6: plan 20-40, chunk 90-181); random models write to the budget."""


@contextmanager
def tier_model(tier: str) -> Iterator[tuple[str, str | None, int]]:
    """(model dir, adapter dir or None, image side) of ``tier``."""
    if tier == "270m":
        yield str(cached_gemma3_270m_vlm()), None, 224
        return
    with tempfile.TemporaryDirectory() as root:
        model = save_tiny_gemma3(Path(root) / "model")
        yield str(model), str(save_lora_adapter(model, Path(root) / "adapter")), 32


def robot_cycles(
    url: str, adapter: str | None, robot: int, cycles: int, *, side: int, tokens: tuple[int, int]
) -> list[float]:
    """Run ``cycles`` plan + chunk cycles as robot ``robot``; each cycle's seconds."""
    sampling = StageSampling(
        plan=SamplingConfig(temperature=0.0, max_new_tokens=tokens[0]),
        chunk=SamplingConfig(temperature=0.0, max_new_tokens=tokens[1]),
    )
    remote = RemoteConfig(base_url=url, model="vlm2vla", base_model="base", adapter=adapter or "")
    config = PolicyConfig(backend="remote", remote=remote, sampling=sampling, max_retries=0)
    policy = make_policy(config)
    rng = np.random.default_rng(robot)
    latencies = []
    for _ in range(cycles):
        image = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        start = time.perf_counter()
        # A random model's answers stop at the budget: served in full, they need not parse.
        with contextlib.suppress(OutputParseError):
            policy.plan(image, SUBTASK, instruction=INSTRUCTION)
        with contextlib.suppress(OutputParseError):
            policy.chunk(image, SUBTASK, PLAN, instruction=INSTRUCTION)
        latencies.append(time.perf_counter() - start)
    return latencies


def run_robots(
    pool: ProcessPoolExecutor,
    url: str,
    adapter: str | None,
    robots: int,
    cycles: int,
    *,
    side: int,
    tokens: tuple[int, int],
) -> dict[str, float]:
    """``robots`` robots at once (one process each, as robots are machines of their own)."""
    start = time.perf_counter()
    futures = [
        pool.submit(robot_cycles, url, adapter, index, cycles, side=side, tokens=tokens)
        for index in range(robots)
    ]
    latencies = sorted(x for future in futures for x in future.result())
    wall = time.perf_counter() - start
    return {
        "p50_s": statistics.median(latencies),
        "p90_s": latencies[math.ceil(0.9 * len(latencies)) - 1],
        "cycles_per_s": len(latencies) / wall,
    }


def run_tier(tier: str, cycles: int, rounds: int) -> dict[str, Any]:
    """Every robot count against both servers, interleaved; medians over the rounds."""
    tokens = TOKENS
    runs: dict[str, dict[int, list[dict[str, float]]]] = {
        name: {n: [] for n in ROBOTS} for name in SERVERS
    }
    with tier_model(tier) as (model, adapter, side), ExitStack() as stack:
        pool = stack.enter_context(
            ProcessPoolExecutor(max(ROBOTS), mp_context=multiprocessing.get_context("spawn"))
        )
        urls = {}
        for name, max_batch in SERVERS.items():
            arguments = ["--model", model, "--port", "0", "--seed", "0", "--max-batch",
                         str(max_batch), "--cpu-threads", "1"]  # fmt: skip
            if adapter:
                arguments += ["--adapter", adapter]
            urls[name] = stack.enter_context(serving(arguments))
        for name in SERVERS:  # warm-up: robot processes start, servers build grammar tables
            run_robots(pool, urls[name], adapter, max(ROBOTS), 1, side=side, tokens=tokens)
        for round_index in range(rounds):
            for robots in ROBOTS:
                for name in SERVERS:
                    result = run_robots(
                        pool, urls[name], adapter, robots, cycles, side=side, tokens=tokens
                    )
                    runs[name][robots].append(result)
            print(f"  {tier}: round {round_index + 1}/{rounds} done", flush=True)
    return {name: {n: _medians(r) for n, r in per.items()} for name, per in runs.items()}


def _medians(results: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


def print_table(tier: str, table: dict[str, dict[int, dict[str, float]]]) -> None:
    print(f"\n{tier}: cycle = plan + chunk, greedy, tokens (plan, chunk) = {TOKENS}")
    print(f"{'server':18} {'robots':>6} {'p50 s':>8} {'p90 s':>8} {'cycles/s':>9} "
          f"{'thru x1':>8} {'p50 x1':>7}")  # fmt: skip
    for name, per in table.items():
        one = per[1]
        for robots, row in per.items():
            print(
                f"{name:18} {robots:>6} {row['p50_s']:>8.3f} {row['p90_s']:>8.3f} "
                f"{row['cycles_per_s']:>9.2f} {row['cycles_per_s'] / one['cycles_per_s']:>8.2f} "
                f"{row['p50_s'] / one['p50_s']:>7.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiers", default="tiny", help="comma-separated: tiny, 270m")
    parser.add_argument("--cycles", type=int, default=4, help="cycles per robot per run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    load_before = os.getloadavg()
    results = {}
    for tier in args.tiers.split(","):
        results[tier] = run_tier(tier, args.cycles, args.rounds)
        print_table(tier, results[tier])
    report = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "cycles_per_robot": args.cycles,
        "rounds": args.rounds,
        "results": results,
    }
    print(f"\nload average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
