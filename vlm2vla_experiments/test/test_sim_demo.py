"""vlm2vla-demo: the demo policy is built once, cached, and rebuilt when its recipe changes."""

import json

import pytest

from vlm2vla_experiments.demo import main

pytestmark = pytest.mark.slow


def test_demo_policy_is_prepared_cached_and_rebuilt_for_another_recipe(
    tmp_path, capsys, egl_renderer_works
):
    cache = tmp_path / "demo"
    small = ["--episodes", "2", "--vision-layouts", "20", "--vision-steps", "2"]
    argv = ["--prepare-only", *small, "--fit-steps", "3", "--cache", str(cache)]
    assert main(argv) == 0
    adapter = cache / "run" / "adapter" / "vlm2vla_adapter.json"
    assert adapter.is_file() and (cache / "base" / "config.json").is_file()
    vision = json.loads((cache / "base" / "vision_pretrain.json").read_text())
    assert vision["config"]["layouts"] == 20 and 0 <= vision["patch_found"] <= 1
    assert json.loads((cache / "recipe.json").read_text())["fit_steps"] == 3
    built = json.loads((cache / "data" / "build_report.json").read_text())
    assert built["totals"]["samples"]["train"]["chunk"] > 0
    labels = sorted((cache / "store" / "labels" / "recorded").glob("*.json"))
    assert len(labels) == 2, "the expert's own subtasks label every episode"
    stamp = adapter.stat().st_mtime_ns
    capsys.readouterr()

    assert main(argv) == 0
    assert adapter.stat().st_mtime_ns == stamp, "a cached policy is reused"
    assert "another recipe" not in capsys.readouterr().out

    assert main([*argv[:-4], "--fit-steps", "4", "--cache", str(cache)]) == 0
    assert "another recipe" in capsys.readouterr().out
    assert json.loads((cache / "recipe.json").read_text())["fit_steps"] == 4
