"""What a labeler is: episode in, validated segments out."""

from __future__ import annotations

from typing import Any, Protocol

from vlm2vla_training.episode import Episode
from vlm2vla_training.relabel.segments import Segment


class LabelerFatalError(RuntimeError):
    """A problem no other episode can escape (bad key, unknown model): the run must stop."""


class Labeler(Protocol):
    """Splits an episode into segments (subtask, start, end, motion plan)."""

    # Name of the labeler; labels are stored under labels/<name>/ of the episode store.
    name: str

    def label(self, episode: Episode) -> list[Segment]:
        """Validated segments of ``episode``; raises for an episode it cannot label."""
        ...

    def totals(self) -> dict[str, Any]:
        """Counters for the run report (requests, tokens, cost...)."""
        ...
