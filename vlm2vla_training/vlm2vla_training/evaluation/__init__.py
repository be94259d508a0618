"""Evaluation (``vlm2vla-train eval``): offline action metrics, plots and VQA retention.

:func:`~vlm2vla_training.evaluation.run.evaluate` runs the real runtime policy on the held-out
episodes; ``action_metrics`` holds the metric definitions, ``plots`` the PNGs, ``vqa`` and
``vqa_questions`` the built-in retention check, ``external`` the hook to VLMEvalKit / lmms-eval.
"""

from vlm2vla_training.evaluation.external import (
    PAPER_BENCHMARKS,
    export_merged_model,
    external_benchmark_command,
)
from vlm2vla_training.evaluation.run import EvalConfig, evaluate, resolve_run
from vlm2vla_training.evaluation.vqa import VqaScore, score_questions, vqa_retention
from vlm2vla_training.evaluation.vqa_questions import Question, builtin_questions

__all__ = [
    "PAPER_BENCHMARKS",
    "EvalConfig",
    "Question",
    "VqaScore",
    "builtin_questions",
    "evaluate",
    "export_merged_model",
    "external_benchmark_command",
    "resolve_run",
    "score_questions",
    "vqa_retention",
]
