"""The teacher VLM's prompt for relabeling an episode into subtask segments.

This prompt is read by the teacher model, never by the trained policy, so it lives here rather
than in :mod:`vlm2vla_policy.language` (which owns every string the policy reads or writes and has
no place for teacher prompts); it still takes the plan style, length and vocabulary from there,
so the plans the teacher writes parse with the policy's plan reader. In the free style (the
default) the teacher describes the motion in its own words; in the vocabulary style it may use
only the fixed phrases. Bump :data:`TEACHER_PROMPT_VERSION` when the
wording changes: cached teacher answers are keyed by the whole request, so they are then redone.

Messages use the OpenAI chat format with images as ``data:image/jpeg;base64,...`` URLs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vlm2vla_policy.language import CM_PER_M, PLAN_PHRASES, PlanConfig

TEACHER_PROMPT_VERSION = 2
"""Version of the wording below."""

SYSTEM = (
    "You label robot demonstrations for training a robot policy. You are precise, follow the "
    "output format exactly and answer with JSON only."
)

AXES = (
    "Axes of the robot base frame: +x is forward (away from the robot base), +y is left, +z is "
    "up. Displacements are of the gripper tip, in centimetres."
)

_TASK = """Instruction given to the robot: {instruction}

The episode has {num_steps} steps at {fps:g} steps per second, and {num_frames} frames numbered \
0 to {num_steps}. Step t moves the robot from frame t to frame t + 1. Above are some of the frames \
(each labelled with its number); below is the displacement of every step.

{axes}

Per-step displacement log (cm; gripper command of the step: open or closed):
{log}

Split the episode into the consecutive subtasks the robot performs, in order (for example \
"grasp the lid", "lift the lid", "place the lid on the table"). For each subtask give:
- "subtask": a short imperative phrase in lowercase words;
- "start_step": the frame where it begins; the first subtask starts at 0 and each next one \
starts where the previous one ends;
- "end_step": the frame where it is complete, greater than start_step; the last subtask ends at \
{num_steps};
- "motion_plan": {plan_rule}

Use between 1 and {max_subtasks} subtasks. Answer with one JSON object and nothing else:
{{"segments": [{{"subtask": "...", "start_step": 0, "end_step": 5, "motion_plan": "..."}}, ...]}}"""

_FREE_PLAN_RULE = (
    "how the gripper moves during the subtask, in your own words, relative to the robot base: "
    "forward or backward, left or right, up or down. Name the largest motion first, say "
    '"slightly" for small ones, say when the gripper opens or closes, and why a motion is made '
    'when it helps, e.g. "lift the pepper up to clear the stove knobs, then move forward and '
    'slightly right". One line of plain text, at most {max_chars} characters.'
)
_VOCABULARY_PLAN_RULE = (
    "how the gripper moves during the subtask, relative to the robot base, made only of these "
    'phrases joined by " and ": {phrases}. Name the largest motion first and use "slightly" for '
    "small ones."
)

_FEEDBACK = (
    "Your answer could not be used: {error}. Answer again with only the corrected JSON object."
)


def _signed(value_cm: float, positive: str, negative: str) -> str:
    word = positive if value_cm >= 0 else negative
    return f"{value_cm:+.1f} cm ({word})"


def displacement_log(actions: np.ndarray) -> str:
    """One line per step: dx, dy, dz in cm with their direction words, and the gripper command.

    ``actions`` is (T, 7) with translations in metres in the base frame and the gripper in
    column 6 (1 = open).
    """
    lines = []
    for t, action in enumerate(np.asarray(actions, dtype=float)):
        dx, dy, dz = (float(v) * CM_PER_M for v in action[:3])
        gripper = "open" if action[6] >= 0.5 else "closed"
        lines.append(
            f"step {t}: x {_signed(dx, 'forward', 'backward')}, y {_signed(dy, 'left', 'right')}, "
            f"z {_signed(dz, 'up', 'down')}, gripper {gripper}"
        )
    return "\n".join(lines)


def teacher_messages(
    instruction: str,
    frames: Sequence[tuple[int, str]],
    actions: np.ndarray,
    fps: float,
    max_subtasks: int,
    *,
    plan: PlanConfig | None = None,
) -> list[dict[str, Any]]:
    """Chat messages asking the teacher to segment one episode.

    ``frames`` are (frame index, image data URL) pairs, ``actions`` the episode's (T, 7) actions
    (metres, base frame), ``fps`` its control rate; ``plan`` the style and length of the motion
    plans asked for.
    """
    plan = plan or PlanConfig()
    if plan.style == "free":
        plan_rule = _FREE_PLAN_RULE.format(max_chars=plan.max_chars)
    else:
        plan_rule = _VOCABULARY_PLAN_RULE.format(phrases=", ".join(f'"{p}"' for p in PLAN_PHRASES))
    content: list[dict[str, Any]] = []
    for index, url in frames:
        content.append({"type": "text", "text": f"Frame {index}:"})
        content.append({"type": "image_url", "image_url": {"url": url}})
    num_steps = len(actions)
    content.append(
        {
            "type": "text",
            "text": _TASK.format(
                instruction=" ".join(instruction.split()),
                num_steps=num_steps,
                num_frames=num_steps + 1,
                fps=fps,
                axes=AXES,
                log=displacement_log(actions),
                plan_rule=plan_rule,
                max_subtasks=max_subtasks,
            ),
        }
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}]


def feedback_message(error: str) -> dict[str, Any]:
    """The user turn that tells the teacher what was wrong with its last answer."""
    return {"role": "user", "content": _FEEDBACK.format(error=error)}
