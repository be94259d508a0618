"""The generated MJCF matches the library's kinematic description of the wx250s."""

import mujoco
import numpy as np
import pytest

from vlm2vla_policy.robot import WX250S, ArmKinematics
from vlm2vla_sim.model import EE_SITE, LEFT_FINGER, ArmModelConfig, RobotModelConfig


def test_sim_fk_equals_library_fk_on_random_joints(sim):
    kinematics = ArmKinematics(WX250S)
    rng = np.random.default_rng(7)
    site = sim.model.site(EE_SITE).id
    qpos = [sim.model.joint(name).qposadr[0] for name in WX250S.joint_names]
    data = mujoco.MjData(sim.model)
    for _ in range(200):
        joints = rng.uniform(WX250S.lower_limits, WX250S.upper_limits)
        data.qpos[qpos] = joints
        mujoco.mj_kinematics(sim.model, data)
        expected = kinematics.fk(joints)
        np.testing.assert_allclose(data.site_xpos[site], expected[:3, 3], atol=1e-3)
        np.testing.assert_allclose(data.site_xmat[site].reshape(3, 3), expected[:3, :3], atol=1e-6)


def test_joint_limits_and_finger_range_are_the_robots(sim):
    for i, name in enumerate(WX250S.joint_names):
        low, high = sim.model.joint(name).range
        assert low == pytest.approx(WX250S.lower_limits_rad[i])
        assert high == pytest.approx(WX250S.upper_limits_rad[i])
    low, high = sim.model.joint(LEFT_FINGER).range
    assert (low, high) == pytest.approx((0.015, 0.037))


def test_the_measured_ee_is_where_the_library_puts_it_after_a_reset(sim):
    sim.reset(3)
    np.testing.assert_allclose(
        sim.ee_pose()[:3, 3], ArmKinematics(WX250S).fk(sim.joints())[:3, 3], atol=1e-9
    )
    np.testing.assert_allclose(sim.ee_pose()[:3, 3], sim.config.start_position_m, atol=3e-3)


def test_an_anchor_off_its_joint_axis_is_refused():
    anchors = list(ArmModelConfig().anchors_m)
    anchors[2] = (0.05, 0.0, 0.30)
    with pytest.raises(ValueError, match=r"elbow.*off its screw axis"):
        RobotModelConfig(arm=ArmModelConfig(anchors_m=tuple(anchors)))
