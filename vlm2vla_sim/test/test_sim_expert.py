"""The scripted expert solves every task in the library (no ROS), through the chunk executor."""

import numpy as np
import pytest

from vlm2vla_sim import TASKS, RolloutConfig, run_episode
from vlm2vla_sim.expert import straight_steps

# Two seeds per task keep the suite fast; bench/bench_expert.py measures 50 per task.
CASES = [(task, seed) for i, task in enumerate(TASKS) for seed in (10 + i, 20 + i)]


@pytest.mark.parametrize(("task", "seed"), CASES, ids=[f"{t.slug}-{seed}" for t, seed in CASES])
def test_expert_solves_the_task_through_the_executor(sim, task, seed):
    episode = run_episode(sim, task, seed, RolloutConfig(render=False))
    subtasks = [chunk.subtask for _, chunk in episode.chunks]
    assert episode.success, f"seed {seed}: failed after {subtasks}; stops {episode.stops}"
    assert not episode.stops
    n = len(episode.joints_rad)
    assert len(episode.targets) == len(episode.finger_m) == len(episode.times_s) == n
    assert episode.num_actions == n - 1 == len(episode.gripper)
    assert np.allclose(np.diff(episode.times_s), 0.2), "one observation per 5 Hz period"
    moves = np.array(episode.translations_m)
    targets = np.array([t[:3, 3] for t in episode.targets])
    np.testing.assert_allclose(np.diff(targets, axis=0), moves, atol=1e-12)
    assert np.all(np.linalg.norm(moves, axis=1) <= 0.01 + 1e-9), "1 cm per period, as live"
    for _, chunk in episode.chunks:
        assert chunk.steps.shape[1] == 4
        np.testing.assert_array_equal(np.round(chunk.steps[:, :3], 3), chunk.steps[:, :3])


def test_straight_steps_split_and_round_to_the_millimetre():
    steps = straight_steps(np.array([0.0704, -0.0301, 0.0]), 1.0, 0.03)
    assert len(steps) == 3
    np.testing.assert_allclose(steps[:, :3].sum(axis=0), [0.070, -0.030, 0.0], atol=1e-12)
    assert np.all(np.linalg.norm(steps[:, :3], axis=1) <= 0.03 + 1e-9)
    assert np.all(steps[:, 3] == 1.0)
