"""Safety checks on joint measurements and commands."""

import math

import numpy as np
import pytest

from vlm2vla_policy.robot import BRIDGE_NEUTRAL_JOINTS_RAD, WX250S, ControlStatus, SafetyLimits
from vlm2vla_policy.robot.safety import check_age

LIMITS = SafetyLimits.for_robot(WX250S, max_joint_state_age_s=0.5)
NEUTRAL = np.array(BRIDGE_NEUTRAL_JOINTS_RAD)


def test_a_small_move_within_limits_passes():
    assert LIMITS.check_command(NEUTRAL + 0.1, NEUTRAL, 0.2).ok


def test_a_command_beyond_a_joint_limit_is_refused():
    command = NEUTRAL.copy()
    command[2] = WX250S.upper_limits_rad[2] + 0.01  # elbow
    verdict = LIMITS.check_command(command, command, 0.2)
    assert verdict.status is ControlStatus.JOINT_LIMIT
    assert "elbow" in verdict.reason


def test_a_command_too_fast_for_one_period_is_refused():
    command = NEUTRAL.copy()
    command[0] += math.pi * 0.2 + 0.01  # waist: just over pi rad/s for 0.2 s
    verdict = LIMITS.check_command(command, NEUTRAL, 0.2)
    assert verdict.status is ControlStatus.VELOCITY_LIMIT
    assert "waist" in verdict.reason
    assert LIMITS.check_command(command, NEUTRAL, 0.25).ok  # the same change over a longer period


def test_a_non_finite_command_is_refused():
    verdict = LIMITS.check_command(np.full(6, np.nan), NEUTRAL, 0.2)
    assert verdict.status is ControlStatus.INVALID_INPUT


@pytest.mark.parametrize(
    ("joints", "stamp_s", "status"),
    [
        (NEUTRAL, 9.6, ControlStatus.OK),
        (NEUTRAL, 9.4, ControlStatus.STALE_JOINT_STATES),
        (NEUTRAL, 10.6, ControlStatus.STALE_JOINT_STATES),
        (None, 10.0, ControlStatus.STALE_JOINT_STATES),
        (NEUTRAL[:5], 10.0, ControlStatus.INVALID_INPUT),
    ],
    ids=["fresh", "old", "future", "missing", "short"],
)
def test_joint_measurements_are_checked(joints, stamp_s, status):
    verdict = LIMITS.check_measurement(joints, stamp_s, now_s=10.0)
    assert verdict.status is status
    assert verdict.ok == (status is ControlStatus.OK)
    assert bool(verdict.reason) != verdict.ok


@pytest.mark.parametrize(
    ("stamp_s", "now_s"),
    [(math.nan, 10.0), (10.0, math.nan), (math.inf, 10.0), (-math.inf, 10.0), (10.0, math.inf)],
    ids=["nan-stamp", "nan-now", "inf-stamp", "-inf-stamp", "inf-now"],
)
def test_a_nan_or_infinite_time_is_stale_not_fresh(stamp_s, now_s):
    # abs(nan) > limit is False: a plain comparison let a NaN stamp pass as fresh.
    verdict = LIMITS.check_measurement(NEUTRAL, stamp_s, now_s)
    assert verdict.status is ControlStatus.STALE_JOINT_STATES
    assert "not finite" in verdict.reason
    assert not check_age("finger position", stamp_s, now_s, 0.5).ok


def test_check_age_names_what_is_stale_and_how_old():
    assert check_age("finger position", 9.5, 10.0, 0.5).ok  # exactly the limit is fresh
    verdict = check_age("finger position", 9.0, 10.0, 0.5)
    assert verdict.status is ControlStatus.STALE_JOINT_STATES
    assert "finger position is 1.000 s old (limit 0.5 s)" in verdict.reason


def test_limits_need_one_entry_per_joint():
    with pytest.raises(ValueError, match="per joint"):
        SafetyLimits(("a", "b"), (0.0,), (1.0, 1.0), (1.0, 1.0))
