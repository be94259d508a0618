"""The Interbotix ``xs_sdk`` driver's semantics over a :class:`WidowXSim` (no ROS).

What the real driver does with each request of its interface (docs/facts.md §3), for the wx250s:

- Motors: the six arm joints and ``gripper``. Groups: ``arm`` (the six) and ``all`` (the six and
  the gripper). A ``single`` command or request names one motor.
- ``joint_states``: the arm joints (rad), ``gripper`` (the servo angle, rad), then
  ``left_finger`` and ``right_finger`` (m; the right is the negated left).
- Operating modes: arm motors run ``position`` (also accepted: ``ext_position``,
  ``current_based_position``); the gripper runs ``pwm`` (default; positive opens),
  ``position`` / ``current_based_position`` (servo angle, rad) or ``linear_position`` (distance
  between the fingers, m). Profiles are time-based (ms) or velocity-based.
- Registers: ``Profile_Velocity`` and ``Profile_Acceleration`` change the profile as on the real
  servo; other registers are stored and read back but change nothing in the physics.
- PID gains (``set_motor_pid_gains``) are written to the servos' gain registers (read back with
  ``get_motor_registers``); the simulated servos keep their own gains.
- Trajectories (``commands/joint_trajectory``): each point after the first is commanded at its
  ``time_from_start``, as xs_sdk does, and reached under the motors' profiles; a trajectory
  that arrives while one runs is refused.
- Robot info for the gripper is given in terms of ``left_finger`` (m), as xs_sdk does.

Bad requests raise :class:`DriverError` saying what was wrong; the ROS node logs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vlm2vla_policy.robot import GripperMode
from vlm2vla_policy.settings import setting, validate
from vlm2vla_sim.env import WidowXSim
from vlm2vla_sim.model import LEFT_FINGER, RIGHT_FINGER
from vlm2vla_sim.profile import ProfileSettings

ARM = "arm"
ALL = "all"
GRIPPER = "gripper"
GROUP, SINGLE = "group", "single"
PROFILE_VELOCITY, PROFILE_ACCELERATION = "Profile_Velocity", "Profile_Acceleration"
ARM_MODES = ("position", "ext_position", "current_based_position")
# Dynamixel register written by each field of an interbotix_xs_msgs/MotorGains request.
GAIN_REGISTERS = {
    "kp_pos": "Position_P_Gain",
    "ki_pos": "Position_I_Gain",
    "kd_pos": "Position_D_Gain",
    "k1": "Feedforward_1st_Gain",
    "k2": "Feedforward_2nd_Gain",
    "kp_vel": "Velocity_P_Gain",
    "ki_vel": "Velocity_I_Gain",
}
GRIPPER_MODES = ("pwm", "position", "current_based_position", "linear_position")


class DriverError(ValueError):
    """A request the driver cannot carry out; the message says what was wrong."""


@dataclass(frozen=True)
class DriverConfig:
    """The wx250s motor layout and limits the driver reports."""

    arm_motor_ids: tuple[int, ...] = setting(
        (1, 2, 4, 6, 7, 8),
        "Dynamixel IDs of the arm motors in chain order (shoulder and elbow have shadows 3, 5)",
    )
    gripper_motor_id: int = setting(9, "Dynamixel ID of the gripper servo")
    finger_velocity_limit_m_s: float = setting(
        1.0, "the left_finger joint's URDF velocity limit", unit="m/s", above=0.0
    )
    gripper_mode: str = setting("pwm", "gripper operating mode at start", choices=GRIPPER_MODES)

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class RobotInfo:
    """The fields of an ``interbotix_xs_msgs/RobotInfo`` response."""

    mode: str  # operating mode of the group or motor
    profile_type: str  # "time" or "velocity"
    joint_names: list[str]  # joints of the group ("left_finger" for the gripper)
    joint_ids: list[int]  # Dynamixel IDs
    joint_lower_limits: list[float]  # rad (m for left_finger)
    joint_upper_limits: list[float]  # rad (m for left_finger)
    joint_velocity_limits: list[float]  # rad/s (m/s for left_finger)
    joint_sleep_positions: list[float]  # rad (m for left_finger)
    joint_state_indices: list[int]  # index of each joint in joint_states
    num_joints: int  # number of joints
    name: list[str]  # the group or motor asked for; every group name for "all"


@dataclass
class _Motor:
    mode: str
    profile_type: str = "time"
    registers: dict[str, int] = field(default_factory=dict)


class SimDriver:
    """Carries out driver requests on a simulator."""

    def __init__(self, sim: WidowXSim, config: DriverConfig | None = None) -> None:
        self.sim = sim
        self.config = config or DriverConfig()
        robot = sim.robot
        if self.config.gripper_mode not in GRIPPER_MODES:
            raise DriverError(
                f"gripper mode {self.config.gripper_mode!r} is not one of {GRIPPER_MODES}"
            )
        self.arm_joints: tuple[str, ...] = robot.joint_names
        self.groups: dict[str, tuple[str, ...]] = {
            ALL: (*self.arm_joints, GRIPPER),
            ARM: self.arm_joints,
        }
        self.joint_state_names: tuple[str, ...] = (
            *self.arm_joints, GRIPPER, LEFT_FINGER, RIGHT_FINGER,
        )  # fmt: skip
        profile = sim.config.initial_profile
        registers = {PROFILE_VELOCITY: profile.velocity, PROFILE_ACCELERATION: profile.acceleration}
        self._motors = {name: _Motor("position", profile.profile_type, dict(registers))
                        for name in self.arm_joints}  # fmt: skip
        self._motors[GRIPPER] = _Motor(self.config.gripper_mode, "velocity", {})
        self._trajectory: list[tuple[float, str, str, list[float]]] = []  # (time, type, name, cmd)
        self._apply_gripper_mode()

    # --- state --------------------------------------------------------------------------
    def joint_state_positions(self) -> list[float]:
        """Positions in :attr:`joint_state_names` order: rad, rad for the gripper, m."""
        finger = self.sim.finger_m()
        return [*map(float, self.sim.joints()), self.sim.gripper_angle_rad(), finger, -finger]

    def motors(self, cmd_type: str, name: str) -> tuple[str, ...]:
        """The motors a ``group`` or ``single`` request names; raises DriverError."""
        if cmd_type == GROUP:
            if name not in self.groups:
                raise DriverError(f"no group {name!r}; groups: {sorted(self.groups)}")
            return self.groups[name]
        if cmd_type == SINGLE:
            if name not in self._motors:
                raise DriverError(f"no motor {name!r}; motors: {list(self._motors)}")
            return (name,)
        raise DriverError(f"cmd_type must be {GROUP!r} or {SINGLE!r}, got {cmd_type!r}")

    # --- services -----------------------------------------------------------------------
    def robot_info(self, cmd_type: str, name: str) -> RobotInfo:
        """What ``get_robot_info`` answers."""
        motors = self.motors(cmd_type, name)
        robot, first = self.sim.robot, self._motors[motors[0]]
        info = RobotInfo(
            mode=first.mode, profile_type=first.profile_type, joint_names=[], joint_ids=[],
            joint_lower_limits=[], joint_upper_limits=[], joint_velocity_limits=[],
            joint_sleep_positions=[], joint_state_indices=[], num_joints=len(motors),
            name=sorted(self.groups) if name == ALL else [name],
        )  # fmt: skip
        for motor in motors:
            if motor == GRIPPER:
                limits = (robot.finger_closed_m, robot.finger_open_m)
                speed, sleep = self.config.finger_velocity_limit_m_s, robot.finger_open_m
                joint, motor_id = LEFT_FINGER, self.config.gripper_motor_id
            else:
                i = self.arm_joints.index(motor)
                limits = (robot.lower_limits_rad[i], robot.upper_limits_rad[i])
                speed, sleep = robot.velocity_limits_rad_s[i], robot.sleep_joints_rad[i]
                joint, motor_id = motor, self.config.arm_motor_ids[i]
            info.joint_names.append(joint)
            info.joint_ids.append(motor_id)
            info.joint_lower_limits.append(float(limits[0]))
            info.joint_upper_limits.append(float(limits[1]))
            info.joint_velocity_limits.append(float(speed))
            info.joint_sleep_positions.append(float(sleep))
            info.joint_state_indices.append(self.joint_state_names.index(joint))
        return info

    def set_operating_modes(
        self,
        cmd_type: str,
        name: str,
        *,
        mode: str,
        profile_type: str,
        profile_velocity: int,
        profile_acceleration: int,
    ) -> None:
        """``set_operating_modes``: mode and profile of every motor named."""
        motors = self.motors(cmd_type, name)
        try:
            ProfileSettings(profile_type, profile_velocity, profile_acceleration)
        except ValueError as err:
            raise DriverError(str(err)) from None
        for motor in motors:
            allowed = GRIPPER_MODES if motor == GRIPPER else ARM_MODES
            if mode not in allowed:
                raise DriverError(f"{motor} cannot run in {mode!r} mode here; use one of {allowed}")
        for motor in motors:
            state = self._motors[motor]
            state.mode, state.profile_type = mode, profile_type
            state.registers[PROFILE_VELOCITY] = profile_velocity
            state.registers[PROFILE_ACCELERATION] = profile_acceleration
        self._apply_profiles(motors)
        if GRIPPER in motors:
            self._apply_gripper_mode()

    def set_register(self, cmd_type: str, name: str, register: str, value: int) -> None:
        """``set_motor_registers``: write ``register`` of every motor named."""
        motors = self.motors(cmd_type, name)
        if register in (PROFILE_VELOCITY, PROFILE_ACCELERATION) and value < 0:
            raise DriverError(f"{register} must be >= 0, got {value}")
        for motor in motors:
            self._motors[motor].registers[register] = value
        if register in (PROFILE_VELOCITY, PROFILE_ACCELERATION):
            self._apply_profiles(motors)

    def get_register(self, cmd_type: str, name: str, register: str) -> list[int]:
        """``get_motor_registers``: ``register`` of every motor named (0 if never written)."""
        return [self._motors[m].registers.get(register, 0) for m in self.motors(cmd_type, name)]

    def set_pid_gains(self, cmd_type: str, name: str, gains: dict[str, int]) -> None:
        """``set_motor_pid_gains``: write the gain registers (keys of :data:`GAIN_REGISTERS`)."""
        unknown = sorted(set(gains) - set(GAIN_REGISTERS))
        if unknown:
            raise DriverError(f"unknown gains {unknown}; known: {sorted(GAIN_REGISTERS)}")
        for key, value in gains.items():
            self.set_register(cmd_type, name, GAIN_REGISTERS[key], value)

    def torque(self, cmd_type: str, name: str, enable: bool) -> None:
        """``torque_enable``: servos on (holding where they are) or off (limp)."""
        self.sim.set_torque(enable, self.motors(cmd_type, name))

    def reboot(self, cmd_type: str, name: str, enable: bool) -> None:
        """``reboot_motors``: a reboot clears errors and leaves the torque as ``enable`` says."""
        self.sim.set_torque(enable, self.motors(cmd_type, name))

    # --- commands -----------------------------------------------------------------------
    def command_group(self, name: str, commands: Sequence[float]) -> None:
        """``commands/joint_group``: one command per motor of the group, in group order."""
        motors = self.motors(GROUP, name)
        if len(commands) != len(motors):
            raise DriverError(
                f"group {name!r} takes {len(motors)} commands {list(motors)}, got {len(commands)}"
            )
        values = dict(zip(motors, map(float, commands), strict=True))
        if GRIPPER in values:
            self.command_single(GRIPPER, values.pop(GRIPPER))
        if len(values) == len(self.arm_joints):
            self.sim.set_arm_targets(np.array([values[j] for j in self.arm_joints]))
        else:
            for joint, value in values.items():
                self.sim.set_joint_target(joint, value)

    def command_single(self, name: str, command: float) -> None:
        """``commands/joint_single``: one motor's command in its operating mode's unit."""
        self.motors(SINGLE, name)
        if not np.isfinite(command):
            raise DriverError(f"command for {name} is not finite ({command})")
        if name != GRIPPER:
            self.sim.set_joint_target(name, command)
            return
        mode = self._motors[GRIPPER].mode
        if mode == "pwm":
            self.sim.set_gripper(command, GripperMode.PWM)
        elif mode == "linear_position":
            angle = self.sim.config.linkage.angle_rad(command / 2.0)
            self.sim.set_gripper(angle, GripperMode.POSITION)
        else:
            self.sim.set_gripper(command, GripperMode.POSITION)

    def command_trajectory(
        self, cmd_type: str, name: str, points: Sequence[tuple[float, Sequence[float]]]
    ) -> None:
        """``commands/joint_trajectory``: ``(time_from_start_s, positions)`` points from now.

        The first point is where the trajectory starts (not commanded); each later one is
        commanded at its time by :meth:`update`. Position modes only, like xs_sdk.
        """
        motors = self.motors(cmd_type, name)
        if self._trajectory:
            raise DriverError("a trajectory is still running; wait until it ends")
        if len(points) < 2:
            raise DriverError(f"a trajectory needs at least 2 points, got {len(points)}")
        if any("position" not in self._motors[m].mode for m in motors):
            raise DriverError(f"{name} must run a position mode to follow a trajectory")
        if any(len(positions) != len(motors) for _, positions in points):
            raise DriverError(f"every trajectory point needs {len(motors)} positions {motors}")
        now = self.sim.time_s
        self._trajectory = [
            (now + t, cmd_type, name, [float(p) for p in positions]) for t, positions in points[1:]
        ]

    def stop_trajectory(self) -> None:
        """Drop the rest of the running trajectory (e.g. before a reset restarts the clock)."""
        self._trajectory.clear()

    def update(self) -> None:
        """Command the trajectory points that are due (call before each physics step)."""
        while self._trajectory and self._trajectory[0][0] <= self.sim.time_s:
            _, cmd_type, name, positions = self._trajectory.pop(0)
            if cmd_type == GROUP:
                self.command_group(name, positions)
            else:
                self.command_single(name, positions[0])

    # --- internals ----------------------------------------------------------------------
    def _apply_profiles(self, motors: Sequence[str]) -> None:
        for motor in motors:
            if motor == GRIPPER:
                continue
            state = self._motors[motor]
            settings = ProfileSettings(
                state.profile_type,
                state.registers.get(PROFILE_VELOCITY, 0),
                state.registers.get(PROFILE_ACCELERATION, 0),
            )
            self.sim.set_profile(settings, [motor])

    def _apply_gripper_mode(self) -> None:
        """Switching modes stops the gripper where it is (zero PWM, or hold the finger)."""
        if self._motors[GRIPPER].mode == "pwm":
            self.sim.set_gripper(0.0, GripperMode.PWM)
        else:
            self.sim.set_gripper(self.sim.gripper_angle_rad(), GripperMode.POSITION)
