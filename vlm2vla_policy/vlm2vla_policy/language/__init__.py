"""The action language of VLM2VLA: every string the model reads or writes is built or read here.

Training builds prompts and answer targets with this package; inference builds the same prompts,
constrains decoding with its grammars and reads the answers with its parsers. Nothing here imports
ROS; torch and transformers are imported only inside the functions that need them.

Units and frame: Python values are metres in the robot base frame (+x forward, +y left, +z up),
gripper 1 = open, 0 = closed; chunk text is in centimetres.

Modules: ``config`` (frozen format configuration), ``version`` (FORMAT_VERSION), ``errors``
(typed errors), ``chunk`` (chunk text), ``chunk_stream`` (reading a chunk while it is written),
``delta_merging`` (merging raw per-step deltas into chunk steps), ``plan`` (motion plans),
``direction`` (left/right/none), ``subtasks``, ``verdict`` (verification answers), ``prompts``
(templates and training pairs), ``grammar`` (each stage's answer language, built with
:mod:`vlm2vla_policy.decoding`), ``at_encoding`` (the VLM2VLA-AT ablation), ``codec`` and
``outputs`` (choosing by config and stage).
"""

from vlm2vla_policy.language.at_encoding import (
    DIGITS,
    AtChunkCodec,
    AtTable,
    build_at_table,
    rank_tokens_by_model,
    rank_tokens_by_vocab_order,
    verify_at_table,
)
from vlm2vla_policy.language.chunk import (
    CM_PER_M,
    GRIPPER_CLOSED,
    GRIPPER_OPEN,
    ActionStep,
    ChunkCodec,
    TextChunkCodec,
    decode_chunk,
    encode_chunk,
)
from vlm2vla_policy.language.chunk_stream import ChunkStreamReader
from vlm2vla_policy.language.codec import make_chunk_codec
from vlm2vla_policy.language.config import (
    ChunkFormat,
    ChunkingConfig,
    DirectionConfig,
    LanguageConfig,
    PlanConfig,
    SubtaskConfig,
    VerdictConfig,
)
from vlm2vla_policy.language.delta_merging import MergedStep, chunk_deltas
from vlm2vla_policy.language.direction import (
    MovementDirection,
    direction_from_displacement,
    format_direction,
    parse_direction,
)
from vlm2vla_policy.language.errors import (
    AtTableError,
    ChunkEncodeError,
    ChunkingError,
    ChunkParseError,
    ConfigError,
    DirectionParseError,
    ErrorKind,
    FormatVersionError,
    LanguageFormatError,
    PlanParseError,
    SubtasksParseError,
    VerdictParseError,
)
from vlm2vla_policy.language.grammar import (
    Grammar,
    chunk_grammar,
    direction_grammar,
    grammar_for,
    plan_grammar,
    subtasks_grammar,
    verdict_grammar,
)
from vlm2vla_policy.language.outputs import StageOutput, parse_output
from vlm2vla_policy.language.plan import (
    PLAN_PHRASES,
    AxisMove,
    GripperAction,
    MotionPlan,
    PlanCheck,
    check_plan,
    describe_steps,
    format_plan,
    gripper_change,
    parse_plan,
    plan_from_displacement,
    plan_from_steps,
)
from vlm2vla_policy.language.prompts import (
    IMAGE_PLACEHOLDER,
    TEMPLATES,
    PromptAnswer,
    chunk_example,
    chunk_prompt,
    direction_example,
    direction_prompt,
    plan_example,
    plan_prompt,
    subtasks_example,
    subtasks_prompt,
    verification_example,
    verification_prompt,
)
from vlm2vla_policy.language.stage import Stage
from vlm2vla_policy.language.subtasks import format_subtasks, normalize_subtask, parse_subtasks
from vlm2vla_policy.language.verdict import Verdict, format_verdict, parse_verdict
from vlm2vla_policy.language.version import (
    FORMAT_VERSION,
    SUPPORTED_FORMAT_VERSIONS,
    check_format_version,
)

__all__ = [
    "CM_PER_M",
    "DIGITS",
    "FORMAT_VERSION",
    "GRIPPER_CLOSED",
    "GRIPPER_OPEN",
    "IMAGE_PLACEHOLDER",
    "PLAN_PHRASES",
    "SUPPORTED_FORMAT_VERSIONS",
    "TEMPLATES",
    "ActionStep",
    "AtChunkCodec",
    "AtTable",
    "AtTableError",
    "AxisMove",
    "ChunkCodec",
    "ChunkEncodeError",
    "ChunkFormat",
    "ChunkParseError",
    "ChunkStreamReader",
    "ChunkingConfig",
    "ChunkingError",
    "ConfigError",
    "DirectionConfig",
    "DirectionParseError",
    "ErrorKind",
    "FormatVersionError",
    "Grammar",
    "GripperAction",
    "LanguageConfig",
    "LanguageFormatError",
    "MergedStep",
    "MotionPlan",
    "MovementDirection",
    "PlanCheck",
    "PlanConfig",
    "PlanParseError",
    "PromptAnswer",
    "Stage",
    "StageOutput",
    "SubtaskConfig",
    "SubtasksParseError",
    "TextChunkCodec",
    "Verdict",
    "VerdictConfig",
    "VerdictParseError",
    "build_at_table",
    "check_format_version",
    "check_plan",
    "chunk_deltas",
    "chunk_example",
    "chunk_grammar",
    "chunk_prompt",
    "decode_chunk",
    "describe_steps",
    "direction_example",
    "direction_from_displacement",
    "direction_grammar",
    "direction_prompt",
    "encode_chunk",
    "format_direction",
    "format_plan",
    "format_subtasks",
    "format_verdict",
    "grammar_for",
    "gripper_change",
    "make_chunk_codec",
    "normalize_subtask",
    "parse_direction",
    "parse_output",
    "parse_plan",
    "parse_subtasks",
    "parse_verdict",
    "plan_example",
    "plan_from_displacement",
    "plan_from_steps",
    "plan_grammar",
    "plan_prompt",
    "rank_tokens_by_model",
    "rank_tokens_by_vocab_order",
    "subtasks_example",
    "subtasks_grammar",
    "subtasks_prompt",
    "verdict_grammar",
    "verification_example",
    "verification_prompt",
    "verify_at_table",
]
