"""vlm2vla-demo: the policy is built stage by stage, each stage cached under a key of what decides
it (a changed FIT_STEPS refits the adapter only), exported as shipped assets and taken from them."""

import json

import pytest

from vlm2vla_experiments.demo import main
from vlm2vla_experiments.demo_live import Outcome

SMALL = ["--episodes", "2", "--vision-layouts", "20", "--vision-steps", "2"]


def stage_dir(cache, name):
    (found,) = cache.glob(f"{name}-*")
    return found


@pytest.mark.slow
def test_stages_are_cached_by_what_decides_them_and_exported_as_assets(
    tmp_path, capsys, egl_renderer_works
):
    cache = tmp_path / "demo"
    argv = ["--train", "--prepare-only", *SMALL, "--cache", str(cache)]
    assert main([*argv, "--fit-steps", "3"]) == 0
    run = stage_dir(cache, "run")
    adapter = run / "adapter" / "vlm2vla_adapter.json"
    base = stage_dir(cache, "base")
    assert adapter.is_file() and (base / "config.json").is_file()
    vision = json.loads((base / "vision_pretrain.json").read_text())
    assert vision["config"]["layouts"] == 20 and 0 <= vision["patch_found"] <= 1
    assert json.loads((run / "recipe.json").read_text())["fit_steps"] == 3
    data = stage_dir(cache, "data")
    built = json.loads((data / "samples" / "build_report.json").read_text())
    assert built["totals"]["samples"]["train"]["chunk"] > 0
    labels = sorted((data / "store" / "labels" / "recorded").glob("*.json"))
    assert len(labels) == 2, "the expert's own subtasks label every episode"
    kept = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    capsys.readouterr()

    assert main([*argv, "--fit-steps", "3"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("cached in") == 4, printed
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items()), "a cached stage was redone"

    assets = tmp_path / "assets"
    assert main([*argv, "--fit-steps", "4", "--export-assets", str(assets)]) == 0
    printed = capsys.readouterr().out
    for stage in ("expert demonstrations", "training set", "vision-pretrained base"):
        assert f"{stage}: cached in" in printed, f"FIT_STEPS changed, {stage} was rebuilt"
    assert "LoRA adapter: cached" not in printed and len(list(cache.glob("run-*"))) == 2
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items()), "FIT_STEPS redid a stage"
    manifest = json.loads((assets / "MANIFEST.json").read_text())
    assert manifest["recipe"]["fit_steps"] == 4 and manifest["versions"]["torch"]
    assert "--export-assets" in manifest["command"]
    config = json.loads((assets / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "../base", "the cache path leaked into the assets"

    assert main(["--prepare-only", "--assets", str(assets), "--cache", str(cache)]) == 0
    printed = capsys.readouterr().out
    assert "the shipped demo policy" in printed and str(assets / "adapter") in printed


def state(ee, block, finger=0.037, lifted=False, success=False):
    return {"ee_m": ee, "objects_m": {"block": block}, "finger_m": finger, "lifted": lifted,
            "success": success}  # fmt: skip


def test_the_verdict_names_the_closest_approach_and_where_the_gripper_closed():
    missed = Outcome("block")
    for ee, finger in [
        ((0.3, 0.0, 0.2), 0.037),
        ((0.3, 0.05, 0.1), 0.037),
        ((0.3, 0.04, 0.1), 0.01),
    ]:
        missed.add(state(ee, (0.3, 0.1, 0.1), finger))
    assert missed.verdict() == (
        "FAILURE: the block is not lifted; closest gripper-block distance 5.0 cm, "
        "the gripper closed 6.0 cm from it"
    )
    lifted = Outcome("block")
    lifted.add(state((0.3, 0.1, 0.11), (0.3, 0.1, 0.1)))
    lifted.add(state((0.3, 0.1, 0.2), (0.3, 0.1, 0.19), finger=0.015, lifted=True, success=True))
    assert lifted.verdict().startswith("SUCCESS: the block is lifted 9.0 cm")
    assert Outcome("block").verdict().startswith("FAILURE: no task state")
