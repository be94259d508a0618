"""Servo behaviour: time-based profiles, the PWM and position gripper, torque off."""

import numpy as np
import pytest

from vlm2vla_policy.robot import GripperMode
from vlm2vla_sim import ProfileSettings
from vlm2vla_sim.linkage import GripperLinkage
from vlm2vla_sim.profile import trapezoid


def test_trapezoid_profile_is_continuous_and_its_rate_is_its_derivative():
    times = np.linspace(-0.05, 0.3, 351)
    fraction, rate = np.array([trapezoid(t, 0.25, 0.1) for t in times]).T
    assert fraction[0] == 0.0 and fraction[-1] == 1.0
    assert np.all(np.diff(fraction) >= 0.0) and np.max(np.abs(np.diff(fraction))) < 0.01
    np.testing.assert_allclose(np.gradient(fraction, times)[60:290], rate[60:290], atol=0.05)
    assert rate.max() == pytest.approx(1.0 / 0.15)
    assert trapezoid(0.125, 0.25, 0.1)[0] == pytest.approx(0.5)
    assert trapezoid(0.1, 0.2, 0.0) == pytest.approx((0.5, 5.0))
    assert trapezoid(0.0, 0.0, 0.0) == (1.0, 0.0)


def test_a_joint_goal_is_reached_over_the_profile_time(sim):
    sim.reset(0)
    start = sim.joints()
    goal = start.copy()
    goal[0] += 0.3
    sim.set_profile(ProfileSettings("time", 500, 100))
    sim.set_arm_targets(goal)
    sim.step(0.25)
    assert sim.arm_setpoints()[0] == pytest.approx(start[0] + 0.15, abs=1e-6)
    assert 0.08 < sim.joints()[0] - start[0] < 0.2, "halfway through, about half the move"
    sim.step(0.35)
    np.testing.assert_allclose(sim.joints(), goal, atol=5e-3)
    sim.set_profile(ProfileSettings("time", 2000, 300))
    sim.set_arm_targets(start)
    sim.step(1.0)
    assert abs(sim.joints()[0] - start[0]) > 0.1, "the 2000 ms profile is still moving at 1 s"


def test_pwm_sign_opens_and_closes_at_a_speed_proportional_to_effort(sim):
    sim.reset(0)
    speeds = {}
    for effort in (-350.0, -175.0):
        sim.reset(0)
        before = sim.finger_m()
        sim.set_gripper(effort, GripperMode.PWM)
        sim.step(0.1)
        speeds[effort] = (before - sim.finger_m()) / 0.1
    assert speeds[-350.0] > 0.03, "closing at full Bridge effort should take well under a second"
    assert speeds[-350.0] / speeds[-175.0] == pytest.approx(2.0, rel=0.15)
    sim.step(1.0)
    sim.set_gripper(-350.0, GripperMode.PWM)
    sim.step(1.0)
    assert sim.finger_m() == pytest.approx(0.015, abs=5e-4)
    sim.set_gripper(350.0, GripperMode.PWM)
    sim.step(1.0)
    assert sim.finger_m() == pytest.approx(0.037, abs=5e-4)


def test_position_mode_drives_the_finger_to_the_servo_angle(sim):
    sim.reset(0)
    linkage = GripperLinkage()
    sim.set_gripper(linkage.angle_rad(0.025), GripperMode.POSITION)
    sim.step(1.0)
    assert sim.finger_m() == pytest.approx(0.025, abs=5e-4)
    assert linkage.finger_m(linkage.angle_rad(0.031)) == pytest.approx(0.031)


def test_torque_off_lets_the_arm_fall_and_torque_on_holds(sim):
    sim.reset(0)
    sim.set_torque(False, ["shoulder", "elbow"])
    z = sim.ee_pose()[2, 3]
    sim.step(0.5)
    assert sim.ee_pose()[2, 3] < z - 0.03, "a limp arm sinks under gravity"
    sim.set_torque(True)
    held = sim.joints()
    sim.step(0.5)
    np.testing.assert_allclose(sim.joints(), held, atol=0.02)
    assert sim.torque_enabled("shoulder") and sim.torque_enabled("gripper")


def test_bad_commands_are_refused_with_the_reason(sim):
    with pytest.raises(ValueError, match="6 finite angles"):
        sim.set_arm_targets(np.zeros(5))
    with pytest.raises(ValueError, match="no arm joint"):
        sim.set_joint_target("elbw", 0.0)
    with pytest.raises(ValueError, match="profile type"):
        ProfileSettings("fast", 1, 1)
