"""vlm2vla-sim-eval --expert: the scripted demonstrator, reported as a policy is."""

import json
from pathlib import Path

from vlm2vla_experiments.eval_cli import main


def test_expert_baseline_picks_up_the_block_and_reports_as_a_policy(tmp_path, capsys):
    common = ["--task", "pick up the block", "--episodes", "2", "--no-video", "--quiet"]
    assert main([*common, "--expert", "--out", str(tmp_path / "x")]) == 0
    assert "expert: 2/2 succeeded" in capsys.readouterr().out
    summary = json.loads((tmp_path / "x" / "summary.json").read_text())
    assert summary["policy"] == "expert" and summary["episodes"] == 2
    assert (
        summary["successes"] == summary["lifted"] == 2
    )  # the demonstrator solves seeds 1000, 1001
    assert summary["cycle_s"] == {"mean": None, "p50": None, "max": None}  # it does not think
    episodes = summary["per_episode"]
    assert [e["seed"] for e in episodes] == [1000, 1001]
    for episode in episodes:
        assert episode["success"] and episode["lifted"] and episode["loop_state"] == "EXPERT"
        assert episode["cycles"] >= 3  # its chunks: reach, grasp, lift at the least
        # It starts away from the block, reaches it and ends holding it (random chunks end ~20 cm
        # away): the distances are measured to the block along the run, not copied.
        assert episode["initial_distance_m"] > 0.05
        assert episode["closest_distance_m"] <= episode["final_distance_m"] < 0.01
        assert episode["video"] == "" and Path(episode["plot"]).stat().st_size > 0

    argv = [*common[:3], "1", "--no-video", "--quiet", "--max-cycles", "1", "--random"]
    assert main([*argv, "--out", str(tmp_path / "random")]) == 0
    random = json.loads((tmp_path / "random" / "summary.json").read_text())
    assert summary.keys() == random.keys()
    assert episodes[0].keys() == random["per_episode"][0].keys()
