"""The wx250s description and the workspace bounds."""

import dataclasses

import numpy as np
import pytest

from vlm2vla_policy.robot import WX250S, WorkspaceBounds


def test_arm_positions_are_picked_by_name():
    names = ["left_finger", "wrist_rotate", "wrist_angle", "forearm_roll", "elbow", "shoulder"]
    names.append("waist")
    positions = [0.03, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]
    assert np.array_equal(WX250S.arm_positions(names, positions), [1, 2, 3, 4, 5, 6])
    assert WX250S.finger_position_m(names, positions) == 0.03


def test_a_partial_joint_state_gives_none():
    assert WX250S.arm_positions(["waist", "shoulder"], [0.0, 0.0]) is None
    assert WX250S.finger_position_m(["waist"], [0.0]) is None


def test_positions_and_names_of_other_lengths_give_none():
    names = [*WX250S.joint_names, "gripper", "left_finger", "right_finger"]
    for positions in ([0.1] * (len(names) - 1), [0.1] * (len(names) + 1)):  # which is whose?
        assert WX250S.arm_positions(names, positions) is None
        assert WX250S.finger_position_m(names, positions) is None


def test_description_checks_its_lengths():
    with pytest.raises(ValueError, match="screw_axes"):
        dataclasses.replace(WX250S, screw_axes=WX250S.screw_axes[:5])


def test_workspace_clip_reports_what_it_changed():
    bounds = WorkspaceBounds()
    inside = np.array([0.3, 0.0, 0.1])
    assert bounds.contains(inside)
    assert bounds.clip(inside)[1] == ""
    clipped, note = bounds.clip(np.array([0.6, -0.3, 0.1]))
    assert np.allclose(clipped, [0.45, -0.15, 0.1])
    assert "x" in note and "y" in note and "z" not in note
    assert not bounds.contains(np.array([0.6, -0.3, 0.1]))


def test_workspace_needs_ordered_bounds():
    with pytest.raises(ValueError, match="z_m"):
        WorkspaceBounds(z_m=(0.3, 0.1))
