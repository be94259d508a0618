"""Throughput of ``vlm2vla-train build`` (examples per second) on synthetic BridgeData episodes.

For each frame size: write a synthetic BridgeData raw tree, convert it, label it with the heuristic
labeler, then time ``build`` (sample building with the language module, shard writing and the
final DatasetDict), after one small warm-up run. Prints a table and one JSON line.

    python vlm2vla_training/bench/bench_build.py --episodes 40 --steps 30
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from vlm2vla_training import synthetic
from vlm2vla_training.conversion import convert
from vlm2vla_training.dataset_build import BuildConfig, build
from vlm2vla_training.readers import ReadOptions, make_reader
from vlm2vla_training.relabel import HeuristicLabeler, relabel
from vlm2vla_training.store import EpisodeStore


def run_one(root: Path, episodes: int, steps: int, size: tuple[int, int]) -> dict[str, float]:
    config = synthetic.SyntheticConfig(num_steps=steps, image_size=size)
    synthetic.write_bridge_raw(root / "raw", episodes, seed=0, config=config)
    store = EpisodeStore(root / "store")
    start = time.perf_counter()
    convert(make_reader("bridge_raw", root / "raw", ReadOptions()), store, progress=False)
    convert_s = time.perf_counter() - start
    start = time.perf_counter()
    relabel(store, HeuristicLabeler(), progress=False)
    relabel_s = time.perf_counter() - start
    start = time.perf_counter()
    report = build(store, root / "out", BuildConfig(), progress=False)
    build_s = time.perf_counter() - start
    rows = report.totals["rows_built_this_run"]
    return {
        "frame": f"{size[0]}x{size[1]}",
        "episodes": episodes,
        "steps": steps,
        "examples": rows,
        "convert_episodes_per_s": round(episodes / convert_s, 1),
        "relabel_episodes_per_s": round(episodes / relabel_s, 1),
        "build_s": round(build_s, 2),
        "build_examples_per_s": round(rows / build_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=40, help="synthetic episodes per size")
    parser.add_argument("--steps", type=int, default=30, help="steps per episode")
    parser.add_argument(
        "--sizes", nargs="+", default=["64x48", "256x256", "640x480"], help="frame sizes WxH"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:  # warm-up: imports and first-call costs
        run_one(Path(tmp), 2, args.steps, (64, 48))
    results = []
    for text in args.sizes:
        width, height = (int(v) for v in text.split("x"))
        with tempfile.TemporaryDirectory() as tmp:
            results.append(run_one(Path(tmp), args.episodes, args.steps, (width, height)))
    header = f"{'frame':>8} {'episodes':>8} {'examples':>8} {'build s':>8} {'examples/s':>10}"
    print(header)
    for r in results:
        print(
            f"{r['frame']:>8} {r['episodes']:>8} {r['examples']:>8} {r['build_s']:>8} "
            f"{r['build_examples_per_s']:>10}"
        )
    print(json.dumps({"machine": platform.processor() or platform.machine(), "results": results}))


if __name__ == "__main__":
    main()
