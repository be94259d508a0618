"""Segments: an episode split into consecutive subtasks, each with a motion plan.

Steps are the episode's actions: step ``t`` moves the robot from frame ``t`` to frame ``t + 1``.
A segment covers steps ``start_step .. end_step - 1``: its subtask begins at frame ``start_step``
and is complete at frame ``end_step``. The segments of an episode are contiguous: the first starts
at 0, each starts where the previous ends, the last ends at ``num_steps``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any


class SegmentError(ValueError):
    """Segments are malformed (gaps, overlaps, out of range, empty text)."""


@dataclass(frozen=True)
class Segment:
    """One subtask of an episode."""

    # What the robot does, e.g. "grasp the carrot".
    subtask: str
    # First step of the subtask (= the frame where it begins).
    start_step: int
    # One past its last step (= the frame where it is complete).
    end_step: int
    # Directional phrase relative to the robot base, e.g. "move down and slightly forward".
    motion_plan: str

    @property
    def num_steps(self) -> int:
        """Number of steps covered."""
        return self.end_step - self.start_step

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)


def validate_segments(segments: Sequence[Segment], num_steps: int) -> list[Segment]:
    """Return ``segments`` as a list if they tile ``[0, num_steps)`` with non-empty text.

    Raises :class:`SegmentError` naming the first problem (what to fix) otherwise.
    """
    if not segments:
        raise SegmentError("no segments; give at least one")
    expected_start = 0
    for number, segment in enumerate(segments, start=1):
        if not isinstance(segment.subtask, str) or not segment.subtask.strip():
            raise SegmentError(f"segment {number} has an empty subtask")
        if not isinstance(segment.motion_plan, str) or not segment.motion_plan.strip():
            raise SegmentError(f"segment {number} has an empty motion_plan")
        for name in ("start_step", "end_step"):
            value = getattr(segment, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise SegmentError(f"segment {number} {name} is {value!r}, not an integer")
        if segment.start_step != expected_start:
            raise SegmentError(
                f"segment {number} starts at step {segment.start_step} but must start at "
                f"{expected_start} (segments are contiguous: the first starts at 0 and each "
                "starts where the previous ends)"
            )
        if segment.end_step <= segment.start_step:
            raise SegmentError(
                f"segment {number} ends at step {segment.end_step}, not after its start "
                f"{segment.start_step}"
            )
        if segment.end_step > num_steps:
            raise SegmentError(
                f"segment {number} ends at step {segment.end_step}, beyond the episode's "
                f"{num_steps} steps"
            )
        expected_start = segment.end_step
    if expected_start != num_steps:
        raise SegmentError(
            f"the last segment ends at step {expected_start} but the episode has {num_steps} "
            "steps; the last end_step must equal the number of steps"
        )
    return list(segments)


def segments_from_dicts(items: Iterable[Any]) -> list[Segment]:
    """Segments from plain dicts with keys subtask, start_step, end_step, motion_plan."""
    segments = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise SegmentError(f"segment {number} is not an object")
        missing = [k for k in ("subtask", "start_step", "end_step", "motion_plan") if k not in item]
        if missing:
            raise SegmentError(f"segment {number} lacks {missing}")
        segments.append(
            Segment(
                subtask=item["subtask"],
                start_step=item["start_step"],
                end_step=item["end_step"],
                motion_plan=item["motion_plan"],
            )
        )
    return segments
