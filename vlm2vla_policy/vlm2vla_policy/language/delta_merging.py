"""Merging raw per-step deltas into chunk steps, as in the VLM2VLA paper.

Raw Bridge actions are small (about 1 cm per 0.2 s step), so the paper merges consecutive steps
until one axis has moved ``axis_threshold_m`` (2.5 cm) without changing sign or the norm of the
merged displacement reaches ``total_threshold_m`` (5 cm). A change of the gripper command closes
the current chunk step: a merged step never spans two gripper values. Units: metres, robot base
frame (+x forward, +y left, +z up); gripper 1 = open, 0 = closed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vlm2vla_policy.language.chunk import GRIPPER_CLOSED, GRIPPER_OPEN, ActionStep
from vlm2vla_policy.language.config import ChunkingConfig
from vlm2vla_policy.language.errors import ChunkingError, ErrorKind


@dataclass(frozen=True)
class MergedStep:
    """A chunk step and the raw steps ``[start, stop)`` it was merged from."""

    # The merged displacement (metres, base frame) and the binarised gripper command.
    step: ActionStep
    # Index of the first raw step covered.
    start: int
    # One past the index of the last raw step covered.
    stop: int

    @property
    def raw_indices(self) -> range:
        """Indices of the raw steps covered by this chunk step."""
        return range(self.start, self.stop)


def _as_array(deltas: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    array = np.asarray(deltas, dtype=float)
    if array.size == 0:
        return np.zeros((0, 4))
    if array.ndim != 2 or array.shape[1] not in (4, 7):
        raise ChunkingError(
            ErrorKind.ARITY,
            f"raw deltas have shape {array.shape}; expected (T, 4) [dx, dy, dz, gripper] or "
            "(T, 7) [dx, dy, dz, droll, dpitch, dyaw, gripper] in metres",
        )
    if not np.isfinite(array).all():
        bad = int(np.argwhere(~np.isfinite(array))[0, 0])
        raise ChunkingError(
            ErrorKind.NON_FINITE, f"raw step {bad} holds NaN or inf; drop or repair the episode"
        )
    return np.concatenate([array[:, :3], array[:, -1:]], axis=1)


def chunk_deltas(
    deltas: Sequence[Sequence[float]] | np.ndarray, config: ChunkingConfig | None = None
) -> list[MergedStep]:
    """Merge raw per-step deltas into chunk steps.

    ``deltas`` has shape (T, 4) ``[dx, dy, dz, gripper]`` or (T, 7) Bridge actions
    ``[dx, dy, dz, droll, dpitch, dyaw, gripper]`` (rotation is ignored); translations in metres
    in the base frame, gripper in [0, 1] (binarised at ``config.gripper_threshold``).

    Consecutive raw steps with the same binarised gripper are summed; the current chunk step
    closes after the raw step at which one axis has moved at least ``config.axis_threshold_m``
    since its last sign change, or the norm of the summed displacement reaches
    ``config.total_threshold_m``, and before a raw step whose gripper differs. The sum of the
    returned steps equals the sum of the raw translations, and every raw step is covered exactly
    once, in order. Raises :class:`ChunkingError` for a wrong shape or NaN/inf.
    """
    config = config or ChunkingConfig()
    raw = _as_array(deltas).tolist()
    merged: list[MergedStep] = []
    start = 0
    total = [0.0, 0.0, 0.0]
    run = [0.0, 0.0, 0.0]
    gripper: float | None = None
    for index, (*delta, raw_gripper) in enumerate(raw):
        binary = GRIPPER_OPEN if raw_gripper >= config.gripper_threshold else GRIPPER_CLOSED
        if gripper is not None and binary != gripper:
            merged.append(MergedStep(ActionStep(*total, gripper), start, index))
            start, total, run = index, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
        gripper = binary
        for axis, value in enumerate(delta):
            total[axis] += value
            run[axis] = run[axis] + value if run[axis] * value >= 0.0 else value
        if max(abs(r) for r in run) >= config.axis_threshold_m or (
            math.hypot(*total) >= config.total_threshold_m
        ):
            merged.append(MergedStep(ActionStep(*total, gripper), start, index + 1))
            start, total, run = index + 1, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
            gripper = None
    if gripper is not None:
        merged.append(MergedStep(ActionStep(*total, gripper), start, len(raw)))
    return merged
