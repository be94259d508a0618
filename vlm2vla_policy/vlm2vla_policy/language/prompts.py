"""Prompt templates of every stage and the (prompt, answer) pairs training is made of.

All prompt wording lives here, versioned by :data:`~vlm2vla_policy.language.version.FORMAT_VERSION`;
training and inference both build their messages with these functions. Messages follow the Hugging
Face chat format with image placeholders (the processor inserts the images in order)::

    [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "..."}]}]

Verification has two images, the one taken before the chunk and the one after, in that order; the
other stages have the current image. Directions in prompts are relative to the robot base frame
(+x forward, +y left, +z up); chunk translations are in centimetres.

Free text put into prompts is normalised the way the answers are: whitespace of the instruction is
collapsed; subtasks are lowercase words
(:func:`~vlm2vla_policy.language.subtasks.normalize_subtask`); a plan given as text is rewritten
in canonical form, so data and inference see the same strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vlm2vla_policy.language.chunk import ChunkCodec
from vlm2vla_policy.language.config import LanguageConfig
from vlm2vla_policy.language.direction import MovementDirection, format_direction
from vlm2vla_policy.language.errors import ErrorKind, LanguageFormatError
from vlm2vla_policy.language.plan import MotionPlan, format_plan, parse_plan
from vlm2vla_policy.language.stage import Stage
from vlm2vla_policy.language.subtasks import format_subtasks, normalize_subtask
from vlm2vla_policy.language.verdict import format_verdict

Message = dict[str, Any]
"""One chat message in the Hugging Face format."""

IMAGE_PLACEHOLDER: dict[str, str] = {"type": "image"}
"""Content item where the processor inserts an image."""

FRAME_NOTE = "Directions are relative to the robot base: forward is +x, left is +y, up is +z."

TEMPLATES: dict[Stage, str] = {
    Stage.SUBTASKS: (
        "Instruction: {instruction}\n"
        "List the subtasks the robot must complete to follow the instruction, in order, one per "
        'line, numbered "1. ", "2. ", ..., in lowercase words.'
    ),
    Stage.PLAN: (
        "Instruction: {instruction}\n"
        "Current subtask: {subtask}\n"
        "How should the gripper move next? " + FRAME_NOTE + " Answer with phrases such as "
        '"move down and slightly forward", "close the gripper" or "stay still".'
    ),
    Stage.CHUNK: (
        "Instruction: {instruction}\n"
        "Current subtask: {subtask}\n"
        "Motion plan: {plan}\n"
        "Write the next gripper motions as a list [[dx, dy, dz, gripper], ...]: dx, dy, dz in "
        "centimetres in the robot base frame (forward is +x, left is +y, up is +z), gripper 1 "
        "for open and 0 for closed."
    ),
    Stage.VERIFICATION: (
        "The first image was taken before and the second after the robot worked on the "
        "subtask: {subtask}\n"
        "{next_subtask_line}"
        'Is the subtask complete? Answer "yes" or "no", optionally followed by a comma and a '
        "short reason."
    ),
    Stage.DIRECTION: (
        "Instruction: {instruction}\n"
        "Current subtask: {subtask}\n"
        "Must the gripper move to the left or to the right to do this subtask, or neither? "
        "Left is +y of the robot base frame. "
        'Answer "left", "right" or "none".'
    ),
}
"""Text of each stage's prompt; fields in braces are filled by the prompt functions."""

NEXT_SUBTASK_LINE = "If it is complete, the robot will next do: {next_subtask}\n"
"""Extra verification line when the next subtask is known."""


@dataclass(frozen=True)
class PromptAnswer:
    """One training example: the prompt messages of a stage and the answer text."""

    # The stage the example trains.
    stage: Stage
    # User message(s) with image placeholders (Stage.num_images of them).
    messages: list[Message]
    # Canonical answer text the model should write.
    answer: str

    def conversation(self) -> list[Message]:
        """Prompt messages followed by the answer as an assistant message (TRL SFT format)."""
        reply = {"role": "assistant", "content": [{"type": "text", "text": self.answer}]}
        return [*self.messages, reply]


def _clean(text: str, what: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise LanguageFormatError(ErrorKind.EMPTY, f"the {what} is empty; give a non-empty string")
    return " ".join(text.split())


def _subtask(text: str) -> str:
    words = normalize_subtask(_clean(text, "subtask"))
    if not words:
        raise LanguageFormatError(ErrorKind.EMPTY, f"the subtask {text!r} has no words")
    return words


def _user(text: str, images: int) -> list[Message]:
    content = [dict(IMAGE_PLACEHOLDER) for _ in range(images)]
    content.append({"type": "text", "text": text})
    return [{"role": "user", "content": content}]


def _plan_text(plan: MotionPlan | str) -> str:
    return format_plan(plan if isinstance(plan, MotionPlan) else parse_plan(plan))


def subtasks_prompt(instruction: str) -> list[Message]:
    """Prompt for the subtask list, with the first image of the episode."""
    text = TEMPLATES[Stage.SUBTASKS].format(instruction=_clean(instruction, "instruction"))
    return _user(text, Stage.SUBTASKS.num_images)


def plan_prompt(instruction: str, subtask: str) -> list[Message]:
    """Prompt for the motion plan of ``subtask``, with the current image."""
    text = TEMPLATES[Stage.PLAN].format(
        instruction=_clean(instruction, "instruction"), subtask=_subtask(subtask)
    )
    return _user(text, Stage.PLAN.num_images)


def chunk_prompt(instruction: str, subtask: str, plan: MotionPlan | str) -> list[Message]:
    """Prompt for the action chunk that carries out ``plan``, with the current image.

    A plan given as text is read as a free plan and kept as written (PlanParseError when it is not
    one bounded line of plain text; a vocabulary plan is such a line).
    """
    text = TEMPLATES[Stage.CHUNK].format(
        instruction=_clean(instruction, "instruction"),
        subtask=_subtask(subtask),
        plan=_plan_text(plan),
    )
    return _user(text, Stage.CHUNK.num_images)


def verification_prompt(subtask: str, next_subtask: str | None = None) -> list[Message]:
    """Prompt asking whether ``subtask`` is complete, with the before and after images."""
    line = NEXT_SUBTASK_LINE.format(next_subtask=_subtask(next_subtask)) if next_subtask else ""
    text = TEMPLATES[Stage.VERIFICATION].format(subtask=_subtask(subtask), next_subtask_line=line)
    return _user(text, Stage.VERIFICATION.num_images)


def direction_prompt(instruction: str, subtask: str) -> list[Message]:
    """Prompt asking which way (left / right / none) the gripper must move, current image."""
    text = TEMPLATES[Stage.DIRECTION].format(
        instruction=_clean(instruction, "instruction"), subtask=_subtask(subtask)
    )
    return _user(text, Stage.DIRECTION.num_images)


def subtasks_example(
    instruction: str, subtasks: Sequence[str], config: LanguageConfig | None = None
) -> PromptAnswer:
    """Training pair for the subtask list."""
    config = config or LanguageConfig()
    answer = format_subtasks(subtasks, config.subtasks)
    return PromptAnswer(Stage.SUBTASKS, subtasks_prompt(instruction), answer)


def plan_example(instruction: str, subtask: str, plan: MotionPlan | str) -> PromptAnswer:
    """Training pair for a motion plan (e.g. from ``plan_from_steps``)."""
    return PromptAnswer(Stage.PLAN, plan_prompt(instruction, subtask), _plan_text(plan))


def chunk_example(
    instruction: str,
    subtask: str,
    plan: MotionPlan | str,
    steps: Sequence[Sequence[float]],
    codec: ChunkCodec,
) -> PromptAnswer:
    """Training pair for an action chunk; ``steps`` in metres, base frame, gripper 0/1."""
    return PromptAnswer(Stage.CHUNK, chunk_prompt(instruction, subtask, plan), codec.encode(steps))


def verification_example(
    subtask: str, done: bool, reason: str = "", next_subtask: str | None = None
) -> PromptAnswer:
    """Training pair for subtask verification (positive when ``done``)."""
    return PromptAnswer(
        Stage.VERIFICATION, verification_prompt(subtask, next_subtask), format_verdict(done, reason)
    )


def direction_example(instruction: str, subtask: str, direction: MovementDirection) -> PromptAnswer:
    """Training pair for the movement direction (e.g. from ``direction_from_displacement``)."""
    return PromptAnswer(
        Stage.DIRECTION, direction_prompt(instruction, subtask), format_direction(direction)
    )
