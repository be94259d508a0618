"""Relabeling episodes into segments: subtask text, start step, end step, motion plan.

Two labelers: :class:`~vlm2vla_training.relabel.teacher.TeacherLabeler` (a teacher VLM over an
OpenAI-compatible API, as the paper did with Gemini) and
:class:`~vlm2vla_training.relabel.heuristic.HeuristicLabeler` (offline, from gripper events and
the instruction). :func:`~vlm2vla_training.relabel.run.relabel` runs one over an episode store.
"""

from vlm2vla_training.relabel.base import Labeler, LabelerFatalError
from vlm2vla_training.relabel.heuristic import HeuristicConfig, HeuristicLabeler, label_episode
from vlm2vla_training.relabel.instruction import TaskPhrase, parse_instruction
from vlm2vla_training.relabel.run import relabel
from vlm2vla_training.relabel.segments import (
    Segment,
    SegmentError,
    segments_from_dicts,
    validate_segments,
)
from vlm2vla_training.relabel.teacher import TeacherConfig, TeacherLabeler, TeacherUsage

__all__ = [
    "HeuristicConfig",
    "HeuristicLabeler",
    "Labeler",
    "LabelerFatalError",
    "Segment",
    "SegmentError",
    "TaskPhrase",
    "TeacherConfig",
    "TeacherLabeler",
    "TeacherUsage",
    "label_episode",
    "parse_instruction",
    "relabel",
    "segments_from_dicts",
    "validate_segments",
]
