"""Readers: BridgeData raw, MCAP bags, LeRobot, RLDS steps -> Episode; the safe unpickler."""

import io
import os
import pickle

import numpy as np
import pytest

from vlm2vla_training import synthetic
from vlm2vla_training.episode import ActionOptions, Episode, EpisodeError, recompute_actions
from vlm2vla_training.readers import ReadOptions, make_reader
from vlm2vla_training.readers.mcap_bag import commanded_gripper
from vlm2vla_training.readers.rlds import RldsConfig, episode_from_steps
from vlm2vla_training.safe_pickle import RestrictedUnpickler, UnsafePickleError

CONFIG = synthetic.SyntheticConfig(num_steps=12)


def _read_all(reader):
    episodes, errors = [], []
    for source in reader.sources():
        try:
            items = source.load()
        except EpisodeError as exc:
            errors.append((source.source_id, str(exc)))
            continue
        for item in items:
            (
                errors.append((source.source_id, str(item)))
                if isinstance(item, EpisodeError)
                else episodes.append(item)
            )
    return episodes, errors


@pytest.fixture(scope="module")
def bridge_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("bridge")
    dirs = synthetic.write_bridge_raw(root, 4, seed=1, config=CONFIG, corrupt={3: "missing_frame"})
    return root, dirs


def test_bridge_raw_reads_both_policy_out_forms_and_recomputes_actions(bridge_root):
    root, dirs = bridge_root
    reader = make_reader("bridge_raw", root, ReadOptions())
    assert reader.count() == 4
    episodes, errors = _read_all(reader)
    assert len(episodes) == 3
    assert len(errors) == 1 and "traj3" in errors[0][0] and "missing" in errors[0][1]
    for episode in episodes:  # traj0, traj2 use dict actions; traj1 plain arrays
        assert episode.instruction.startswith("put the ")
        assert "confidence" not in episode.instruction
        assert len(episode.frames) == len(episode.states) == episode.num_steps + 1 == 13
        # a_t = s_{t+1} - s_t for xyz and rpy; last observation has no action
        np.testing.assert_allclose(episode.actions[:, :6], np.diff(episode.states[:, :6], axis=0))
        assert set(np.unique(episode.actions[:, 6])) <= {0.0, 1.0}
        assert episode.frames.image(0).size == CONFIG.image_size
    # the gripper is the binarised commanded gripper of each step (as the peers relabel Bridge)
    with (dirs[1] / "policy_out.pkl").open("rb") as f:
        commanded = np.asarray(RestrictedUnpickler(f).load())
    np.testing.assert_array_equal(episodes[1].actions[:, 6], (commanded[:, 6] >= 0.5).astype(float))


def test_bridge_raw_flag_gives_policy_out_as_recorded(bridge_root):
    root, dirs = bridge_root
    options = ReadOptions(actions=ActionOptions(source="raw"), limit=1)
    (episode,) = make_reader("bridge_raw", root, options).sources().__next__().load()
    with (dirs[0] / "policy_out.pkl").open("rb") as f:
        recorded = np.asarray([step["actions"] for step in RestrictedUnpickler(f).load()])
    np.testing.assert_allclose(episode.actions, recorded)
    assert episode.action_source == "raw"


@pytest.mark.parametrize("kind", synthetic.CORRUPTIONS[:2])
def test_bridge_raw_bad_trajectory_raises_episode_error_with_reason(tmp_path, kind):
    synthetic.write_bridge_raw(tmp_path, 1, config=CONFIG, corrupt={0: kind})
    reader = make_reader("bridge_raw", tmp_path, ReadOptions())
    with pytest.raises(EpisodeError, match="traj0"):
        next(reader.sources()).load()


def test_bridge_raw_without_instruction_is_skipped_unless_allowed(tmp_path):
    (traj,) = synthetic.write_bridge_raw(tmp_path, 1, config=CONFIG)
    (traj / "lang.txt").unlink()
    with pytest.raises(EpisodeError, match="no language instruction"):
        next(make_reader("bridge_raw", tmp_path, ReadOptions()).sources()).load()
    options = ReadOptions(require_instruction=False)
    (episode,) = next(make_reader("bridge_raw", tmp_path, options).sources()).load()
    assert episode.instruction == ""


def test_restricted_unpickler_refuses_arbitrary_callables(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with pytest.raises(UnsafePickleError, match=r"(posix|os|nt)\.system"):
        RestrictedUnpickler(io.BytesIO(pickle.dumps(Payload()))).load()
    data = {"state": np.ones((2, 7), np.float32), "t": [np.float64(1.5)], "b": b"x"}
    for protocol in (2, 5):
        loaded = RestrictedUnpickler(io.BytesIO(pickle.dumps(data, protocol=protocol))).load()
        np.testing.assert_array_equal(loaded["state"], data["state"])


def test_recompute_actions_wraps_rotation_and_uses_reached_gripper_without_commands():
    states = np.zeros((3, 7))
    states[:, 0] = [0.1, 0.12, 0.11]
    states[:, 5] = [3.1, -3.1, -3.0]
    states[:, 6] = [1.0, 0.3, 0.8]
    actions = recompute_actions(states)
    np.testing.assert_allclose(actions[:, 0], [0.02, -0.01])
    np.testing.assert_allclose(actions[:, 5], [2 * np.pi - 6.2, 0.1], atol=1e-12)
    np.testing.assert_array_equal(actions[:, 6], [0.0, 1.0])


def test_commanded_gripper_spreads_each_chunk_over_its_observations():
    chunks = [
        {"observation": -1, "gripper": [1.0, 1.0]},
        {"observation": 4, "gripper": [0.0, 0.0, 1.0]},
    ]
    np.testing.assert_array_equal(commanded_gripper(chunks, 10), [1, 1, 1, 1, 0, 0, 0, 0, 1, 1])
    assert commanded_gripper([], 10) is None


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    path = tmp_path_factory.mktemp("bag") / "session"
    return path, synthetic.write_mcap_bag(path, 2, seed=2, config=CONFIG)


def test_mcap_bag_gives_one_episode_per_instruction_with_fk_states(bag):
    path, trajectories = bag
    episodes, errors = _read_all(make_reader("mcap", path, ReadOptions()))
    assert errors == []
    assert [e.instruction for e in episodes] == [t.instruction for t in trajectories]
    for episode, trajectory in zip(episodes, trajectories, strict=True):
        assert episode.num_steps == CONFIG.num_steps
        np.testing.assert_allclose(episode.states[:, :3], trajectory.states[:, :3], atol=1e-9)
        np.testing.assert_allclose(episode.states[:, 6], trajectory.states[:, 6], atol=1e-9)
        np.testing.assert_allclose(episode.states[:, 3:6], 0.0, atol=2e-3)  # gripper down
        np.testing.assert_allclose(episode.actions[:, :3], np.diff(episode.states[:, :3], axis=0))
        assert episode.frames.image(0).size == CONFIG.image_size
        chunks = episode.metadata["policy_chunks"]
        assert chunks and chunks[0]["observation"] == 0 and len(chunks[0]["translations_m"]) == 1


def test_mcap_truncated_bag_is_reported_not_fatal(bag, tmp_path):
    path, _ = bag
    storage = path / "session_0.mcap"
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(storage.read_bytes()[: storage.stat().st_size * 2 // 3])
    _, errors = _read_all(make_reader("mcap", cut, ReadOptions()))
    assert errors and "reading stopped" in errors[-1][1]


@pytest.mark.parametrize("version", ["v2.1", "v3.0"])
def test_lerobot_reader_maps_8d_state_and_reads_png_frames(tmp_path, version):
    synthetic.write_lerobot(tmp_path / "ds", 3, seed=3, config=CONFIG, version=version)
    episodes, errors = _read_all(make_reader("lerobot", tmp_path / "ds", ReadOptions()))
    assert errors == [] and len(episodes) == 3
    rng = np.random.default_rng(3)
    for episode in episodes:  # v3: each episode's rows picked out of the shared data file
        expected = synthetic.make_trajectory(rng, CONFIG)
        assert len(episode.states) == len(expected.states)
        np.testing.assert_allclose(episode.states, expected.states)
        np.testing.assert_allclose(episode.actions, synthetic.expected_actions(expected))
        assert episode.instruction == expected.instruction
        assert episode.frames.encoded(0).startswith(b"\x89PNG")


def test_lerobot_v1_is_refused_naming_the_supported_versions(tmp_path):
    synthetic.write_lerobot(tmp_path / "ds", 1, config=CONFIG)
    info = tmp_path / "ds" / "meta" / "info.json"
    info.write_text(info.read_text().replace('"v2.1"', '"v1.6"'))
    with pytest.raises(ValueError, match=r"v3\.x and v2\.x"):
        make_reader("lerobot", tmp_path / "ds", ReadOptions())


def test_rlds_steps_to_episode_drops_last_step():
    rng = np.random.default_rng(4)
    trajectory = synthetic.make_trajectory(rng, CONFIG)
    actions = np.concatenate([trajectory.commanded, trajectory.commanded[-1:]])
    steps = [
        {
            "observation": {"image_0": frame, "state": state},
            "action": action,
            "language_instruction": trajectory.instruction.encode(),
        }
        for frame, state, action in zip(trajectory.frames, trajectory.states, actions, strict=True)
    ]
    episode = episode_from_steps(steps, "bridge/train/0", "test", ReadOptions(), RldsConfig())
    assert isinstance(episode, Episode) and episode.episode_id == "rlds--bridge--train--0"
    assert episode.num_steps == CONFIG.num_steps
    np.testing.assert_allclose(episode.actions, synthetic.expected_actions(trajectory))
    raw = episode_from_steps(
        steps, "b/0", "test", ReadOptions(actions=ActionOptions("raw")), RldsConfig()
    )
    np.testing.assert_allclose(raw.actions, trajectory.commanded)


def test_rlds_key_mapping_reads_another_open_x_layout():
    rng = np.random.default_rng(5)
    trajectory = synthetic.make_trajectory(rng, CONFIG)
    actions = np.concatenate([trajectory.commanded, trajectory.commanded[-1:]], axis=0)
    padded = np.insert(trajectory.states, 6, 0.0, axis=1)  # 8-D, a pad before the gripper
    steps = [
        {
            "observation": {"image": frame, "robot": {"eef_state": state}},
            "action": action,
            "natural_language_instruction": trajectory.instruction.encode(),
        }
        for frame, state, action in zip(trajectory.frames, padded, actions, strict=True)
    ]
    config = RldsConfig(
        default_image_key="image",
        state_key="observation/robot/eef_state",
        instruction_key="natural_language_instruction",
        state_indices=(0, 1, 2, 3, 4, 5, 7),
    )
    episode = episode_from_steps(steps, "fractal/train/0", "test", ReadOptions(), config)
    np.testing.assert_allclose(episode.states, trajectory.states)
    np.testing.assert_allclose(episode.actions, synthetic.expected_actions(trajectory))
    assert episode.instruction == trajectory.instruction
    with pytest.raises(EpisodeError, match="state_indices"):
        episode_from_steps(steps, "x", "test", ReadOptions(), RldsConfig(
            default_image_key="image", state_key="observation/robot/eef_state"))  # fmt: skip


def test_reader_config_is_checked_against_the_reader(tmp_path):
    with pytest.raises(ValueError, match="state_keey"):
        make_reader("rlds", tmp_path, ReadOptions(), {"state_keey": "x"})
    reader = make_reader("rlds", tmp_path, ReadOptions(), {"state_indices": [0, 1, 2, 3, 4, 5, 7]})
    assert reader.config.state_indices == (0, 1, 2, 3, 4, 5, 7)


def test_rlds_reader_says_how_to_install_tensorflow_datasets(tmp_path):
    pytest.importorskip("vlm2vla_training.readers.rlds")
    try:
        import tensorflow_datasets  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("tensorflow-datasets is installed here")
    from vlm2vla_training.readers import ReaderUnavailableError

    reader = make_reader("rlds", tmp_path, ReadOptions())
    with pytest.raises(ReaderUnavailableError, match=r"pip install 'vlm2vla_training\[rlds\]'"):
        reader.count()


def _rewrite_obs(traj_dir, **entries):
    path = traj_dir / "obs_dict.pkl"
    with path.open("rb") as stream:
        obs = RestrictedUnpickler(stream).load()
    for key, value in entries.items():
        if value is None:
            obs.pop(key)
        else:
            obs[key] = value
    path.write_bytes(pickle.dumps(obs))
    return obs


@pytest.mark.parametrize(
    "layout", ["full_state_only", "state_only", "both_differ", "full_state_wrong_shape"]
)
def test_bridge_raw_reads_full_state_first_as_the_official_converters(tmp_path, layout):
    from vlm2vla_training.readers.bridge_raw import read_states

    (traj,) = synthetic.write_bridge_raw(tmp_path, 1, config=CONFIG)
    obs = _rewrite_obs(traj)
    states = np.asarray(obs["full_state"])
    other = states + 0.5
    entries = {
        "full_state_only": {"state": None},
        "state_only": {"full_state": None, "state": other},
        "both_differ": {"state": other},
        "full_state_wrong_shape": {"full_state": states[:, :6], "state": other},
    }[layout]
    _rewrite_obs(traj, **entries)
    expected = states if layout in ("full_state_only", "both_differ") else other
    np.testing.assert_allclose(read_states(traj), expected)


def test_bridge_raw_without_any_state_is_a_bad_episode(tmp_path):
    from vlm2vla_training.readers.bridge_raw import read_states

    (traj,) = synthetic.write_bridge_raw(tmp_path, 1, config=CONFIG)
    _rewrite_obs(traj, full_state=np.zeros((3, 6)), state=None)
    with pytest.raises(EpisodeError, match="full_state"):
        read_states(traj)
