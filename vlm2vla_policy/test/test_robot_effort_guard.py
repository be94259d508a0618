"""The effort guard: trips when an arm joint's |effort| stays over its limit for effort_hold_s."""

import math

import pytest

from vlm2vla_policy.robot import WX250S, ControlStatus, EffortGuard, EffortGuardConfig

NAMES = [*WX250S.joint_names, "gripper", "left_finger", "right_finger"]  # as xs_sdk sends them
ELBOW = WX250S.joint_names.index("elbow")


def efforts(elbow_ma: float = 0.0) -> list[float]:
    """A joint_states effort list (mA) with ``elbow_ma`` on the elbow and 0 elsewhere."""
    values = [0.0] * len(NAMES)
    values[NAMES.index("elbow")] = elbow_ma
    return values


def test_an_effort_over_its_limit_trips_only_after_the_hold_time():
    guard = EffortGuard(EffortGuardConfig(effort_hold_s=0.1))
    limit = guard.config.effort_limits_ma[ELBOW]
    guard.observe(NAMES, efforts(500.0), 0.00)
    assert guard.check().ok
    for stamp_s in (0.01, 0.05, 0.10):
        guard.observe(NAMES, efforts(-(limit + 300.0)), stamp_s)  # either sign counts
    assert guard.check().ok, "tripped before the effort stayed over for effort_hold_s"
    guard.observe(NAMES, efforts(-(limit + 300.0)), 0.12)
    verdict = guard.check()
    assert verdict.status is ControlStatus.EFFORT_LIMIT
    assert "elbow effort -1320 mA" in verdict.reason
    assert f"effort_limits_ma[{ELBOW}] = 1020 mA" in verdict.reason
    assert "0.11 s (effort_hold_s = 0.1 s)" in verdict.reason


def test_one_reading_back_within_the_limit_clears_it_and_restarts_the_hold():
    guard = EffortGuard(EffortGuardConfig(effort_hold_s=0.1))
    guard.observe(NAMES, efforts(5000.0), 0.0)
    guard.observe(NAMES, efforts(5000.0), 0.2)
    assert not guard.check().ok
    guard.observe(NAMES, efforts(100.0), 0.21)
    assert guard.check().ok
    guard.observe(NAMES, efforts(5000.0), 0.22)
    guard.observe(NAMES, efforts(5000.0), 0.30)
    assert guard.check().ok, "the hold time restarts after a reading within the limit"


def test_a_zero_hold_trips_at_the_first_reading_over_and_nan_counts_as_over():
    guard = EffortGuard(EffortGuardConfig(effort_hold_s=0.0))
    guard.observe(NAMES, efforts(math.nan), 0.0)
    verdict = guard.check()
    assert verdict.status is ControlStatus.EFFORT_LIMIT and "nan (not a number)" in verdict.reason


def test_an_effort_over_its_limit_with_a_nan_stamp_trips_rather_than_never():
    # held_s >= hold is False for NaN: the guard stayed silent for ever on a NaN stamp.
    guard = EffortGuard(EffortGuardConfig(effort_hold_s=0.1))
    guard.observe(NAMES, efforts(5000.0), math.nan)
    guard.observe(NAMES, efforts(5000.0), 0.5)
    assert guard.check().status is ControlStatus.EFFORT_LIMIT


def test_a_zero_limit_turns_one_joint_off_and_empty_or_all_zero_limits_the_guard():
    limits = list(EffortGuardConfig().effort_limits_ma)
    limits[ELBOW] = 0.0
    guard = EffortGuard(EffortGuardConfig(effort_limits_ma=tuple(limits), effort_hold_s=0.0))
    guard.observe(NAMES, efforts(1e6), 0.0)
    assert guard.check().ok
    for off in ((), (0.0,) * WX250S.num_joints):
        config = EffortGuardConfig(effort_limits_ma=off, effort_hold_s=0.0)
        assert not config.enabled
        guard = EffortGuard(config)
        guard.observe(NAMES, efforts(1e6), 0.0)
        assert guard.check().ok


def test_readings_without_efforts_change_nothing():
    guard = EffortGuard(EffortGuardConfig(effort_hold_s=0.0))
    assert not guard.observe(NAMES, [], 0.0), "a simulator's joint_states have no efforts"
    assert not guard.observe(NAMES[:3], [5000.0] * 3, 0.1), "arm joints missing"
    assert not guard.observe(NAMES, [5000.0] * 3, 0.2), "fewer efforts than names"
    assert guard.check().ok
    assert guard.observe(NAMES, efforts(5000.0), 0.3)
    assert not guard.check().ok
    assert not guard.observe(NAMES, [], 0.4)
    assert not guard.check().ok, "a reading without efforts does not clear a tripped guard"


def test_the_defaults_are_bridges_limits_and_a_wrong_count_is_refused():
    assert EffortGuardConfig().effort_limits_ma == (1360.0, 1700.0, 1020.0, 1020.0, 1020.0, 1190.0)
    with pytest.raises(ValueError, match="one limit per arm joint"):
        EffortGuardConfig(effort_limits_ma=(1000.0,))
    with pytest.raises(ValueError, match="effort_limits_ma"):
        EffortGuardConfig(effort_limits_ma=(-1.0,) * WX250S.num_joints)
