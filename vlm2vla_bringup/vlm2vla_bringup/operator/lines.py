"""One line of text per status, instruction feedback, result or chunk, as ``vlm2vla`` prints them.

Pure functions over the messages' fields (no rclpy): the text of a line leaves out its time, so
that a follower can print a line only when it differs from the one before.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any


def clock(seconds: float) -> str:
    """``seconds`` since the epoch as local wall time, ``HH:MM:SS.ss``."""
    whole = int(seconds)
    return time.strftime("%H:%M:%S", time.localtime(whole)) + f".{int((seconds - whole) * 100):02d}"


def stamp_s(header: Any) -> float:
    """A ``std_msgs/Header``'s stamp in seconds since the epoch (the publisher's clock)."""
    return header.stamp.sec + header.stamp.nanosec * 1e-9


def quoted(text: str) -> str:
    """``text`` in double quotes, newlines and quotes escaped: it stays on one line."""
    return json.dumps(text, ensure_ascii=False)


def state_text(state_name: str, verified: bool) -> str:
    """The state as the status says it; ``done (not verified)`` when no verifier confirmed it."""
    return "done (not verified)" if state_name == "done" and not verified else state_name


def subtask_text(index: int, subtasks: Sequence[str]) -> str:
    """``subtask 2/3 "grasp the carrot"``, or "" before the subtask list exists."""
    if not 0 <= index < len(subtasks):
        return ""
    return f"subtask {index + 1}/{len(subtasks)} {quoted(subtasks[index])}"


def status_line(status: Any) -> str:
    """A ``vlm2vla_msgs/PolicyStatus`` in one line: state, instruction, subtask, retries, error."""
    parts = [
        state_text(status.state_name, status.verified),
        quoted(status.instruction) if status.instruction else "",
        subtask_text(status.current_index, status.subtasks),
        f"retry {status.retries}" if status.retries else "",
    ]
    line = "  ".join(p for p in parts if p)
    return f"{line}: {status.last_error}" if status.last_error else line


def feedback_line(feedback: Any) -> str:
    """An ``ExecuteInstruction`` feedback in one line: state, subtask, motion plan."""
    subtask = f"subtask {feedback.subtask_index + 1} {quoted(feedback.subtask)}"
    parts = [
        feedback.state_name,
        subtask if feedback.subtask else "",
        f"plan {quoted(feedback.motion_plan)}" if feedback.motion_plan else "",
    ]
    return "  ".join(p for p in parts if p)


def chunk_line(chunk: Any) -> str:
    """A ``vlm2vla_msgs/ActionChunk`` in one line: subtask, plan, steps and the model's text.

    The text is the model's raw answer (centimetres, as written); a chunk without one shows its
    steps as ``[dx, dy, dz, gripper]`` in centimetres.
    """
    steps = len(chunk.translations_m)
    text = " ".join(chunk.raw_text.split()) or _steps_cm(chunk.translations_m, chunk.gripper)
    parts = [
        f"subtask {chunk.subtask_index + 1} {quoted(chunk.subtask)}",
        f"plan {quoted(chunk.motion_plan)}" if chunk.motion_plan else "",
        f"{steps} step{'s' if steps != 1 else ''} of {chunk.step_duration_s:g} s: {text}",
    ]
    return "  ".join(p for p in parts if p)


def _steps_cm(translations_m: Sequence[Any], gripper: Sequence[float]) -> str:
    steps = [
        f"[{t.x * 100:.1f}, {t.y * 100:.1f}, {t.z * 100:.1f}, {g:g}]"
        for t, g in zip(translations_m, gripper, strict=False)
    ]
    return "[" + ", ".join(steps) + "]"
