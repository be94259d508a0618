"""The shipped demo policy (assets/demo): made by the demo's default recipe, loads with this code,
and drives a closed-loop episode in the sim."""

import json
from dataclasses import asdict
from pathlib import Path

from vlm2vla_experiments.demo import build_parser, recipe_of
from vlm2vla_experiments.demo_policy import MANIFEST, shipped_assets, shipped_recipe
from vlm2vla_experiments.eval_cli import main as eval_main

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "demo"


def test_the_shipped_policy_was_made_by_the_default_recipe():
    assert shipped_assets(ASSETS) is not None, f"no {MANIFEST} in {ASSETS}: run make demo-assets"
    defaults = asdict(recipe_of(build_parser().parse_args([])))
    assert shipped_recipe(ASSETS) == defaults, (
        "the demo's default recipe changed since assets/demo was made: run make demo-assets"
    )
    manifest = json.loads((ASSETS / MANIFEST).read_text())
    assert {"command", "seeds", "versions", "stages"} <= manifest.keys()


def test_the_shipped_policy_drives_an_episode(tmp_path, egl_renderer_works):
    base, adapter = shipped_assets(ASSETS)
    verifier = "adapter" if shipped_recipe(ASSETS)["verifier"] else "none"
    out = tmp_path / "eval"
    args = ["--task", "pick up the block", "--model", str(base), "--adapter", str(adapter),
            "--verifier", verifier, "--episodes", "1", "--no-video", "--quiet",
            "--out", str(out)]  # fmt: skip
    assert eval_main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    (episode,) = summary["per_episode"]
    assert episode["cycles"] >= 3, "reach, grasp and lift each ran a chunk"
    assert episode["closest_distance_m"] < episode["initial_distance_m"], "it moved toward it"
