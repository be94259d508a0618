"""Reading any stage's answer into its typed value."""

from __future__ import annotations

from vlm2vla_policy.language.at_encoding import AtTable
from vlm2vla_policy.language.chunk import ActionStep
from vlm2vla_policy.language.codec import make_chunk_codec
from vlm2vla_policy.language.config import LanguageConfig
from vlm2vla_policy.language.direction import MovementDirection, parse_direction
from vlm2vla_policy.language.plan import MotionPlan, parse_plan
from vlm2vla_policy.language.stage import Stage
from vlm2vla_policy.language.subtasks import parse_subtasks
from vlm2vla_policy.language.verdict import Verdict, parse_verdict

StageOutput = list[str] | MotionPlan | list[ActionStep] | Verdict | MovementDirection
"""What :func:`parse_output` returns, by stage: subtasks (list of str), plan, chunk steps (m),
verdict, direction."""


def parse_output(
    stage: Stage,
    text: str,
    config: LanguageConfig | None = None,
    at_table: AtTable | None = None,
) -> StageOutput:
    """Read ``text`` as the answer of ``stage``.

    Raises the stage's :class:`~vlm2vla_policy.language.errors.LanguageFormatError` subclass and
    nothing else for bad text (ConfigError for an AT config without ``at_table``).
    """
    config = config or LanguageConfig()
    stage = Stage(stage)
    if stage is Stage.CHUNK:
        return make_chunk_codec(config.chunk, at_table).decode(text)
    if stage is Stage.PLAN:
        return parse_plan(text, config.plan)
    if stage is Stage.SUBTASKS:
        return parse_subtasks(text, config.subtasks)
    if stage is Stage.VERIFICATION:
        return parse_verdict(text, config.verdict)
    return parse_direction(text)
