"""Configuration of the text format: frozen dataclasses, defaults as in the VLM2VLA paper.

Lengths are in metres unless a field name says otherwise (``_cm``). Frame: the robot base frame,
+x forward, +y left, +z up. The whole configuration round-trips through a plain dict
(:meth:`LanguageConfig.to_dict` / :meth:`LanguageConfig.from_dict`) so an adapter directory can
record the format it was trained with. Each field is a :func:`~vlm2vla_policy.settings.setting`;
a bad value raises :class:`~vlm2vla_policy.language.errors.ConfigError` naming it.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

from vlm2vla_policy.language.errors import ConfigError, ErrorKind
from vlm2vla_policy.language.version import FORMAT_VERSION, FREE_PLANS_SINCE
from vlm2vla_policy.settings import from_dict, require, section, setting, validate

ENCODINGS: tuple[str, ...] = ("text", "at")
"""Numeric encodings of action chunks: ``text`` (digits, the paper) or ``at`` (VLM2VLA-AT)."""

_error = functools.partial(ConfigError, ErrorKind.BAD_CONFIG)


@dataclass(frozen=True)
class ChunkFormat:
    """How an action chunk is written as text: ``[[dx, dy, dz, gripper], ...]``."""

    decimals: int = setting(
        1, "digits after the decimal point of dx, dy, dz in cm (the paper writes one)",
        low=0, high=4,
    )  # fmt: skip
    # 10 cm holds every chunk step that merging Bridge's clipped (<= 5 cm) raw steps can produce.
    max_abs_cm: float = setting(
        10.0,
        "largest |dx|, |dy|, |dz| of one chunk step; larger values are refused when writing and "
        "rejected when reading",
        unit="cm",
        above=0.0,
    )
    max_steps: int = setting(
        20, "most steps in one chunk (longer ones are refused and rejected)", low=1, high=1000
    )
    max_preamble_chars: int = setting(
        200,
        "longest text (whitespace stripped) a reader skips before the chunk's first '['",
        unit="characters",
        low=0,
    )
    encoding: str = setting(
        "text",
        "numbers as digits (text, the paper) or as the tokenizer's least-likely tokens (at, the "
        "VLM2VLA-AT ablation; needs an AtTable)",
        choices=ENCODINGS,
    )

    def __post_init__(self) -> None:
        validate(self, _error)
        require(
            self.max_abs_cm * 10**self.decimals < 1e9,
            "ChunkFormat.max_abs_cm is too large for the number of decimals; use at most 1e9 units",
            _error,
        )

    @property
    def max_abs_m(self) -> float:
        """Largest |dx|, |dy|, |dz| of one chunk step in metres."""
        return self.max_abs_cm / 100.0


@dataclass(frozen=True)
class ChunkingConfig:
    """How raw per-step deltas are merged into chunk steps (the paper's rule)."""

    axis_threshold_m: float = setting(
        0.025, "a chunk step closes once one axis moved this far without changing sign",
        unit="m", above=0.0,
    )  # fmt: skip
    total_threshold_m: float = setting(
        0.05, "a chunk step closes once the norm of its displacement reaches this", unit="m",
        above=0.0,
    )  # fmt: skip
    gripper_threshold: float = setting(
        0.5, "raw gripper values at or above this count as open (1), below as closed (0)",
        above=0.0, below=1.0,
    )  # fmt: skip
    keep_reversals: bool = setting(
        True, "a chunk step also closes where a moving axis turns back (so a back-and-forth "
        "stays in the label instead of cancelling out); false: the paper's two rules only",
    )  # fmt: skip
    reversal_threshold_m: float = setting(
        0.005, "an axis has turned back once it moved this far back from its farthest point in "
        "the step (smaller reversals are noise)", unit="m", above=0.0,
    )  # fmt: skip

    def __post_init__(self) -> None:
        validate(self, _error)


PLAN_STYLES: tuple[str, ...] = ("free", "vocabulary")
"""Motion plan styles: ``free`` (plain text in the writer's own words, the paper's) or
``vocabulary`` (the 15 fixed phrases of :data:`~vlm2vla_policy.language.plan.PLAN_PHRASES`)."""


@dataclass(frozen=True)
class PlanConfig:
    """How a plan is written (its style), how a displacement becomes one, how it is checked."""

    style: str = setting(
        "free",
        "free: bounded plain text in the writer's own words (printable ASCII, one line; the "
        "paper's); vocabulary: only the 15 fixed phrases joined by ' and '",
        choices=PLAN_STYLES,
    )
    max_chars: int = setting(
        160,
        "free style: longest plan (the grammar stops the model there; the plan stage's "
        "max_new_tokens bounds its tokens)",
        unit="characters",
        low=8,
        high=1000,
    )
    dead_zone_m: float = setting(
        0.01, "axes that moved less than this (absolute) are not named in a plan", unit="m",
        above=0.0,
    )  # fmt: skip
    slight_threshold_m: float = setting(
        0.03, "axes that moved less than this (but at least dead_zone_m) move slightly",
        unit="m", above=0.0,
    )  # fmt: skip
    max_preamble_chars: int = setting(
        40, "longest text a reader skips before a plan (e.g. 'Plan:')", unit="characters", low=0
    )

    def __post_init__(self) -> None:
        validate(self, _error)
        require(
            self.dead_zone_m <= self.slight_threshold_m,
            "PlanConfig needs 0 < dead_zone_m <= slight_threshold_m (metres)",
            _error,
        )


@dataclass(frozen=True)
class DirectionConfig:
    """How a sideways (y) displacement becomes a movement-direction answer."""

    dead_zone_m: float = setting(0.01, "|dy| below this is answered none", unit="m", above=0.0)

    def __post_init__(self) -> None:
        validate(self, _error)


@dataclass(frozen=True)
class SubtaskConfig:
    """How the subtask list is written and read."""

    max_subtasks: int = setting(10, "most subtasks in one list", low=1, high=99)
    max_preamble_chars: int = setting(
        200, "longest text a reader skips before the first numbered line", unit="characters",
        low=0,
    )  # fmt: skip

    def __post_init__(self) -> None:
        validate(self, _error)


@dataclass(frozen=True)
class VerdictConfig:
    """How a verification answer is read."""

    max_preamble_chars: int = setting(
        40, "longest text a reader skips before yes/no (e.g. 'Answer:')", unit="characters",
        low=0,
    )  # fmt: skip

    def __post_init__(self) -> None:
        validate(self, _error)


@dataclass(frozen=True)
class LanguageConfig:
    """The whole text format: one of these is recorded with every adapter."""

    chunk: ChunkFormat = section(ChunkFormat, "action chunk syntax, bounds and numbers")
    chunking: ChunkingConfig = section(ChunkingConfig, "merging raw deltas into chunk steps")
    plan: PlanConfig = section(PlanConfig, "motion plan thresholds")
    direction: DirectionConfig = section(DirectionConfig, "movement-direction threshold")
    subtasks: SubtaskConfig = section(SubtaskConfig, "subtask list limits")
    verdict: VerdictConfig = section(VerdictConfig, "verification answer reading")

    def __post_init__(self) -> None:
        validate(self, _error)

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
            raise _error(f"expected a dict, got {type(data).__name__}")
        data = dict(data)
        if "format_version" in data:
            version = check_format_version(data.pop("format_version"))
            if version < FREE_PLANS_SINCE:
                plan = dict(data.get("plan") or {})
                plan.setdefault("style", "vocabulary")  # the only plans version 1 had
                data["plan"] = plan
        return from_dict(cls, data, _error)
