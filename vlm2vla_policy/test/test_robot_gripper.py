"""Gripper commands: threshold, once per change, PWM P-loop, position mode."""

import pytest

from vlm2vla_policy.robot import GripperConfig, GripperController, GripperMode


def test_requests_produce_a_command_only_on_change():
    gripper = GripperController()
    assert gripper.is_open is None
    first = gripper.request(1.0)
    assert first is not None and first.open and first.value == 350.0
    assert gripper.request(0.7) is None
    closed = gripper.request(0.49)
    assert closed is not None and not closed.open and closed.value == -350.0
    assert gripper.request(0.0) is None
    assert gripper.request(0.5).open
    gripper.forget()
    assert gripper.request(1.0) is not None


def test_pwm_loop_drives_the_fingers_to_the_commanded_position():
    gripper = GripperController()
    assert gripper.pwm_effort(0.02) == 0.0  # nothing commanded yet
    gripper.request(1.0)
    assert gripper.pwm_effort(0.015) == 350.0  # far from open: saturated, positive opens
    assert 0.0 < gripper.pwm_effort(0.036) < 350.0  # nearly there: proportional
    assert gripper.pwm_effort(0.037) == 0.0
    gripper.request(0.0)
    assert gripper.pwm_effort(0.037) == -350.0
    assert gripper.pwm_effort(0.025) == -350.0  # holding an object: full grip


def test_position_mode_sends_the_configured_positions():
    config = GripperConfig(mode=GripperMode.POSITION, position_open=1.2, position_closed=-0.4)
    gripper = GripperController(config)
    command = gripper.request(0.0)
    assert command.mode is GripperMode.POSITION and command.value == -0.4
    assert gripper.request(1.0).value == 1.2


def test_position_mode_needs_its_positions():
    with pytest.raises(ValueError, match="position_open"):
        GripperConfig(mode=GripperMode.POSITION)
