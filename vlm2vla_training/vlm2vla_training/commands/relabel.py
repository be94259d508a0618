"""``vlm2vla-train relabel``: split stored episodes into subtask segments."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "split stored episodes into subtasks with motion plans (heuristic, recorded or teacher)"
DESCRIPTION = """\
Label every episode of a store with segments (subtask, start step, end step, motion plan),
written to <store>/labels/<labeler>/<episode_id>.json.

  heuristic  offline: segments at gripper events (grasp, move, release), subtask text from the
             instruction; no network.
  recorded   offline: segments from the subtasks of the action chunks a bag recorded (bags of
             the policy node or of vlm2vla-sim-record's scripted expert); exact where it applies.
  teacher    a VLM behind any OpenAI-compatible chat API (vLLM, hosted APIs). Configure with
             VLM2VLA_TEACHER_BASE_URL (e.g. http://localhost:8000/v1), VLM2VLA_TEACHER_MODEL and
             VLM2VLA_TEACHER_API_KEY (the key is read only from the environment), or the flags
             below. Answers are validated, retried with backoff, cached in <store>/cache/teacher,
             and tokens and cost are counted in <store>/reports/relabel-teacher.json.

Episodes already labeled are skipped; episodes that cannot be labeled are reported, not fatal.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``relabel``."""
    parser.add_argument("--store", required=True, type=Path, help="episode store")
    parser.add_argument(
        "--labeler",
        choices=("heuristic", "recorded", "teacher"),
        default="heuristic",
        help="who labels",
    )
    parser.add_argument("--limit", type=int, default=None, help="label at most this many episodes")
    teacher = parser.add_argument_group("teacher (with --labeler teacher)")
    teacher.add_argument("--teacher-base-url", default=None, help="API root ending in /v1")
    teacher.add_argument("--teacher-model", default=None, help="model name on that server")
    teacher.add_argument("--teacher-max-frames", type=int, default=None, help="frames per episode")
    teacher.add_argument("--teacher-max-attempts", type=int, default=None, help="tries per episode")
    teacher.add_argument("--teacher-timeout-s", type=float, default=None, help="per request, s")
    teacher.add_argument(
        "--teacher-input-usd-per-mtok", type=float, default=None, help="price of prompt tokens"
    )
    teacher.add_argument(
        "--teacher-output-usd-per-mtok", type=float, default=None, help="price of answer tokens"
    )
    teacher.add_argument(
        "--teacher-no-json-mode",
        action="store_true",
        help="do not send response_format (for servers that reject it)",
    )


def run(args: argparse.Namespace) -> list[str]:
    """Relabel; return the summary lines (with the teacher's token and cost totals)."""
    from vlm2vla_training.relabel import (
        HeuristicLabeler,
        RecordedLabeler,
        TeacherConfig,
        TeacherLabeler,
        relabel,
    )
    from vlm2vla_training.store import EpisodeStore

    store = EpisodeStore(args.store)
    if args.labeler == "teacher":
        config = TeacherConfig.from_env(
            base_url=args.teacher_base_url,
            model=args.teacher_model,
            max_frames=args.teacher_max_frames,
            max_attempts=args.teacher_max_attempts,
            timeout_s=args.teacher_timeout_s,
            input_usd_per_mtok=args.teacher_input_usd_per_mtok,
            output_usd_per_mtok=args.teacher_output_usd_per_mtok,
            json_mode=False if args.teacher_no_json_mode else None,
        )
        labeler = TeacherLabeler(config, cache_dir=store.root / "cache" / "teacher")
    elif args.labeler == "recorded":
        labeler = RecordedLabeler()
    else:
        labeler = HeuristicLabeler()
    report = relabel(store, labeler, limit=args.limit, progress=not args.quiet)
    lines = [report.summary()]
    if report.totals:
        lines.append("totals: " + ", ".join(f"{k}={v}" for k, v in report.totals.items()))
    lines.append(f"report: {store.report_path(f'relabel-{labeler.name}')}")
    return lines
