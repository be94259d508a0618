"""convert -> relabel (heuristic) -> build through the CLI, on synthetic Bridge data and a bag."""

import json

import pytest

from vlm2vla_policy.language import Stage, decode_chunk, parse_plan, parse_subtasks
from vlm2vla_training import synthetic
from vlm2vla_training.cli import main
from vlm2vla_training.commands import COMMANDS
from vlm2vla_training.store import EpisodeStore

CONFIG = synthetic.SyntheticConfig(num_steps=15)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    synthetic.write_bridge_raw(
        root / "bridge", 4, seed=5, config=CONFIG, corrupt={2: "truncated_pickle"}
    )
    synthetic.write_mcap_bag(root / "bags" / "run1", 1, seed=6, config=CONFIG)
    store = root / "store"
    steps = [
        [
            "convert",
            "--reader",
            "bridge_raw",
            "--input",
            str(root / "bridge"),
            "--store",
            str(store),
        ],
        ["convert", "--reader", "mcap", "--input", str(root / "bags"), "--store", str(store)],
        ["relabel", "--store", str(store), "--labeler", "heuristic"],
        ["build", "--store", str(store), "--out", str(root / "out"), "--eval-fraction", "0.25"],
    ]
    for argv in steps:
        assert main([*argv, "--quiet"]) == 0, argv
    return root


def test_corrupt_episode_is_reported_and_skipped(built):
    store = built / "store"
    report = json.loads((store / "reports" / "convert-bridge_raw.json").read_text())
    assert len(report["done"]) == 3 and len(report["skipped"]) == 1
    bag_report = json.loads((store / "reports" / "convert-mcap.json").read_text())
    assert len(bag_report["done"]) == 1 and bag_report["skipped"] == []
    # a rerun resumes: nothing is converted again, the corrupt trajectory is reported again
    argv = ["convert", "--reader", "bridge_raw", "--input", str(built / "bridge"), "--store"]
    assert main([*argv, str(store), "--quiet"]) == 0
    report = json.loads((store / "reports" / "convert-bridge_raw.json").read_text())
    assert report["done"] == [] and len(report["already_done"]) == 3
    (skipped,) = report["skipped"]
    assert "traj2" in skipped["item"] and "obs_dict.pkl cannot be read" in skipped["reason"]
    ids = EpisodeStore(store).episode_ids()
    assert len(ids) == 4 and not any("traj2" in e for e in ids)


def test_dataset_has_every_stage_split_by_episode(built):
    from datasets import load_from_disk

    dataset = load_from_disk(str(built / "out" / "dataset"))
    train, evaluation = dataset["train"], dataset["eval"]
    assert len(set(train["episode_id"])) == 3 and len(set(evaluation["episode_id"])) == 1
    assert not set(train["episode_id"]) & set(evaluation["episode_id"])
    assert set(train["stage"]) == {stage.value for stage in Stage}
    for row in train:
        answer = row["answer"]
        assert row["messages"][-1] == {
            "role": "assistant",
            "content": [{"type": "text", "text": answer}],
        }
        placeholders = [c for c in row["messages"][0]["content"] if c["type"] == "image"]
        assert len(placeholders) == len(row["images"]) == len(row["frames"])
        assert row["images"][0].size == CONFIG.image_size
        if row["stage"] == "chunk":
            assert decode_chunk(answer)
        elif row["stage"] == "plan":
            parse_plan(answer)
        elif row["stage"] == "subtasks":
            assert parse_subtasks(answer)[0].startswith("grasp the ")
        elif row["stage"] == "verification":
            assert answer in ("yes", "no")
        else:
            assert answer in ("left", "right", "none")
    info = json.loads((built / "out" / "build_info.json").read_text())
    assert info["format_version"] >= 1 and info["language_config"]["chunking"]


def test_rerun_skips_finished_work_and_refuses_other_settings(built, capsys):
    store, out = str(built / "store"), str(built / "out")
    assert main(["relabel", "--store", store, "--quiet"]) == 0
    assert "0 done, 4 already done" in capsys.readouterr().out
    assert (
        main(["build", "--store", store, "--out", out, "--eval-fraction", "0.25", "--quiet"]) == 0
    )
    assert "0 done, 4 already done" in capsys.readouterr().out
    assert main(["build", "--store", store, "--out", out, "--seed", "1", "--quiet"]) == 2
    assert "built with other settings" in capsys.readouterr().err


def test_build_is_deterministic_for_a_seed(built):
    from datasets import load_from_disk

    store = str(built / "store")
    for name in ("again", "other"):
        seed = "0" if name == "again" else "7"
        argv = ["build", "--store", store, "--out", str(built / name), "--eval-fraction", "0.25"]
        assert main([*argv, "--seed", seed, "--quiet"]) == 0
    first = load_from_disk(str(built / "out" / "dataset"))
    again = load_from_disk(str(built / "again" / "dataset"))
    for split in ("train", "eval"):
        columns = ["episode_id", "stage", "frames", "answer", "info"]
        assert first[split].select_columns(columns).to_list() == (
            again[split].select_columns(columns).to_list()
        )
    other = json.loads((built / "other" / "build_info.json").read_text())
    assert other["build_config"]["seed"] == 7


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert all(name in text for name in COMMANDS)
    for name in COMMANDS:
        with pytest.raises(SystemExit):
            main([name, "--help"])
        assert "--quiet" in capsys.readouterr().out


def test_missing_input_is_a_clear_error(tmp_path, capsys):
    argv = ["convert", "--reader", "bridge_raw", "--input", str(tmp_path / "nope")]
    assert main([*argv, "--store", str(tmp_path / "s")]) == 2
    assert "is not a directory" in capsys.readouterr().err
