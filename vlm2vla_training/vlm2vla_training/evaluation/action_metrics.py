"""Offline metrics of each stage: predicted answers (parsed, or None when unparsable) vs the truth.

Conventions: accuracy-type numbers are over every sample, an unparsable prediction counting as
wrong; distance-type numbers (L1 errors) are over the parsed predictions only, and say how many
that was. Displacements are in centimetres in the robot base frame (+x forward, +y left, +z up);
a chunk's displacement is the sum of its steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vlm2vla_policy.language import (
    GRIPPER_OPEN,
    ActionStep,
    GripperAction,
    MotionPlan,
    MovementDirection,
    PlanConfig,
    Verdict,
    check_plan,
    normalize_subtask,
)

AXES = ("x", "y", "z")
CM_PER_M = 100.0

STOPWORDS = frozenset({"a", "an", "the", "to", "of", "on", "onto", "in", "into", "from", "with"})
"""Words a subtask keyword check ignores (articles and common prepositions)."""


def _ratio(hits: float, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def displacement_m(steps: Sequence[ActionStep]) -> tuple[float, float, float]:
    """Summed displacement of a chunk along x, y, z, metres."""
    return (
        sum(s.dx_m for s in steps),
        sum(s.dy_m for s in steps),
        sum(s.dz_m for s in steps),
    )


def chunk_metrics(
    pairs: Sequence[tuple[list[ActionStep] | None, list[ActionStep]]], dead_zone_m: float
) -> dict[str, Any]:
    """Metrics of (predicted, true) action chunks.

    ``direction_agreement``: per axis, the fraction of samples whose true displacement along it
    is at least ``dead_zone_m`` (m) where the prediction moves the same way. ``l1_cm``: per axis,
    mean absolute error of the chunk displacement. ``step_l1_cm``: per axis, mean absolute error
    of the steps aligned by index. ``gripper_accuracy``: aligned steps with the right open/closed
    state. ``length_error_steps``: mean absolute difference in step count.
    """
    agree = dict.fromkeys(AXES, 0)
    counted = dict.fromkeys(AXES, 0)
    l1: dict[str, list[float]] = {a: [] for a in AXES}
    step_l1: dict[str, list[float]] = {a: [] for a in AXES}
    gripper_hits = gripper_total = 0
    lengths = []
    for predicted, truth in pairs:
        true_d = displacement_m(truth)
        pred_d = displacement_m(predicted) if predicted is not None else None
        for axis, name in enumerate(AXES):
            if abs(true_d[axis]) >= dead_zone_m:
                counted[name] += 1
                agree[name] += int(pred_d is not None and pred_d[axis] * true_d[axis] > 0)
            if pred_d is not None:
                l1[name].append(abs(pred_d[axis] - true_d[axis]) * CM_PER_M)
        if predicted is None:
            continue
        lengths.append(abs(len(predicted) - len(truth)))
        for p, t in zip(predicted, truth, strict=False):
            for axis, name in enumerate(AXES):
                step_l1[name].append(abs(p[axis] - t[axis]) * CM_PER_M)
            gripper_hits += int((p.gripper >= 0.5) == (t.gripper >= 0.5))
            gripper_total += 1
    parsed = sum(p is not None for p, _ in pairs)
    agreement = {a: _ratio(agree[a], counted[a]) for a in AXES}
    agreement["all"] = _ratio(sum(agree.values()), sum(counted.values()))
    return {
        "samples": len(pairs),
        "parsed": parsed,
        "parse_rate": _ratio(parsed, len(pairs)),
        "direction_agreement": agreement,
        "l1_cm": {a: _mean(l1[a]) for a in AXES},
        "step_l1_cm": {a: _mean(step_l1[a]) for a in AXES},
        "gripper_accuracy": _ratio(gripper_hits, gripper_total),
        "length_error_steps": _mean(lengths),
    }


def gripper_before(plan: MotionPlan, steps: Sequence[ActionStep]) -> float:
    """The gripper command before a chunk, as implied by its true plan (1 open, 0 closed)."""
    if plan.gripper is GripperAction.OPEN:
        return 0.0
    if plan.gripper is GripperAction.CLOSE:
        return GRIPPER_OPEN
    return steps[-1].gripper if steps else GRIPPER_OPEN


def plan_metrics(
    items: Sequence[tuple[MotionPlan | None, MotionPlan, list[ActionStep] | None]],
    config: PlanConfig,
) -> dict[str, Any]:
    """Metrics of (predicted plan, true plan, the window's true chunk or None).

    ``direction_agreement``: per axis, the predicted direction sign equals the true plan's.
    ``match``: every axis sign and the gripper change equal the true plan's. ``chunk_agreement``:
    :func:`~vlm2vla_policy.language.check_plan` of the predicted plan against the true chunk (the
    paper's direction agreement), over samples whose chunk is known.
    """
    axis_hits = dict.fromkeys(AXES, 0)
    match = checked = agreed = 0
    for predicted, truth, steps in items:
        if predicted is not None:
            for axis, name in enumerate(AXES):
                axis_hits[name] += int(predicted.directions[axis] == truth.directions[axis])
            same_gripper = predicted.gripper == truth.gripper
            match += int(predicted.directions == truth.directions and same_gripper)
        if steps is not None:
            checked += 1
            if predicted is not None:
                before = gripper_before(truth, steps)
                agreed += int(check_plan(predicted, steps, before, config).agrees)
    parsed = sum(p is not None for p, _, _ in items)
    agreement = {a: _ratio(axis_hits[a], len(items)) for a in AXES}
    agreement["all"] = _ratio(sum(axis_hits.values()), 3 * len(items))
    return {
        "samples": len(items),
        "parsed": parsed,
        "parse_rate": _ratio(parsed, len(items)),
        "direction_agreement": agreement,
        "match": _ratio(match, len(items)),
        "chunk_agreement": _ratio(agreed, checked),
    }


def keywords(subtask: str) -> set[str]:
    """Content words of a subtask (normalised, stopwords removed)."""
    return set(normalize_subtask(subtask).split()) - STOPWORDS


def subtask_metrics(pairs: Sequence[tuple[list[str] | None, list[str]]]) -> dict[str, Any]:
    """Metrics of (predicted, true) subtask lists.

    ``keyword_accuracy``: mean over samples of the fraction of true subtasks whose keywords all
    appear in the predicted subtask at the same position. ``count_accuracy``: same number of
    subtasks. ``exact``: identical lists (after normalisation).
    """
    keyword_scores, count_hits, exact_hits = [], 0, 0
    for predicted, truth in pairs:
        if predicted is None or not truth:
            keyword_scores.append(0.0)
            continue
        hits = sum(
            1
            for i, subtask in enumerate(truth)
            if i < len(predicted) and keywords(subtask) <= set(predicted[i].split())
        )
        keyword_scores.append(hits / len(truth))
        count_hits += int(len(predicted) == len(truth))
        exact_hits += int([normalize_subtask(s) for s in truth] == predicted)
    parsed = sum(p is not None for p, _ in pairs)
    return {
        "samples": len(pairs),
        "parsed": parsed,
        "parse_rate": _ratio(parsed, len(pairs)),
        "keyword_accuracy": _mean(keyword_scores),
        "count_accuracy": _ratio(count_hits, len(pairs)),
        "exact": _ratio(exact_hits, len(pairs)),
    }


def verdict_metrics(pairs: Sequence[tuple[Verdict | None, Verdict]]) -> dict[str, Any]:
    """Accuracy of (predicted, true) verification verdicts (done or not)."""
    hits = sum(int(p is not None and p.done == t.done) for p, t in pairs)
    parsed = sum(p is not None for p, _ in pairs)
    return {
        "samples": len(pairs),
        "parsed": parsed,
        "parse_rate": _ratio(parsed, len(pairs)),
        "accuracy": _ratio(hits, len(pairs)),
    }


def direction_metrics(
    pairs: Sequence[tuple[MovementDirection | None, MovementDirection]],
) -> dict[str, Any]:
    """Accuracy of (predicted, true) movement directions (left / right / none)."""
    hits = sum(int(p is not None and p == t) for p, t in pairs)
    parsed = sum(p is not None for p, _ in pairs)
    return {
        "samples": len(pairs),
        "parsed": parsed,
        "parse_rate": _ratio(parsed, len(pairs)),
        "accuracy": _ratio(hits, len(pairs)),
    }
