"""Relabeling episodes into segments: subtask text, start step, end step, motion plan.

Three labelers: :class:`~vlm2vla_training.relabel.teacher.TeacherLabeler` (a teacher VLM over
an OpenAI-compatible API, as the paper did with Gemini),
:class:`~vlm2vla_training.relabel.heuristic.HeuristicLabeler` (offline, from gripper events and
the instruction) and :class:`~vlm2vla_training.relabel.recorded.RecordedLabeler` (offline, from
the subtasks of the action chunks a bag recorded).
:func:`~vlm2vla_training.relabel.run.relabel` runs one over an episode store.
"""

from vlm2vla_training.relabel.base import Labeler, LabelerFatalError
from vlm2vla_training.relabel.heuristic import HeuristicConfig, HeuristicLabeler, label_episode
from vlm2vla_training.relabel.instruction import TaskPhrase, parse_instruction
from vlm2vla_training.relabel.recorded import RecordedConfig, RecordedLabeler, label_from_chunks
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
    "RecordedConfig",
    "RecordedLabeler",
    "Segment",
    "SegmentError",
    "TaskPhrase",
    "TeacherConfig",
    "TeacherLabeler",
    "TeacherUsage",
    "label_episode",
    "label_from_chunks",
    "parse_instruction",
    "relabel",
    "segments_from_dicts",
    "validate_segments",
]
