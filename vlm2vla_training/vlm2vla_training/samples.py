"""Training samples of every stage, built only with :mod:`vlm2vla_policy.language`.

For one episode and its segments:

* ``subtasks``: the first frame and the instruction -> the numbered subtask list;
* per window of a segment (its start, and every ``window_stride_steps`` steps after it when that
  is set; the window runs to the segment's end): the window's raw deltas are merged into chunk
  steps with the paper's chunking (at most ``ChunkFormat.max_steps``), then
  ``plan`` (image -> the plan describing that chunk), ``chunk`` (image + plan -> the chunk) and
  ``direction`` (image -> left / right / none of the chunk's sideways motion);
* ``verification``: the frames at a segment's start and end -> "yes" (with the next subtask when
  there is one), and negatives -> "no": the end frame replaced by one from the segment's first half
  (``incomplete``), or the subtask replaced by a later, different one (``later_subtask``).

Units: actions in metres in the robot base frame; chunk text in centimetres (the language module
converts). Randomness (which negatives) comes from the generator passed in, so a seed fixes the
samples.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vlm2vla_policy.language import (
    ActionStep,
    ChunkCodec,
    LanguageConfig,
    LanguageFormatError,
    MotionPlan,
    PromptAnswer,
    Stage,
    check_plan,
    chunk_deltas,
    chunk_example,
    describe_steps,
    direction_example,
    direction_from_displacement,
    make_chunk_codec,
    parse_plan,
    plan_example,
    subtasks_example,
    verification_example,
)
from vlm2vla_policy.settings import nonempty, section, setting, validate
from vlm2vla_training.episode import Episode, EpisodeError
from vlm2vla_training.relabel.instruction import UNKNOWN_OBJECT, parse_instruction
from vlm2vla_training.relabel.segments import Segment, validate_segments

ALL_STAGES: tuple[str, ...] = tuple(stage.value for stage in Stage)
"""Stage names, as the language module spells them."""


@dataclass(frozen=True)
class SampleConfig:
    """What samples are built from each labeled episode."""

    language: LanguageConfig = section(
        LanguageConfig,
        "the text format (chunk syntax, chunking, plan and direction thresholds, subtask "
        "limits); recorded beside the dataset",
    )
    stages: tuple[str, ...] = setting(
        ALL_STAGES, "stages to build samples for", choices=ALL_STAGES, check=nonempty
    )
    window_stride_steps: int = setting(
        0,
        "0: one plan/chunk/direction window per segment, from its start; k: also one every k "
        "steps inside it (more samples, images from mid-subtask)",
        low=0,
    )
    negatives_per_positive: int = setting(1, "verification negatives per positive", low=0)
    # check_plan decides whether a labeled plan agrees with the chunk.
    use_label_plans: bool = setting(
        True,
        "take a segment's labeled motion plan (its words, kept as written) for its first window "
        "(later windows, and segments without a readable label, get a plan written from the "
        "chunk in the language's plan style)",
    )
    drop_disagreeing_plans: bool = setting(
        True,
        "drop the plan and chunk samples of a window whose labeled plan disagrees with its chunk "
        "(the label-quality filter, counted in the build report; false keeps them, flagged in "
        "the sample info)",
    )

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class Sample:
    """One training example and the frames its prompt shows."""

    # Episode it comes from.
    episode_id: str
    # Frame indices of the prompt's images, in order (1, or 2 for verification).
    frames: tuple[int, ...]
    # Prompt messages and answer text, from the language module.
    example: PromptAnswer
    # JSON-ready details: segment index, negative kind, where the plan came from...
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def stage(self) -> str:
        """Stage name."""
        return self.example.stage.value


@dataclass
class SampleBuilder:
    """Builds the samples of one episode at a time; counts what it had to drop and why."""

    config: SampleConfig = field(default_factory=SampleConfig)
    # Reason -> samples dropped (e.g. a chunk step beyond the text format's bounds).
    dropped: Counter[str] = field(default_factory=Counter)
    # Labeled plans checked against their chunk: "agrees", "disagrees", "unreadable".
    plan_checks: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.codec: ChunkCodec = make_chunk_codec(self.config.language.chunk)

    @contextlib.contextmanager
    def _or_drop(self) -> Iterator[None]:
        """Run the body; a sample the text format refuses is dropped and counted by reason."""
        try:
            yield
        except LanguageFormatError as exc:
            self.dropped[f"{type(exc).__name__}: {exc.kind.value}"] += 1

    def build(
        self, episode: Episode, segments: list[Segment], rng: np.random.Generator
    ) -> list[Sample]:
        """Every sample of ``episode`` (see the module docstring), in a fixed order."""
        if not episode.instruction.strip():
            raise EpisodeError(f"{episode.episode_id}: no instruction; prompts need one")
        segments = validate_segments(segments, episode.num_steps)
        stages = set(self.config.stages)
        samples: list[Sample] = []
        if Stage.SUBTASKS.value in stages:
            with self._or_drop():
                subtasks = [s.subtask for s in segments]
                example = subtasks_example(episode.instruction, subtasks, self.config.language)
                samples.append(Sample(episode.episode_id, (0,), example))
        for index, segment in enumerate(segments):
            if stages & {Stage.PLAN.value, Stage.CHUNK.value, Stage.DIRECTION.value}:
                for start in self._window_starts(segment):
                    with self._or_drop():
                        samples.extend(self._window(episode, segment, index, start))
            if Stage.VERIFICATION.value in stages:
                samples.extend(self._verification(episode, segments, index, rng))
        return samples

    def _window_starts(self, segment: Segment) -> range:
        stride = self.config.window_stride_steps or segment.num_steps
        return range(segment.start_step, segment.end_step, stride)

    def _gripper_before(self, episode: Episode, start: int) -> float:
        value = episode.actions[max(start - 1, 0), 6]
        return 1.0 if value >= self.config.language.chunking.gripper_threshold else 0.0

    def _plan(
        self, segment: Segment, first: bool, steps: list[ActionStep], before: float
    ) -> tuple[MotionPlan | None, str]:
        """The window's plan and where it came from; None when the label-quality filter drops it.

        A labeled plan is kept as written; its agreement with the chunk is counted in
        :attr:`plan_checks`, never used to rewrite it.
        """
        plan_config = self.config.language.plan
        if first and self.config.use_label_plans:
            try:
                labeled = parse_plan(segment.motion_plan, plan_config)
            except LanguageFormatError:
                self.plan_checks["unreadable"] += 1
            else:
                if check_plan(labeled, steps, before, plan_config).agrees:
                    self.plan_checks["agrees"] += 1
                    return labeled, "label"
                self.plan_checks["disagrees"] += 1
                if self.config.drop_disagreeing_plans:
                    self.dropped["labeled plan disagrees with its chunk"] += 1
                    return None, "label"
                return labeled, "label, disagrees with the chunk"
        return describe_steps(steps, before, plan_config, _aim(segment.subtask)), "data"

    def _window(self, episode: Episode, segment: Segment, index: int, start: int) -> list[Sample]:
        """Plan, chunk and direction samples of the window [start, segment end)."""
        language = self.config.language
        merged = chunk_deltas(episode.actions[start : segment.end_step], language.chunking)
        steps = [m.step for m in merged[: language.chunk.max_steps]]
        before = self._gripper_before(episode, start)
        plan, plan_source = self._plan(segment, start == segment.start_step, steps, before)
        if plan is None:
            return []
        info = {"segment": index, "plan_source": plan_source, "chunk_steps": len(steps)}
        instruction, subtask, stages = episode.instruction, segment.subtask, self.config.stages
        examples: list[tuple[PromptAnswer, dict[str, Any]]] = []
        if Stage.PLAN.value in stages:
            examples.append((plan_example(instruction, subtask, plan), info))
        if Stage.CHUNK.value in stages:
            examples.append((chunk_example(instruction, subtask, plan, steps, self.codec), info))
        if Stage.DIRECTION.value in stages:
            dy_m = float(sum(step.dy_m for step in steps))
            direction = direction_from_displacement(dy_m, language.direction)
            examples.append(
                (direction_example(instruction, subtask, direction), {"segment": index})
            )
        return [Sample(episode.episode_id, (start,), ex, meta) for ex, meta in examples]

    def _verification(
        self, episode: Episode, segments: list[Segment], index: int, rng: np.random.Generator
    ) -> list[Sample]:
        """The positive of segment ``index`` and its negatives."""
        segment = segments[index]
        following = segments[index + 1].subtask if index + 1 < len(segments) else None
        frames = (segment.start_step, segment.end_step)
        samples = []
        with self._or_drop():
            example = verification_example(segment.subtask, True, next_subtask=following)
            samples.append(
                Sample(episode.episode_id, frames, example, {"segment": index, "kind": "positive"})
            )
        later = [
            j for j in range(index + 1, len(segments)) if segments[j].subtask != segment.subtask
        ]
        kinds = ["incomplete"] + (["later_subtask"] if later else [])
        for _ in range(self.config.negatives_per_positive):
            kind = kinds[int(rng.integers(len(kinds)))]
            info = {"segment": index, "kind": kind}
            with self._or_drop():
                if kind == "incomplete":
                    half = max(segment.num_steps // 2, 1)
                    after = segment.start_step + int(rng.integers(half))
                    example = verification_example(segment.subtask, False, next_subtask=following)
                    samples.append(
                        Sample(episode.episode_id, (segment.start_step, after), example, info)
                    )
                else:
                    j = later[int(rng.integers(len(later)))]
                    other_next = segments[j + 1].subtask if j + 1 < len(segments) else None
                    example = verification_example(
                        segments[j].subtask, False, next_subtask=other_next
                    )
                    samples.append(Sample(episode.episode_id, frames, example, info))
        return samples


def _aim(subtask: str) -> str:
    """What a subtask's motion goes toward: its target, else its object ("" when unknown)."""
    task = parse_instruction(subtask)
    return task.target or ("" if task.object == UNKNOWN_OBJECT else task.object)
