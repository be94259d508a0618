"""The xs_sdk driver semantics over the simulator (no ROS)."""

import numpy as np
import pytest

from vlm2vla_policy.robot import WX250S
from vlm2vla_sim import DriverError, SimDriver


@pytest.fixture
def driver(sim):
    sim.reset(0)
    return SimDriver(sim)


def test_robot_info_describes_the_wx250s_and_the_gripper_as_left_finger(driver):
    arm = driver.robot_info("group", "arm")
    assert tuple(arm.joint_names) == WX250S.joint_names
    assert arm.joint_lower_limits == pytest.approx(WX250S.lower_limits_rad)
    assert (arm.mode, arm.profile_type, arm.num_joints) == ("position", "time", 6)
    gripper = driver.robot_info("single", "gripper")
    assert gripper.joint_names == ["left_finger"]
    assert gripper.mode == "pwm"
    index = gripper.joint_state_indices[0]
    assert driver.joint_state_names[index] == "left_finger"
    assert driver.joint_state_positions()[index] == pytest.approx(0.037, abs=1e-3)
    assert sorted(driver.robot_info("group", "all").name) == ["all", "arm"]


def test_profile_registers_set_and_read_back(driver):
    driver.set_operating_modes(
        "group", "arm", mode="position", profile_type="time",
        profile_velocity=250, profile_acceleration=100,
    )  # fmt: skip
    assert driver.get_register("group", "arm", "Profile_Velocity") == [250] * 6
    assert driver.sim.profile_settings[0].velocity == 250
    driver.set_register("single", "waist", "Profile_Velocity", 800)
    assert driver.sim.profile_settings[0].velocity == 800
    assert driver.get_register("single", "waist", "Profile_Velocity") == [800]
    driver.set_register("group", "arm", "Position_P_Gain", 640)
    assert driver.get_register("group", "arm", "Position_P_Gain") == [640] * 6


def test_group_commands_move_the_arm_and_all_includes_the_gripper(driver):
    driver.set_register("group", "arm", "Profile_Velocity", 200)
    goal = driver.sim.joints() + np.array([0.2, 0.0, 0.0, 0.1, 0.0, 0.0])
    driver.command_group("all", [*goal, -350.0])
    driver.sim.step(0.6)
    np.testing.assert_allclose(driver.sim.joints(), goal, atol=5e-3)
    assert driver.sim.finger_m() < 0.017
    driver.set_operating_modes(
        "single", "gripper", mode="linear_position", profile_type="time",
        profile_velocity=0, profile_acceleration=0,
    )  # fmt: skip
    driver.command_single("gripper", 0.05)  # 5 cm between the fingers
    driver.sim.step(1.0)
    assert driver.sim.finger_m() == pytest.approx(0.025, abs=5e-4)


def test_bad_requests_say_what_was_wrong(driver):
    with pytest.raises(DriverError, match="no group 'legs'"):
        driver.command_group("legs", [0.0])
    with pytest.raises(DriverError, match="takes 6 commands"):
        driver.command_group("arm", [0.0] * 5)
    with pytest.raises(DriverError, match="cannot run in 'velocity' mode"):
        driver.set_operating_modes(
            "group", "arm", mode="velocity", profile_type="time",
            profile_velocity=0, profile_acceleration=0,
        )  # fmt: skip
    with pytest.raises(DriverError, match="cmd_type must be"):
        driver.robot_info("groups", "arm")


def test_trajectory_points_are_commanded_at_their_times(driver):
    driver.set_register("group", "arm", "Profile_Velocity", 100)
    start = driver.sim.joints()
    waist = np.eye(6)[0]
    first, second = start + 0.1 * waist, start + 0.2 * waist
    driver.command_trajectory("group", "arm", [(0.0, start), (0.3, first), (0.6, second)])
    with pytest.raises(DriverError, match="still running"):
        driver.command_trajectory("group", "arm", [(0.0, start), (0.3, first)])
    for _ in range(20):  # 0.4 s in the node's 20 ms physics slices
        driver.update()
        driver.sim.step(0.02)
    assert driver.sim.joints()[0] == pytest.approx(first[0], abs=5e-3)
    for _ in range(20):
        driver.update()
        driver.sim.step(0.02)
    assert driver.sim.joints()[0] == pytest.approx(second[0], abs=5e-3)
    driver.set_pid_gains("single", "waist", {"kp_pos": 800, "kd_pos": 0})
    assert driver.get_register("single", "waist", "Position_P_Gain") == [800]
