"""Conversions between ``vlm2vla_msgs`` messages and the library's arrays (no rclpy import).

An action chunk is an (N, 4) array ``[dx, dy, dz, gripper]``: metres in the robot base frame,
gripper 1 = open, 0 = closed (the language module's and the executor's form). ``ActionChunk``
and ``ChunkSteps`` carry the same two per-step fields, ``translations_m`` and ``gripper``.
"""

from typing import Any

import numpy as np


class ChunkMessageError(ValueError):
    """An ActionChunk or ChunkSteps message that is not a usable chunk."""


def chunk_from_msg(msg: Any, allow_empty: bool = False) -> np.ndarray:
    """(N, 4) steps from an ``ActionChunk`` message; rejects mismatched, non-finite or empty ones.

    ``allow_empty`` accepts N = 0 (a streamed goal may start with no step).
    """
    if not allow_empty and len(msg.translations_m) == 0:
        raise ChunkMessageError("ActionChunk has no steps; send at least one translation")
    return _steps(msg, "ActionChunk")


def chunk_steps_from_msg(msg: Any) -> np.ndarray:
    """(k, 4) steps from a ``ChunkSteps`` message (k may be 0: a heartbeat or a bare final)."""
    return _steps(msg, "ChunkSteps")


def _steps(msg: Any, what: str) -> np.ndarray:
    n = len(msg.translations_m)
    if len(msg.gripper) != n:
        raise ChunkMessageError(
            f"{what} has {n} translations but {len(msg.gripper)} gripper values; "
            "send one gripper value per step"
        )
    steps = np.array(
        [[t.x, t.y, t.z, g] for t, g in zip(msg.translations_m, msg.gripper, strict=True)],
        dtype=float,
    ).reshape(n, 4)
    if not np.all(np.isfinite(steps)):
        raise ChunkMessageError(f"{what} contains NaN or infinite values")
    return steps


def fill_chunk_msg(msg: Any, steps: np.ndarray, vector_type: type) -> Any:
    """Write (N, 4) ``steps`` into ``msg.translations_m`` (as ``vector_type``) and ``gripper``."""
    steps = np.asarray(steps, dtype=float)
    msg.translations_m = [vector_type(x=float(s[0]), y=float(s[1]), z=float(s[2])) for s in steps]
    msg.gripper = [float(s[3]) for s in steps]
    return msg
