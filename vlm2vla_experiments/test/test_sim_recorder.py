"""Recorded demonstrations convert with vlm2vla_training's readers, unchanged."""

import numpy as np
import pytest

from vlm2vla_experiments.record_cli import main as record_main
from vlm2vla_experiments.recorder import ee_states, mcap_bag_dir, write_mcap_episode
from vlm2vla_sim import RolloutConfig, SimConfig, WidowXSim, parse_task, run_episode
from vlm2vla_sim.camera import CameraConfig
from vlm2vla_training.cli import main as train_main
from vlm2vla_training.readers import ReadOptions, make_reader
from vlm2vla_training.relabel import RecordedLabeler
from vlm2vla_training.store import EpisodeStore

TASK = "pick up the block"


@pytest.fixture(scope="module")
def small_sim():
    simulator = WidowXSim(SimConfig(camera=CameraConfig(width=64, height=48)))
    yield simulator
    simulator.close()


def read_all(reader_name: str, path) -> list:
    reader = make_reader(reader_name, path, ReadOptions())
    episodes = [item for source in reader.sources() for item in source.load()]
    assert all(not isinstance(e, Exception) for e in episodes), episodes
    return episodes


def test_bridge_recording_converts_with_vlm2vla_train(tmp_path, egl_renderer_works, capsys):
    out = tmp_path / "sim"
    code = record_main(
        ["--task", TASK, "--episodes", "1", "--out", str(out), "--width", "64", "--height", "48"]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert f"[1/1] {TASK} seed 0: success" in printed and "; ETA 0 min 00 s" in printed, printed
    (episode,) = read_all("bridge_raw", out)
    assert episode.instruction == TASK
    assert len(episode.frames) == len(episode.states) == len(episode.actions) + 1
    assert episode.frames.image(0).size == (64, 48)
    assert episode.states[-1, 2] > episode.states[0, 2] - 0.05, "ends lifted near the start"
    np.testing.assert_allclose(episode.states[:, 3:6], 0.0, atol=0.02)  # gripper points down
    assert episode.actions[:, 6].min() == 0.0, "the gripper closes during a pick"
    store = tmp_path / "store"
    args = ["convert", "--reader", "bridge_raw", "--input", str(out), "--store", str(store)]
    assert train_main([*args, "--quiet"]) == 0
    assert len(EpisodeStore(store).episode_ids()) == 1
    assert record_main(["--task", TASK, "--episodes", "1", "--out", str(out)]) == 0, "resumes"
    assert f"[1/1] {TASK} seed 0: on disk, kept" in capsys.readouterr().out


def test_mcap_recording_gives_the_same_states_as_the_bridge_layout(
    tmp_path, small_sim, egl_renderer_works
):
    task = parse_task(TASK)
    episode = run_episode(small_sim, task, 2, RolloutConfig())
    assert episode.success
    bag = write_mcap_episode(mcap_bag_dir(tmp_path, task, 2), episode, 0.2)
    assert (bag / "metadata.yaml").is_file()
    (read,) = read_all("mcap", tmp_path)
    assert read.instruction == TASK
    np.testing.assert_allclose(read.states, ee_states(episode), atol=1e-6)
    chunks = read.metadata["policy_chunks"]
    assert [c["subtask"] for c in chunks][:2] == ["reach the block", "reach the block"]
    assert chunks[0]["observation"] == 0
    # The grasp holds the block half open: the actions carry the command, not the reached fingers.
    assert read.actions[:, 6].min() == 0.0 and read.actions[0, 6] == 1.0
    segments = RecordedLabeler().label(read)
    assert [s.subtask for s in segments] == ["reach the block", "grasp the block", "lift the block"]
    grasp = segments[1]
    assert read.actions[grasp.start_step : grasp.end_step, 6].min() == 0.0
    assert "close the gripper" in grasp.motion_plan and "up" in segments[2].motion_plan
