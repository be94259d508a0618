"""Merging raw per-step deltas into chunk steps (the paper's 2.5 cm / 5 cm rule)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlm2vla_policy.language import ChunkingConfig, ChunkingError, ErrorKind, chunk_deltas
from vlm2vla_policy.language.delta_merging import path_preservation

delta_m = st.floats(min_value=-0.05, max_value=0.05, allow_nan=False)
raw_strategy = st.lists(
    st.tuples(delta_m, delta_m, delta_m, st.floats(min_value=0.0, max_value=1.0)),
    min_size=0,
    max_size=60,
)


def _reached(deltas: np.ndarray, config: ChunkingConfig) -> bool:
    """Whether summing ``deltas`` in order reaches a threshold at its last element only."""
    run = np.zeros(3)
    for delta in deltas:
        run = np.where(run * delta >= 0, run + delta, delta)
    total = deltas.sum(axis=0)
    return bool((np.abs(run) >= config.axis_threshold_m).any()) or bool(
        np.linalg.norm(total) >= config.total_threshold_m
    )


@settings(max_examples=200, deadline=None)
@given(raw=raw_strategy)
def test_chunking_conserves_displacement_and_respects_gripper(raw):
    config = ChunkingConfig(keep_reversals=False)  # the paper's two rules alone
    array = np.array(raw, dtype=float).reshape(-1, 4)
    merged = chunk_deltas(array, config)
    binary = (array[:, 3] >= config.gripper_threshold).astype(float)
    # every raw step covered once, in order
    assert [i for m in merged for i in m.raw_indices] == list(range(len(array)))
    # total displacement conserved
    total = np.sum([m.step[:3] for m in merged], axis=0) if merged else np.zeros(3)
    np.testing.assert_allclose(total, array[:, :3].sum(axis=0), atol=1e-12)
    for index, m in enumerate(merged):
        np.testing.assert_allclose(m.step[:3], array[m.start : m.stop, :3].sum(axis=0), atol=1e-12)
        # never across a gripper change
        assert set(binary[m.start : m.stop]) == {m.step.gripper}
        # no threshold reached before the last raw step of a chunk step
        for end in range(m.start + 1, m.stop):
            assert not _reached(array[m.start : end, :3], config)
        # a step closes early only at a threshold, a gripper change or the end
        last = index == len(merged) - 1
        gripper_changes = not last and merged[index + 1].step.gripper != m.step.gripper
        if not last and not gripper_changes:
            assert _reached(array[m.start : m.stop, :3], config)


def test_axis_threshold_closes_after_2_5_cm_without_sign_change():
    merged = chunk_deltas([[0.01, 0.0, 0.0, 1.0]] * 6)
    assert [(m.start, m.stop) for m in merged] == [(0, 3), (3, 6)]
    assert merged[0].step.dx_m == pytest.approx(0.03)


def test_sign_change_restarts_the_axis_run():
    merged = chunk_deltas([[0.02, 0, 0, 1], [-0.001, 0, 0, 1], [0.02, 0, 0, 1], [0.001, 0, 0, 1]])
    assert [(m.start, m.stop) for m in merged] == [(0, 4)]


def test_total_threshold_closes_at_5_cm():
    step = [0.012, 0.012, 0.012, 1.0]  # each axis stays under 2.5 cm for two steps
    merged = chunk_deltas([step] * 4)
    assert [(m.start, m.stop) for m in merged] == [(0, 3), (3, 4)]
    assert math.hypot(*merged[0].step[:3]) >= 0.05 - 1e-12


def test_gripper_change_closes_the_step_before_it():
    merged = chunk_deltas(
        [[0.001, 0, 0, 0.9], [0.001, 0, 0, 0.8], [0, 0, 0, 0.1], [0, 0, 0.001, 0.2]]
    )
    assert [(m.start, m.stop, m.step.gripper) for m in merged] == [(0, 2, 1.0), (2, 4, 0.0)]


def test_bridge_seven_dim_actions_ignore_rotation():
    merged = chunk_deltas([[0.01, 0.0, 0.0, 0.3, 0.3, 0.3, 1.0]] * 3)
    assert merged[0].step == pytest.approx((0.03, 0.0, 0.0, 1.0))


def test_thresholds_are_configuration():
    merged = chunk_deltas([[0.01, 0, 0, 1]] * 6, ChunkingConfig(axis_threshold_m=0.015))
    assert [(m.start, m.stop) for m in merged] == [(0, 2), (2, 4), (4, 6)]


@pytest.mark.parametrize(
    ("raw", "kind"),
    [([[0.0, 0.0, 1.0]], ErrorKind.ARITY), ([[math.nan, 0, 0, 1]], ErrorKind.NON_FINITE)],
)
def test_bad_input_raises_typed_error(raw, kind):
    with pytest.raises(ChunkingError) as error:
        chunk_deltas(raw)
    assert error.value.kind is kind


def test_empty_input_gives_no_steps():
    assert chunk_deltas([]) == []


def test_a_back_and_forth_stays_in_the_steps():
    raw = [[0.02, 0, 0, 1], [-0.02, 0, 0, 1], [0.036, 0, 0, 1]]
    kept = chunk_deltas(raw)
    assert len(kept) >= 2
    assert [round(m.step[0], 4) for m in kept] == [0.02, -0.02, 0.036]
    assert path_preservation(raw, kept) == pytest.approx(1.0)
    merged = chunk_deltas(raw, ChunkingConfig(keep_reversals=False))
    assert len(merged) == 1 and path_preservation(raw, merged) == pytest.approx(0.036 / 0.076)


def test_jitter_below_the_reversal_threshold_does_not_split():
    raw = [[0.01, 0, 0, 1], [-0.002, 0, 0, 1], [0.01, 0, 0, 1]]
    assert len(chunk_deltas(raw, ChunkingConfig(reversal_threshold_m=0.005))) == 1


def test_a_slow_reversal_closes_once_it_passes_the_threshold():
    raw = [[0.012, 0, 0, 1]] + [[-0.003, 0, 0, 1]] * 4
    merged = chunk_deltas(raw, ChunkingConfig(reversal_threshold_m=0.005))
    assert len(merged) == 2
    assert sum(m.step[0] for m in merged) == pytest.approx(0.0)


@settings(max_examples=200, deadline=None)
@given(raw=raw_strategy)
def test_keeping_reversals_only_splits_steps_and_never_loses_path(raw):
    array = np.array(raw, dtype=float).reshape(-1, 4)
    kept = chunk_deltas(array)
    assert [i for m in kept for i in m.raw_indices] == list(range(len(array)))
    total = np.sum([m.step[:3] for m in kept], axis=0) if kept else np.zeros(3)
    np.testing.assert_allclose(total, array[:, :3].sum(axis=0), atol=1e-12)
    if len(array):
        assert path_preservation(array, kept) <= 1.0 + 1e-9
