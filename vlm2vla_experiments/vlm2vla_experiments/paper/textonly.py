"""The chunk task without images: the camera image replaced by a textual scene description.

A text-only language model cannot see the camera, so each chunk prompt (written by
:func:`vlm2vla_policy.language.chunk_prompt`) gets a short description of the synthetic scene in
place of its image, e.g.::

    Scene: the gripper is open. The carrot is 4.1 cm forward, 3.0 cm right and 12.9 cm down from
    the gripper. The plate is 1.0 cm backward, 10.2 cm left and 10.0 cm down from the gripper.

Episodes come from :func:`vlm2vla_training.synthetic.make_trajectory`, are labeled by the offline
:class:`~vlm2vla_training.relabel.HeuristicLabeler` and turned into chunk samples by
:class:`~vlm2vla_training.samples.SampleBuilder` (the paper's chunking), exactly as the image
pipeline does; only the image part of the prompt changes. Frame: robot base frame, +x forward,
+y left, +z up; Python values in metres, text in centimetres.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from vlm2vla_policy.language import ActionStep, LanguageConfig, PlanConfig, decode_chunk
from vlm2vla_policy.language.config import PLAN_STYLES
from vlm2vla_policy.language.plan import AXIS_WORDS
from vlm2vla_training import synthetic
from vlm2vla_training.dataset_build import episode_rng
from vlm2vla_training.episode import Episode, EpisodeError
from vlm2vla_training.frames import ArrayFrames
from vlm2vla_training.relabel import HeuristicLabeler
from vlm2vla_training.relabel.heuristic import HeuristicConfig
from vlm2vla_training.relabel.instruction import parse_instruction
from vlm2vla_training.samples import SampleBuilder, SampleConfig

Message = dict[str, Any]

_CM_PER_M = 100.0


@dataclass(frozen=True)
class TextTaskConfig:
    """Which synthetic episodes and chunk windows make up the text-only task."""

    # Seed of the episode layouts (objects, targets, positions, noise).
    seed: int = 0
    # Actions per synthetic episode; 30 gives Bridge-like steps of about 1-1.5 cm.
    steps_per_episode: int = 30
    # A chunk window every k steps inside each subtask (0: one per subtask, at its start).
    window_stride_steps: int = 3
    # Style of the motion plans in prompts and plan answers (PlanConfig.style: free, vocabulary).
    plan_style: str = "free"

    def __post_init__(self) -> None:
        if self.steps_per_episode < 10 or self.window_stride_steps < 0:
            raise ValueError("steps_per_episode must be >= 10 and window_stride_steps >= 0")
        if self.plan_style not in PLAN_STYLES:
            raise ValueError(f"plan_style must be one of {PLAN_STYLES}, got {self.plan_style!r}")

    @property
    def language(self) -> LanguageConfig:
        """The text format of the task's samples (the default one, in this plan style)."""
        return LanguageConfig(plan=PlanConfig(style=self.plan_style))


@dataclass(frozen=True)
class SceneLayout:
    """Where things are in one synthetic episode (metres, base frame)."""

    # Names with their determiner, from the instruction, e.g. "the carrot", "the plate".
    object_name: str
    target_name: str
    # Gripper position where it closed on the object, and where it opened over the target.
    object_m: tuple[float, float, float]
    target_m: tuple[float, float, float]
    # Action index that closes the gripper, and the one that opens it again.
    grasp_step: int
    release_step: int


@dataclass(frozen=True)
class TextChunkSample:
    """One text-only chunk example."""

    # Episode and frame (observation index) the prompt describes.
    episode_id: str
    step: int
    # User message without image parts (scene description + the language module's prompt).
    messages: list[Message]
    # The answer as the language module wrote it: the chunk text (centimetres) or the plan.
    answer: str
    # The chunk's steps as read back from ``answer`` (metres, base frame, gripper 0/1); empty for
    # a plan sample.
    steps: tuple[ActionStep, ...]
    # The stage: "chunk" or "plan".
    stage: str = "chunk"

    @property
    def prompt_text(self) -> str:
        """The text of the user message."""
        return self.messages[0]["content"][-1]["text"]


def episode_from_trajectory(trajectory: synthetic.Trajectory, episode_id: str) -> Episode:
    """An :class:`Episode` of a synthetic trajectory, actions recomputed from reached states."""
    return Episode(
        episode_id=episode_id,
        source="synthetic",
        instruction=trajectory.instruction,
        fps=5.0,
        states=trajectory.states,
        actions=synthetic.expected_actions(trajectory),
        frames=ArrayFrames(trajectory.frames),
    )


def scene_layout(episode: Episode) -> SceneLayout:
    """Object and target of a pick-and-place episode, read from its gripper events.

    The object is where the gripper closed, the target where it opened again. Raises
    :class:`EpisodeError` when the episode does not close and then open the gripper.
    """
    gripper = episode.actions[:, 6]
    closes = np.flatnonzero(gripper < 0.5)
    if not len(closes):
        raise EpisodeError(f"{episode.episode_id}: the gripper never closes; no object to describe")
    grasp = int(closes[0])
    opens = np.flatnonzero(gripper[grasp:] >= 0.5)
    if not len(opens):
        raise EpisodeError(f"{episode.episode_id}: the gripper never opens after the grasp")
    release = grasp + int(opens[0])
    task = parse_instruction(episode.instruction)
    return SceneLayout(
        object_name=task.object,
        target_name=task.target or "the target",
        object_m=tuple(float(v) for v in episode.states[grasp, :3]),
        target_m=tuple(float(v) for v in episode.states[release, :3]),
        grasp_step=grasp,
        release_step=release,
    )


def relative_phrase(offset_m: np.ndarray) -> str:
    """E.g. ``"4.1 cm forward, 3.0 cm right and 12.9 cm down"`` for an offset in metres.

    Axes that round to 0.0 cm are left out; ``"right at"`` when all do.
    """
    terms = []
    for value, (positive, negative) in zip(offset_m, AXIS_WORDS, strict=True):
        cm = round(abs(float(value)) * _CM_PER_M, 1)
        if cm > 0.0:
            terms.append(f"{cm:.1f} cm {positive if value > 0 else negative}")
    if not terms:
        return "right at"
    if len(terms) == 1:
        return terms[0] + " from"
    return ", ".join(terms[:-1]) + " and " + terms[-1] + " from"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def describe_scene(layout: SceneLayout, episode: Episode, step: int) -> str:
    """The scene at observation ``step``: gripper state and where the object and target are."""
    gripper_m = episode.states[step, :3]
    holding = layout.grasp_step < step <= layout.release_step
    obj, target = layout.object_name, layout.target_name
    parts = [
        f"Scene: the gripper is closed and holds {obj}."
        if holding
        else "Scene: the gripper is open."
    ]
    if not holding:
        where = relative_phrase(np.asarray(layout.object_m) - gripper_m)
        parts.append(f"{_sentence(obj)} is {where} the gripper.")
    where = relative_phrase(np.asarray(layout.target_m) - gripper_m)
    parts.append(f"{_sentence(target)} is {where} the gripper.")
    return " ".join(parts)


def text_only_messages(messages: list[Message], scene: str) -> list[Message]:
    """``messages`` with every image part dropped and ``scene`` put before the text.

    The scene and the prompt are joined with a newline into one text part (Gemma's chat template
    trims and concatenates parts without a separator).
    """
    result = []
    for message in messages:
        texts = [part["text"] for part in message["content"] if part.get("type") == "text"]
        text = "\n".join([scene, *texts]) if message["role"] == "user" else "\n".join(texts)
        result.append({"role": message["role"], "content": [{"type": "text", "text": text}]})
    return result


def synthetic_episodes(config: TextTaskConfig) -> Iterator[Episode]:
    """An endless, reproducible stream of synthetic pick-and-place episodes."""
    rng = np.random.default_rng(config.seed)
    shape = synthetic.SyntheticConfig(num_steps=config.steps_per_episode, image_size=(8, 8))
    index = 0
    while True:
        trajectory = synthetic.make_trajectory(rng, shape)
        yield episode_from_trajectory(trajectory, f"synthetic-{config.seed}-{index:05d}")
        index += 1


def episode_samples(
    episode: Episode, config: TextTaskConfig, stages: tuple[str, ...] = ("chunk",)
) -> list[TextChunkSample]:
    """The text-only samples of one episode for ``stages`` ("chunk", "plan"), in order."""
    language = config.language
    builder = SampleBuilder(
        SampleConfig(
            language=language, stages=stages, window_stride_steps=config.window_stride_steps
        )
    )
    segments = HeuristicLabeler(HeuristicConfig(plan=language.plan)).label(episode)
    layout = scene_layout(episode)
    samples = []
    for sample in builder.build(episode, segments, episode_rng(config.seed, episode.episode_id)):
        step = sample.frames[0]
        scene = describe_scene(layout, episode, step)
        samples.append(
            TextChunkSample(
                episode_id=episode.episode_id,
                step=step,
                messages=text_only_messages(sample.example.messages, scene),
                answer=sample.example.answer,
                steps=tuple(decode_chunk(sample.example.answer)) if sample.stage == "chunk" else (),
                stage=sample.stage,
            )
        )
    return samples


def text_chunk_samples(
    config: TextTaskConfig,
    num_samples: int | None = None,
    num_episodes: int | None = None,
    stages: tuple[str, ...] = ("chunk",),
) -> list[TextChunkSample]:
    """Samples of ``stages`` of the first episodes of the stream.

    Either the first ``num_samples`` samples or all samples of the first ``num_episodes``
    episodes (give exactly one of the two).
    """
    if (num_samples is None) == (num_episodes is None):
        raise ValueError("give exactly one of num_samples and num_episodes")
    samples: list[TextChunkSample] = []
    for index, episode in enumerate(synthetic_episodes(config)):
        if num_episodes is not None and index >= num_episodes:
            break
        samples.extend(episode_samples(episode, config, stages))
        if num_samples is not None and len(samples) >= num_samples:
            return samples[:num_samples]
    return samples


def split_by_episode(
    samples: list[TextChunkSample], train_episodes: int
) -> tuple[list[TextChunkSample], list[TextChunkSample]]:
    """Samples of the first ``train_episodes`` episodes (in stream order), and the others."""
    episodes = list(dict.fromkeys(s.episode_id for s in samples))
    train_ids = set(episodes[:train_episodes])
    train = [s for s in samples if s.episode_id in train_ids]
    held_out = [s for s in samples if s.episode_id not in train_ids]
    return train, held_out
