"""The offline labeler: segments at gripper events, subtask text from the instruction.

No network, no model: an episode's binarised gripper commands split it into reach-and-grasp
(until the gripper closes), move (while it is closed) and release (from when it opens). The object
and target come from :func:`~vlm2vla_training.relabel.instruction.parse_instruction`, so
"put the carrot on the plate" gives "grasp the carrot", "move the carrot to the plate" and
"release the carrot on the plate". Each segment's motion plan describes its summed displacement
and gripper change, written by :mod:`vlm2vla_policy.language`. An episode without a gripper event
is one segment whose subtask is the instruction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vlm2vla_policy.language import PlanConfig, describe_steps, format_plan, normalize_subtask
from vlm2vla_training.episode import Episode
from vlm2vla_training.relabel.instruction import UNKNOWN_OBJECT, TaskPhrase, parse_instruction
from vlm2vla_training.relabel.segments import Segment, validate_segments

# Relations after which "move X to Y" reads naturally; others are kept ("to the left of").
_TO_RELATIONS = frozenset(
    {
        "on",
        "onto",
        "in",
        "into",
        "inside",
        "inside of",
        "on top of",
        "to",
        "at",
        "towards",
        "toward",
    }
)


@dataclass(frozen=True)
class HeuristicConfig:
    """Settings of the offline labeler."""

    # When the gripper closes again after a release, the release subtask lasts this many steps
    # and the rest, up to the next grasp, belongs to that grasp.
    release_steps: int = 2
    # Style and thresholds (metres) of the motion plans written for each segment.
    plan: PlanConfig = field(default_factory=PlanConfig)

    def __post_init__(self) -> None:
        if self.release_steps < 1:
            raise ValueError("HeuristicConfig.release_steps must be >= 1")


def grasp_phrase(task: TaskPhrase) -> str:
    """Subtask that reaches for and grasps the object, e.g. "grasp the carrot"."""
    return f"grasp {task.object}"


def move_phrase(task: TaskPhrase) -> str:
    """Subtask that carries the object, e.g. "move the carrot to the plate"."""
    if task.target:
        relation = "to" if task.relation in _TO_RELATIONS else task.relation
        return f"move {task.object} {relation} {task.target}"
    if task.source:
        return f"move {task.object} {task.source_relation} {task.source}"
    return f"lift {task.object}"


def release_phrase(task: TaskPhrase) -> str:
    """Subtask that lets go, e.g. "release the carrot on the plate"."""
    if task.target:
        return f"release {task.object} {task.relation} {task.target}"
    return f"release {task.object}"


def _boundaries(gripper: np.ndarray, release_steps: int) -> list[tuple[int, int, str]]:
    """(start, end, kind) pieces from the binarised gripper command of each step (1 = open)."""
    steps = len(gripper)
    pieces: list[tuple[int, int, str]] = []
    start = 0
    kind = "grasp" if gripper[0] >= 0.5 else "move"
    for t in range(1, steps + 1):
        closes = t < steps and gripper[t] < 0.5 <= gripper[t - 1]
        opens = t < steps and gripper[t] >= 0.5 > gripper[t - 1]
        if kind == "grasp" and t < steps and gripper[t - 1] < 0.5:
            # The grasp ends once the closing step has run.
            pieces.append((start, t, "grasp"))
            start, kind = t, "move"
        if opens:
            pieces.append((start, t, kind))
            start, kind = t, "release"
        elif closes and kind == "release":
            split = min(t, start + release_steps)
            pieces.append((start, split, "release"))
            start, kind = split, "grasp"
    pieces.append((start, steps, kind))
    return [(a, b, k) for a, b, k in pieces if b > a]


def label_episode(episode: Episode, config: HeuristicConfig | None = None) -> list[Segment]:
    """Segments of ``episode`` from its gripper events (see the module docstring)."""
    config = config or HeuristicConfig()
    gripper = episode.actions[:, 6]
    task = parse_instruction(episode.instruction)
    texts = {
        "grasp": grasp_phrase(task),
        "move": move_phrase(task),
        "release": release_phrase(task),
    }
    known = "" if task.object == UNKNOWN_OBJECT else task.object
    targets = {"grasp": known, "move": task.target, "release": task.target}
    pieces = _boundaries(gripper, config.release_steps)
    if all(kind != "move" for _, _, kind in pieces):
        whole = normalize_subtask(episode.instruction) or texts["grasp"]
        pieces, texts = [(0, episode.num_steps, "whole")], {"whole": whole}
    segments = [
        segment_with_plan(
            episode, texts[kind], start, end, config.plan, target=targets.get(kind) or ""
        )
        for start, end, kind in pieces
    ]
    return validate_segments(segments, episode.num_steps)


def segment_with_plan(
    episode: Episode, subtask: str, start: int, end: int, config: PlanConfig, *, target: str = ""
) -> Segment:
    """The segment of steps ``start .. end - 1`` with a plan of its displacement and gripper change.

    The plan (in ``config.style``) describes the summed displacement, toward ``target`` (the
    subtask's object, e.g. "the carrot", when known); the gripper before is the previous step's
    command.
    """
    gripper = episode.actions[:, 6]
    steps = np.concatenate([episode.actions[start:end, :3], gripper[start:end, None]], axis=1)
    before = float(gripper[start - 1]) if start > 0 else float(gripper[start])
    plan = describe_steps(steps.tolist(), before, config, target)
    return Segment(subtask, start, end, format_plan(plan))


class HeuristicLabeler:
    """:func:`label_episode` behind the labeler interface of :mod:`vlm2vla_training.relabel`."""

    name = "heuristic"

    def __init__(self, config: HeuristicConfig | None = None) -> None:
        self.config = config or HeuristicConfig()

    def label(self, episode: Episode) -> list[Segment]:
        """Segments of one episode; never calls the network."""
        return label_episode(episode, self.config)

    def totals(self) -> dict[str, float]:
        """Nothing to count for the offline labeler."""
        return {}
