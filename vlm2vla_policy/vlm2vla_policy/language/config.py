"""Configuration of the text format: frozen dataclasses, defaults as in the VLM2VLA paper.

Lengths are in metres unless a field name says otherwise (``_cm``). Frame: the robot base frame,
+x forward, +y left, +z up. The whole configuration round-trips through a plain dict
(:meth:`LanguageConfig.to_dict` / :meth:`LanguageConfig.from_dict`) so an adapter directory can
record the format it was trained with.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from vlm2vla_policy.language.errors import ConfigError, ErrorKind
from vlm2vla_policy.language.version import FORMAT_VERSION

ENCODINGS: tuple[str, ...] = ("text", "at")
"""Numeric encodings of action chunks: ``text`` (digits, the paper) or ``at`` (VLM2VLA-AT)."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(ErrorKind.BAD_CONFIG, message)


@dataclass(frozen=True)
class ChunkFormat:
    """How an action chunk is written as text: ``[[dx, dy, dz, gripper], ...]``."""

    # Digits after the decimal point of dx, dy, dz in centimetres (the paper writes one).
    decimals: int = 1
    # Largest |dx|, |dy|, |dz| of one chunk step in centimetres; larger values are refused when
    # writing and rejected when reading. 10 cm holds every chunk step that merging Bridge's clipped
    # (<= 5 cm) raw steps can produce.
    max_abs_cm: float = 10.0
    # Most steps in one chunk; longer chunks are refused when writing and rejected when reading.
    max_steps: int = 20
    # Longest text (characters, whitespace stripped) a reader skips before the chunk's first '['.
    max_preamble_chars: int = 200
    # Numeric encoding: "text" (digits, the paper) or "at" (digits written with the tokenizer's
    # least-likely tokens, the VLM2VLA-AT ablation; needs an AtTable).
    encoding: str = "text"

    def __post_init__(self) -> None:
        _require(
            isinstance(self.decimals, int) and 0 <= self.decimals <= 4,
            f"ChunkFormat.decimals must be an integer in [0, 4], got {self.decimals!r}",
        )
        _require(
            math.isfinite(self.max_abs_cm) and self.max_abs_cm > 0,
            f"ChunkFormat.max_abs_cm must be a positive finite number, got {self.max_abs_cm!r}",
        )
        _require(
            self.max_abs_cm * 10**self.decimals < 1e9,
            "ChunkFormat.max_abs_cm is too large for the number of decimals; use at most 1e9 units",
        )
        _require(
            isinstance(self.max_steps, int) and 1 <= self.max_steps <= 1000,
            f"ChunkFormat.max_steps must be an integer in [1, 1000], got {self.max_steps!r}",
        )
        _require(
            isinstance(self.max_preamble_chars, int) and self.max_preamble_chars >= 0,
            f"ChunkFormat.max_preamble_chars must be >= 0, got {self.max_preamble_chars!r}",
        )
        _require(
            self.encoding in ENCODINGS,
            f"ChunkFormat.encoding must be one of {ENCODINGS}, got {self.encoding!r}",
        )

    @property
    def max_abs_m(self) -> float:
        """Largest |dx|, |dy|, |dz| of one chunk step in metres."""
        return self.max_abs_cm / 100.0


@dataclass(frozen=True)
class ChunkingConfig:
    """How raw per-step deltas are merged into chunk steps (the paper's rule)."""

    # A chunk step closes once one axis has moved this far (m) without changing sign.
    axis_threshold_m: float = 0.025
    # A chunk step closes once the norm of its total displacement (m) reaches this.
    total_threshold_m: float = 0.05
    # Raw gripper values at or above this count as open (1), below as closed (0).
    gripper_threshold: float = 0.5

    def __post_init__(self) -> None:
        _require(
            self.axis_threshold_m > 0 and self.total_threshold_m > 0,
            "ChunkingConfig thresholds must be positive (metres)",
        )
        _require(
            0.0 < self.gripper_threshold < 1.0,
            f"ChunkingConfig.gripper_threshold must be in (0, 1), got {self.gripper_threshold!r}",
        )


@dataclass(frozen=True)
class PlanConfig:
    """How a displacement becomes a motion plan phrase and how a plan is checked."""

    # Axes that moved less than this (m, absolute) are not named in a plan.
    dead_zone_m: float = 0.01
    # Axes that moved less than this (m, absolute) but at least dead_zone_m are "slightly".
    slight_threshold_m: float = 0.03
    # Longest text (characters) a reader skips before a plan (e.g. "Plan:").
    max_preamble_chars: int = 40

    def __post_init__(self) -> None:
        _require(
            0 < self.dead_zone_m <= self.slight_threshold_m,
            "PlanConfig needs 0 < dead_zone_m <= slight_threshold_m (metres)",
        )


@dataclass(frozen=True)
class DirectionConfig:
    """How a sideways (y) displacement becomes a movement-direction answer."""

    # |dy| below this (m) is answered "none".
    dead_zone_m: float = 0.01

    def __post_init__(self) -> None:
        _require(self.dead_zone_m > 0, "DirectionConfig.dead_zone_m must be positive (metres)")


@dataclass(frozen=True)
class SubtaskConfig:
    """How the subtask list is written and read."""

    # Most subtasks in one list.
    max_subtasks: int = 10
    # Longest text (characters) a reader skips before the first numbered line.
    max_preamble_chars: int = 200

    def __post_init__(self) -> None:
        _require(
            isinstance(self.max_subtasks, int) and 1 <= self.max_subtasks <= 99,
            f"SubtaskConfig.max_subtasks must be an integer in [1, 99], got {self.max_subtasks!r}",
        )


@dataclass(frozen=True)
class VerdictConfig:
    """How a verification answer is read."""

    # Longest text (characters) a reader skips before "yes"/"no" (e.g. "Answer:").
    max_preamble_chars: int = 40


@dataclass(frozen=True)
class LanguageConfig:
    """The whole text format: one of these is recorded with every adapter."""

    # Action chunk syntax, bounds and numeric encoding.
    chunk: ChunkFormat = field(default_factory=ChunkFormat)
    # Merging of raw per-step deltas into chunk steps.
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    # Motion plan thresholds.
    plan: PlanConfig = field(default_factory=PlanConfig)
    # Movement-direction thresholds.
    direction: DirectionConfig = field(default_factory=DirectionConfig)
    # Subtask list limits.
    subtasks: SubtaskConfig = field(default_factory=SubtaskConfig)
    # Verification answer reading.
    verdict: VerdictConfig = field(default_factory=VerdictConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON/YAML-ready) with ``format_version`` added."""
        data = dataclasses.asdict(self)
        data["format_version"] = FORMAT_VERSION
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LanguageConfig:
        """Build from :meth:`to_dict` output; missing fields take defaults, unknown ones raise.

        A ``format_version`` entry, when present, is checked with
        :func:`~vlm2vla_policy.language.version.check_format_version`.
        """
        from vlm2vla_policy.language.version import check_format_version

        if not isinstance(data, dict):
            raise ConfigError(ErrorKind.BAD_CONFIG, f"expected a dict, got {type(data).__name__}")
        data = dict(data)
        if "format_version" in data:
            check_format_version(data.pop("format_version"))
        sections = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(sections))
        _require(
            not unknown, f"unknown language config sections {unknown}; known: {sorted(sections)}"
        )
        kwargs = {}
        for name, value in data.items():
            section_type = type(getattr(cls(), name))
            if not isinstance(value, dict):
                raise ConfigError(ErrorKind.BAD_CONFIG, f"section {name!r} must be a dict")
            known = {f.name for f in dataclasses.fields(section_type)}
            bad = sorted(set(value) - known)
            _require(not bad, f"unknown fields {bad} in section {name!r}; known: {sorted(known)}")
            try:
                kwargs[name] = section_type(**value)
            except TypeError as exc:
                raise ConfigError(ErrorKind.BAD_CONFIG, f"section {name!r}: {exc}") from None
        return cls(**kwargs)
