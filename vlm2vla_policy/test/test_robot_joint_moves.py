"""Closed-loop pose moves (start, home, sleep): fresh joint states, limits, and arrival."""

import math

import numpy as np
import pytest

from vlm2vla_policy.robot import (
    BRIDGE_NEUTRAL_JOINTS_RAD,
    WX250S,
    ControlStatus,
    PoseMove,
    PoseMoveConfig,
    SafetyLimits,
)
from vlm2vla_policy.robot.joint_moves import joint_path

LIMITS = SafetyLimits.for_robot(WX250S, max_joint_state_age_s=0.5)
PERIOD_S = 0.2
NEUTRAL = np.array(BRIDGE_NEUTRAL_JOINTS_RAD)
HOME = np.zeros(WX250S.num_joints)


def home_move(**config) -> PoseMove:
    return PoseMove("home", HOME, LIMITS, PERIOD_S, PoseMoveConfig(**config))


def run(move: PoseMove, arm, periods: int = 200, reading_s: float = 0.01):
    """Tick ``move`` every period; ``arm(command or None, now_s)`` returns the measured joints.

    A joint state arrives ``reading_s`` after each tick. Returns (commands, the last output).
    """
    now_s, measured, commands = 0.0, NEUTRAL.copy(), []
    assert move.start(measured, now_s, now_s + reading_s).ok
    for _ in range(periods):
        now_s += PERIOD_S
        out = move.tick(measured, now_s - PERIOD_S + reading_s, now_s)
        if out.joints_rad is not None:
            commands.append(out.joints_rad)
        measured = arm(out.joints_rad, now_s, measured)
        if out.finished:
            return commands, out
    raise AssertionError("the move never ended")


def follows(command, _now_s, measured):
    return measured if command is None else command


def test_a_move_the_arm_follows_ends_at_the_pose_paced_by_the_speed_limit():
    move = home_move(speed_rad_s=0.5)
    commands, out = run(move, follows)
    assert out.succeeded and out.status is ControlStatus.OK
    assert out.reason == "at home (every joint within 0.03 rad; largest error 0.000 rad)"
    largest = float(np.max(np.abs(NEUTRAL)))
    assert len(commands) == math.ceil(largest / (0.5 * PERIOD_S))
    np.testing.assert_allclose(commands[-1], HOME)
    steps = np.diff([NEUTRAL, *commands], axis=0)
    assert np.max(np.abs(steps)) <= 0.5 * PERIOD_S + 1e-12


def test_no_move_starts_on_a_stale_missing_or_nan_joint_state():
    move = home_move()
    stale = move.start(NEUTRAL, stamp_s=0.0, now_s=0.6)
    assert stale.status is ControlStatus.STALE_JOINT_STATES
    assert stale.reason.startswith("cannot move to home: joint state is 0.600 s old")
    assert not move.start(None, 0.0, 0.0).ok
    assert "not finite" in move.start(NEUTRAL, math.nan, 1.0).reason
    # Nothing was planned: a tick ends it at once without a command.
    assert move.tick(NEUTRAL, math.nan, 1.0).joints_rad is None


def test_joint_states_that_stop_mid_move_end_it_with_no_command_after_one_period():
    move = home_move()
    now_s, measured, commands = 0.0, NEUTRAL.copy(), []
    assert move.start(measured, 0.0, 0.0).ok
    stamp_s = 0.0
    for period in range(1, 30):
        now_s = period * PERIOD_S
        if period <= 3:  # the driver dies after the third period's reading
            stamp_s = now_s - 0.15
        out = move.tick(measured, stamp_s, now_s)
        if out.joints_rad is not None:
            commands.append((period, out.joints_rad))
            measured = out.joints_rad
        if out.finished:
            break
    assert not out.succeeded and out.status is ControlStatus.STALE_JOINT_STATES
    assert out.reason.startswith("home move failed: joint state is")
    # One command per reading: none on period 4 (no reading since period 3's command).
    assert [period for period, _ in commands] == [1, 2, 3]
    assert now_s - stamp_s <= 0.5 + 2 * PERIOD_S, "it failed later than one period past stale"
    assert move.tick(measured, now_s, now_s) is out, "an ended move stays ended"


def test_without_a_new_joint_state_since_the_last_waypoint_the_move_holds():
    move = home_move()
    assert move.start(NEUTRAL, 0.0, 0.0).ok
    first = move.tick(NEUTRAL, 0.01, 0.2)
    assert first.joints_rad is not None
    held = move.tick(first.joints_rad, 0.01, 0.4)  # the same reading again
    assert held.joints_rad is None and held.status is ControlStatus.WAITING
    assert not held.finished
    assert move.tick(first.joints_rad, 0.45, 0.6).joints_rad is not None


def test_an_arm_that_does_not_follow_trips_the_speed_check_like_a_chunk():
    commands, out = run(home_move(), lambda _cmd, _now_s, measured: measured)
    assert not out.succeeded and out.status is ControlStatus.VELOCITY_LIMIT
    assert "rad/s" in out.reason and out.reason.startswith("home move failed:")
    # 0.1 rad per waypoint; over pi rad/s for a 0.2 s period is more than 0.628 rad behind.
    assert len(commands) == 6


def test_an_arm_that_stops_short_fails_after_settle_s_naming_the_joint():
    def short(command, _now_s, measured):
        if command is None:
            return measured
        reached = command.copy()
        reached[1] += 0.2  # the shoulder stays 0.2 rad off every command (a load, a block)
        return reached

    commands, out = run(home_move(settle_s=1.0), short)
    assert not out.succeeded and out.status is ControlStatus.NOT_REACHED
    assert "shoulder is 0.200 rad from it 1.0 s after the last waypoint" in out.reason
    assert "tolerance 0.03 rad" in out.reason
    np.testing.assert_allclose(commands[-1], HOME)


def test_a_pose_outside_the_joint_limits_is_refused_before_any_command():
    goal = HOME.copy()
    goal[2] = WX250S.upper_limits_rad[2] + 0.1
    move = PoseMove("nowhere", goal, LIMITS, PERIOD_S)
    verdict = move.start(NEUTRAL, 0.0, 0.0)
    assert verdict.status is ControlStatus.JOINT_LIMIT
    assert verdict.reason.startswith("cannot move to nowhere: elbow command")


def test_fail_ends_the_move_once_with_the_given_status():
    move = home_move()
    assert move.start(NEUTRAL, 0.0, 0.0).ok
    out = move.fail("e-stop service called", ControlStatus.ESTOPPED)
    assert out.finished and out.status is ControlStatus.ESTOPPED
    assert out.reason == "home move failed: e-stop service called"
    assert move.fail("later") is out
    assert move.tick(NEUTRAL, 1.0, 1.0).joints_rad is None


def test_the_config_refuses_a_zero_tolerance_and_the_path_keeps_its_pace():
    with pytest.raises(ValueError, match="tolerance_rad"):
        PoseMoveConfig(tolerance_rad=0.0)
    path = joint_path(NEUTRAL, HOME, 0.5, PERIOD_S)
    np.testing.assert_allclose(path[-1], HOME)
