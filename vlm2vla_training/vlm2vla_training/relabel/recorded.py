"""The recorded labeler: segments from the subtasks a bag's own action chunks carry.

Bags recorded from this stack (the policy node, or the simulator's scripted expert through
``vlm2vla-sim-record``) hold every ``ActionChunk`` with the subtask it served; the MCAP reader keeps
them in ``Episode.metadata["policy_chunks"]``. A run of consecutive chunks with the same subtask is
one segment, from the observation the first of them arrived after to where the next run starts
(the episode's end for the last). Motion plans describe each segment's summed displacement and
gripper change, as the heuristic labeler writes them. No network, no guessing: an episode without
recorded chunks cannot be labeled this way (use ``heuristic`` or ``teacher``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vlm2vla_policy.language import PlanConfig, normalize_subtask
from vlm2vla_training.episode import Episode
from vlm2vla_training.relabel.heuristic import segment_with_plan
from vlm2vla_training.relabel.segments import Segment, SegmentError, validate_segments


@dataclass(frozen=True)
class RecordedConfig:
    """Settings of the recorded labeler."""

    # Thresholds of the motion plans written for each segment (metres).
    plan: PlanConfig = field(default_factory=PlanConfig)


def _runs(chunks: list[dict[str, Any]], num_steps: int) -> list[tuple[int, str]]:
    """(start step, subtask) of each run of same-subtask chunks, starts clipped into the episode."""
    runs: list[tuple[int, str]] = []
    for chunk in chunks:
        subtask = normalize_subtask(str(chunk.get("subtask", "")))
        if not subtask:
            raise SegmentError(f"a recorded chunk has no subtask: {chunk.get('subtask')!r}")
        start = min(max(int(chunk["observation"]), 0), num_steps - 1)
        if not runs or runs[-1][1] != subtask:
            runs.append((start, subtask))
    first = [(0, runs[0][1]), *runs[1:]]
    return [run for i, run in enumerate(first) if i + 1 == len(first) or first[i + 1][0] > run[0]]


def label_from_chunks(episode: Episode, config: RecordedConfig | None = None) -> list[Segment]:
    """Segments of ``episode`` from its recorded chunks (see the module docstring)."""
    config = config or RecordedConfig()
    chunks = episode.metadata.get("policy_chunks") or []
    if not chunks:
        raise SegmentError(
            f"{episode.episode_id}: no recorded action chunks; label it with 'heuristic' or "
            "'teacher' instead"
        )
    runs = _runs(list(chunks), episode.num_steps)
    ends = [start for start, _ in runs[1:]] + [episode.num_steps]
    segments = [
        segment_with_plan(episode, subtask, start, end, config.plan)
        for (start, subtask), end in zip(runs, ends, strict=True)
    ]
    return validate_segments(segments, episode.num_steps)


class RecordedLabeler:
    """:func:`label_from_chunks` behind the labeler interface of :mod:`vlm2vla_training.relabel`."""

    name = "recorded"

    def __init__(self, config: RecordedConfig | None = None) -> None:
        self.config = config or RecordedConfig()

    def label(self, episode: Episode) -> list[Segment]:
        """Segments of one episode; never calls the network."""
        return label_from_chunks(episode, self.config)

    def totals(self) -> dict[str, float]:
        """Nothing to count for the offline labeler."""
        return {}
