"""Run reports: what each stage did and what it skipped, written as JSON."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Skipped:
    """One item a stage skipped, and why."""

    # Episode or source id.
    item: str
    # Path or URI, for finding the data.
    location: str
    # What was wrong (the error message).
    reason: str


@dataclass
class RunReport:
    """Outcome of one run of a stage (convert, relabel, build)."""

    # Stage name, e.g. "convert".
    stage: str
    # Settings of the run worth recording (reader, input, labeler...).
    settings: dict[str, Any] = field(default_factory=dict)
    # Items finished by this run.
    done: list[str] = field(default_factory=list)
    # Items finished by an earlier run and left alone.
    already_done: list[str] = field(default_factory=list)
    # Items skipped by this run, with reasons.
    skipped: list[Skipped] = field(default_factory=list)
    # Stage-specific totals (samples per stage, tokens, cost...).
    totals: dict[str, Any] = field(default_factory=dict)
    # Wall time of the run, s.
    elapsed_s: float = 0.0

    def skip(self, item: str, location: str, reason: str) -> None:
        """Record a skipped item."""
        self.skipped.append(Skipped(item, location, reason))

    def summary(self) -> str:
        """One line for the terminal."""
        return (
            f"{self.stage}: {len(self.done)} done, {len(self.already_done)} already done, "
            f"{len(self.skipped)} skipped in {self.elapsed_s:.1f} s"
        )

    def write(self, path: Path) -> Path:
        """Write the report as JSON to ``path`` (parents created) and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = asdict(self)
        data["written_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: Path) -> RunReport:
        """Read a report written by :meth:`write`."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        data.pop("written_at", None)
        data["skipped"] = [Skipped(**s) for s in data.get("skipped", [])]
        return cls(**data)
