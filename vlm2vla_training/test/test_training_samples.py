"""Samples of each stage: built with the language module, consistent with the episode's motion."""

import numpy as np
import pytest

from vlm2vla_policy.language import (
    check_plan,
    chunk_deltas,
    decode_chunk,
    parse_plan,
    plan_from_steps,
)
from vlm2vla_training import synthetic
from vlm2vla_training.dataset_build import episode_rng, split_episodes
from vlm2vla_training.episode import Episode, EpisodeError
from vlm2vla_training.frames import ArrayFrames
from vlm2vla_training.relabel import HeuristicLabeler, Segment
from vlm2vla_training.samples import SampleBuilder, SampleConfig


@pytest.fixture(scope="module")
def episode():
    trajectory = synthetic.make_trajectory(
        np.random.default_rng(11), synthetic.SyntheticConfig(num_steps=15)
    )
    return Episode(
        episode_id="ep",
        source="test",
        instruction=trajectory.instruction,
        fps=5.0,
        states=trajectory.states,
        actions=synthetic.expected_actions(trajectory),
        frames=ArrayFrames(trajectory.frames),
    )


def _by_stage(samples, stage):
    return [s for s in samples if s.stage == stage]


def test_chunks_follow_the_papers_chunking_and_plans_describe_them(episode):
    segments = HeuristicLabeler().label(episode)
    samples = SampleBuilder().build(episode, segments, episode_rng(0, "ep"))
    chunks, plans = _by_stage(samples, "chunk"), _by_stage(samples, "plan")
    assert len(chunks) == len(plans) == len(segments)
    for segment, chunk, plan in zip(segments, chunks, plans, strict=True):
        assert chunk.frames == plan.frames == (segment.start_step,)
        merged = chunk_deltas(episode.actions[segment.start_step : segment.end_step])
        decoded = decode_chunk(chunk.example.answer)
        np.testing.assert_allclose(
            np.array(decoded), np.array([m.step for m in merged]), atol=0.0005
        )
        prompt = chunk.example.messages[0]["content"][-1]["text"]
        assert f"Motion plan: {plan.example.answer}" in prompt and segment.subtask in prompt
        before = episode.actions[max(segment.start_step - 1, 0), 6]
        written = parse_plan(plan.example.answer)
        assert check_plan(written, [m.step for m in merged], before).agrees
        truth = plan_from_steps([m.step for m in merged], before)
        assert written.directions == truth.directions and written.gripper == truth.gripper


PAPER_PLAN = "lift the pepper up to clear the stove knobs, then move forward and slightly right"


def test_free_plans_survive_the_sample_round_trip_and_disagreeing_labels_are_filtered(episode):
    actions = np.zeros((6, 7))
    actions[:, 0], actions[:, 1], actions[:, 2], actions[:, 6] = 0.01, -0.004, 0.012, 1.0
    lifting = Episode(
        episode_id="lift", source="test", instruction="lift the pepper", fps=5.0,
        states=np.zeros((7, 7)), actions=actions,
        frames=ArrayFrames(np.zeros((7, 8, 8, 3), np.uint8)),
    )  # fmt: skip
    builder = SampleBuilder(SampleConfig(stages=("plan", "chunk")))
    samples = builder.build(
        lifting, [Segment("lift the pepper", 0, 6, PAPER_PLAN)], episode_rng(0, "l")
    )
    plan, chunk = _by_stage(samples, "plan")[0], _by_stage(samples, "chunk")[0]
    assert plan.example.answer == PAPER_PLAN and plan.info["plan_source"] == "label"
    assert f"Motion plan: {PAPER_PLAN}\n" in chunk.example.messages[0]["content"][-1]["text"]
    assert parse_plan(plan.example.answer).text == PAPER_PLAN
    assert builder.plan_checks == {"agrees": 1}
    wrong = [Segment("lift the pepper", 0, 6, "lower the pepper onto the stove")]
    assert not builder.build(lifting, wrong, episode_rng(0, "l"))
    assert builder.plan_checks["disagrees"] == 1
    assert builder.dropped["labeled plan disagrees with its chunk"] == 1
    keep = SampleBuilder(SampleConfig(stages=("plan",), drop_disagreeing_plans=False))
    kept = keep.build(lifting, wrong, episode_rng(0, "l"))
    assert kept[0].example.answer == "lower the pepper onto the stove"
    assert kept[0].info["plan_source"] == "label, disagrees with the chunk"


def test_verification_positives_and_negatives(episode):
    segments = HeuristicLabeler().label(episode)
    config = SampleConfig(stages=("verification",), negatives_per_positive=3)
    samples = SampleBuilder(config).build(episode, segments, episode_rng(0, "ep"))
    positives = [s for s in samples if s.info["kind"] == "positive"]
    negatives = [s for s in samples if s.info["kind"] != "positive"]
    assert len(positives) == len(segments) and len(negatives) == 3 * len(segments)
    assert all(s.example.answer == "yes" for s in positives)
    assert all(s.example.answer == "no" for s in negatives)
    for sample in negatives:
        segment = segments[sample.info["segment"]]
        if sample.info["kind"] == "incomplete":
            assert sample.frames[0] == segment.start_step
            assert sample.frames[1] < segment.start_step + max(segment.num_steps // 2, 1)
        else:
            assert sample.frames == (segment.start_step, segment.end_step)
            assert segment.subtask not in sample.example.messages[0]["content"][-1]["text"]
    again = SampleBuilder(config).build(episode, segments, episode_rng(0, "ep"))
    assert [(s.frames, s.example.messages) for s in again] == [
        (s.frames, s.example.messages) for s in samples
    ]


def test_window_stride_adds_mid_subtask_samples_and_direction_follows_y(episode):
    segments = [Segment("move the cup", 0, episode.num_steps, "stay still")]
    config = SampleConfig(
        stages=("chunk", "direction"), window_stride_steps=5, use_label_plans=False
    )
    samples = SampleBuilder(config).build(episode, segments, episode_rng(0, "ep"))
    starts = [s.frames[0] for s in _by_stage(samples, "chunk")]
    assert starts == [0, 5, 10]
    for sample in _by_stage(samples, "direction"):
        dy = episode.actions[sample.frames[0] :, 1].sum()
        expected = "none" if abs(dy) < 0.01 else ("left" if dy > 0 else "right")
        assert sample.example.answer == expected


def test_unusable_inputs(episode):
    builder = SampleBuilder()
    no_instruction = Episode(
        episode_id="x",
        source="t",
        instruction=" ",
        fps=5.0,
        states=episode.states,
        actions=episode.actions,
        frames=episode.frames,
    )
    with pytest.raises(EpisodeError, match="no instruction"):
        builder.build(no_instruction, HeuristicLabeler().label(episode), episode_rng(0, "x"))
    too_many = [Segment(f"step {i}", i, i + 1, "stay still") for i in range(episode.num_steps)]
    samples = builder.build(episode, too_many, episode_rng(0, "ep"))
    assert not _by_stage(samples, "subtasks") and builder.dropped


def test_split_is_by_episode_deterministic_and_never_empty():
    ids = [f"ep{i}" for i in range(10)]
    split = split_episodes(ids, seed=3, eval_fraction=0.2)
    assert split == split_episodes(list(reversed(ids)), seed=3, eval_fraction=0.2)
    assert len(split["eval"]) == 2 and sorted(split["train"] + split["eval"]) == sorted(ids)
    assert split_episodes(ids[:2], seed=0, eval_fraction=0.01)["eval"] != []
    assert split_episodes(ids, seed=0, eval_fraction=0.0)["eval"] == []
