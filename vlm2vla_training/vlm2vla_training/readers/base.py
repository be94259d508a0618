"""What every reader shares: options, the unit of reading (:class:`Source`) and the protocol."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from vlm2vla_training.episode import ActionOptions, Episode, EpisodeError


class ReaderUnavailableError(RuntimeError):
    """A reader needs an optional package that is not installed; the message says which."""


@dataclass(frozen=True)
class ReadOptions:
    """Options every reader understands."""

    # How actions are made from what was recorded (recomputed from states, or raw).
    actions: ActionOptions = field(default_factory=ActionOptions)
    # Skip episodes without a language instruction (the paper trains only on those).
    require_instruction: bool = True
    # Skip episodes with fewer actions than this.
    min_steps: int = 2
    # Which camera: Bridge raw "0" (images0), RLDS "image_0", LeRobot a feature key such as
    # "observation.images.image_0", MCAP an image topic. None = the reader's default.
    camera: str | None = None
    # Stop after this many sources (None = all); for smoke tests and quick looks.
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.min_steps < 1:
            raise ValueError(f"ReadOptions.min_steps must be >= 1, got {self.min_steps}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"ReadOptions.limit must be >= 1 or None, got {self.limit}")


@dataclass(frozen=True)
class Source:
    """One unit a reader reads (a trajectory directory, a bag, an episode index).

    ``load`` reads it and returns its episodes (a bag may hold several), with an
    :class:`~vlm2vla_training.episode.EpisodeError` in place of each bad one; it raises
    EpisodeError (or an I/O error) when the whole unit is bad. The caller records and skips both.
    """

    # Stable id of the unit, the same on every run (used to resume).
    source_id: str
    # Human-readable location (path or URI) for progress and reports.
    location: str
    # Reads the unit; never called for sources already converted.
    load: Callable[[], list[Episode | EpisodeError]]


class Reader(Protocol):
    """A data set format: lists its sources and reads each into episodes."""

    name: str

    def count(self) -> int | None:
        """Number of sources, when known cheaply (for the progress bar)."""
        ...

    def sources(self) -> Iterator[Source]:
        """The sources, in a stable order."""
        ...


def check_episode(episode: Episode, options: ReadOptions) -> Episode:
    """Apply the options' filters; raise EpisodeError with the reason when one fails."""
    if options.require_instruction and not episode.instruction.strip():
        raise EpisodeError(
            f"{episode.source}: no language instruction (pass --allow-no-instruction to keep it)"
        )
    if episode.num_steps < options.min_steps:
        raise EpisodeError(
            f"{episode.source}: {episode.num_steps} step(s), fewer than min_steps="
            f"{options.min_steps}"
        )
    return episode
