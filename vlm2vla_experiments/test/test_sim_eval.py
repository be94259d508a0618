"""vlm2vla-sim-eval: seeded closed-loop episodes give a JSON summary, videos, plots and a CI."""

import json

import pytest

from vlm2vla_experiments.compare import compare
from vlm2vla_experiments.compare import main as compare_main
from vlm2vla_experiments.eval_cli import main
from vlm2vla_experiments.evaluation import wilson_interval


def test_wilson_interval_contains_the_rate_and_narrows():
    for successes, trials in ((0, 2), (1, 2), (2, 2), (7, 20), (20, 20)):
        low, high = wilson_interval(successes, trials)
        assert 0 <= low <= successes / trials <= high <= 1
    assert wilson_interval(0, 0) == (0.0, 1.0)
    # 10/20 at 95 %: the textbook interval 0.299 .. 0.701
    assert wilson_interval(10, 20) == pytest.approx((0.2993, 0.7007), abs=1e-3)
    assert wilson_interval(50, 200)[1] - wilson_interval(50, 200)[0] < 0.13


def _check_run(out, episodes):
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == len(summary["per_episode"]) == episodes
    low, high = summary["success_ci95"]
    assert low <= summary["success_rate"] <= high
    assert summary["mean_final_distance_m"] > 0
    assert 0 < summary["mean_closest_distance_m"] <= summary["mean_initial_distance_m"]
    assert summary["cycle_s"]["mean"] > 0
    seeds = [e["seed"] for e in summary["per_episode"]]
    assert seeds == list(range(seeds[0], seeds[0] + episodes))
    for episode in summary["per_episode"]:
        assert 1 <= episode["cycles"] <= summary["config"]["max_cycles"]
        assert episode["closest_distance_m"] <= min(
            episode["initial_distance_m"], episode["final_distance_m"]
        )
        assert episode["video"].endswith((".gif", ".mp4")) and episode["plot"].endswith(".png")
        assert (out / episode["video"].split("/")[-1]).stat().st_size > 0
        assert (out / episode["plot"].split("/")[-1]).stat().st_size > 0
    return summary


def test_random_baseline_and_tiny_model_run_seeded_episodes(tmp_path, tiny_gemma3_dir, capsys):
    common = ["--task", "pick up the block", "--episodes", "2", "--max-cycles", "2", "--quiet"]
    common += ["--width", "96", "--height", "72"]
    assert main([*common, "--random", "--out", str(tmp_path / "random")]) == 0
    random = _check_run(tmp_path / "random", 2)
    assert random["policy"] == "random" and random["successes"] == 0
    argv = [*common, "--model", str(tiny_gemma3_dir), "--device", "cpu", "--verifier", "none"]
    assert main([*argv, "--out", str(tmp_path / "tiny")]) == 0
    tiny = _check_run(tmp_path / "tiny", 2)
    assert tiny["policy"].startswith("hf:")
    assert "succeeded" in capsys.readouterr().out


def test_unknown_task_is_a_clear_error(tmp_path, capsys):
    assert main(["--task", "juggle", "--random", "--out", str(tmp_path)]) == 2
    assert "unsupported task" in capsys.readouterr().err


def _summary(policy, finals, successes):
    episodes = [
        {"seed": 1000 + i, "success": s, "final_distance_m": f, "closest_distance_m": f / 2}
        for i, (f, s) in enumerate(zip(finals, successes, strict=True))
    ]
    return {"policy": policy, "per_episode": episodes}


def test_compare_pairs_seeds_and_bounds_the_difference(tmp_path, capsys):
    better = _summary("a", [0.10, 0.12, 0.08, 0.11], [True, False, True, False])
    worse = _summary("b", [0.20, 0.25, 0.18, 0.21], [False] * 4)
    result = compare(better, worse)
    final = result["metrics"]["final_distance_m"]
    assert final["mean"] == pytest.approx(-0.1075)
    assert final["ci95_low"] <= final["mean"] <= final["ci95_high"] < 0
    assert result["metrics"]["success"]["a"] == 0.5
    same = compare(better, better)["metrics"]["final_distance_m"]
    # Each bootstrap difference is two BLAS matrix-vector products (of two equal arrays) minus
    # each other: zero, unless the kernel's last bits depend on the arrays' memory alignment.
    assert (same["ci95_low"], same["ci95_high"]) == pytest.approx((0.0, 0.0), abs=1e-12)
    for name, summary in (("a", better), ("b", worse)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps(summary))
    assert compare_main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert "-10.75 cm" in capsys.readouterr().out
    worse["per_episode"] = [{**e, "seed": e["seed"] + 100} for e in worse["per_episode"]]
    with pytest.raises(ValueError, match="share no seed"):
        compare(better, worse)
