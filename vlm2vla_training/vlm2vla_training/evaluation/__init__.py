"""Evaluation (``vlm2vla-train eval``): offline action metrics, plots and VQA retention.

:func:`~vlm2vla_training.evaluation.run.evaluate` runs the real runtime policy on the held-out
episodes; ``action_metrics`` holds the metric definitions, ``plots`` the PNGs, ``vqa`` and
``vqa_questions`` the built-in retention check, ``external`` the hook to VLMEvalKit / lmms-eval
and ``retention_table`` the paper's 12-benchmark retention table.
"""

from vlm2vla_training.evaluation.external import (
    export_merged_model,
    external_benchmark_command,
    retention_runs,
)
from vlm2vla_training.evaluation.retention_table import (
    load_scores,
    results_template,
    retention_table,
)
from vlm2vla_training.evaluation.run import EvalConfig, evaluate, resolve_run
from vlm2vla_training.evaluation.vqa import VqaScore, score_questions, vqa_retention
from vlm2vla_training.evaluation.vqa_questions import Question, builtin_questions
from vlm2vla_training.vqa_benchmarks import PAPER_BENCHMARKS

__all__ = [
    "PAPER_BENCHMARKS",
    "EvalConfig",
    "Question",
    "VqaScore",
    "builtin_questions",
    "evaluate",
    "export_merged_model",
    "external_benchmark_command",
    "load_scores",
    "resolve_run",
    "results_template",
    "retention_runs",
    "retention_table",
    "score_questions",
    "vqa_retention",
]
