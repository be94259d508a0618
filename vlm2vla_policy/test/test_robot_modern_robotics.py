"""Our kinematics against the modern_robotics package on the same product-of-exponentials model."""

import math

import numpy as np
import pytest

from vlm2vla_policy.robot import (
    WX250S,
    ArmKinematics,
    IKConfig,
    WorkspaceBounds,
    pose_error,
    sample_reachable_joints,
)

mr = pytest.importorskip("modern_robotics", reason="pip install modern_robotics (test extra)")

KIN = ArmKinematics(WX250S)
# Smallest Jacobian singular value below which the pose tolerances allow visibly different joints
# for the same pose (near the wrist singularity), so joints are not compared there.
WELL_CONDITIONED = 0.01


@pytest.fixture(scope="module")
def reachable_joints() -> np.ndarray:
    return sample_reachable_joints(KIN, WorkspaceBounds(), 200, np.random.default_rng(0))


def test_fk_agrees(reachable_joints):
    for joints in reachable_joints:
        theirs = mr.FKinSpace(WX250S.home_pose, WX250S.screw_matrix, joints)
        assert np.allclose(KIN.fk(joints), theirs, atol=1e-12)


def test_jacobian_agrees(reachable_joints):
    for joints in reachable_joints[:50]:
        space = mr.JacobianSpace(WX250S.screw_matrix, joints)
        position = KIN.fk(joints)[:3, 3]
        # Space twist -> velocity of the EE origin: v_point = v_s + w_s x p.
        point_velocity = space[3:] + np.cross(space[:3].T, position).T
        assert np.allclose(KIN.jacobian(joints), np.vstack([space[:3], point_velocity]))


def test_ik_agrees_away_from_singularities(reachable_joints):
    rng = np.random.default_rng(2)
    config = IKConfig()
    compared = 0
    for joints in reachable_joints:
        if np.linalg.svd(KIN.jacobian(joints), compute_uv=False)[-1] < WELL_CONDITIONED:
            continue
        target = KIN.fk(joints)
        seed = joints + rng.uniform(-0.05, 0.05, 6)
        ours = KIN.ik(target, seed, config)
        theirs, converged = mr.IKinSpace(
            WX250S.screw_matrix,
            WX250S.home_pose,
            target,
            seed,
            config.orientation_tolerance_rad,
            config.position_tolerance_m,
        )
        assert ours.ok
        assert converged
        wrapped = (theirs + math.pi) % (2 * math.pi) - math.pi
        assert np.allclose(ours.joints_rad, wrapped, atol=1e-2)
        position_m, _ = pose_error(KIN.fk(ours.joints_rad), KIN.fk(theirs))
        assert position_m < 1e-3
        compared += 1
    assert compared > 150
