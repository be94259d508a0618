"""fake_xs_driver: a minimal stand-in for the Interbotix ``xs_sdk`` driver, for tests.

Speaks the driver interface of a wx250s under the ``robot_name`` namespace: publishes
``joint_states`` (arm joints in rad, fingers in m, efforts in mA: zeros, or ``effort_ma`` on the
arm joint ``effort_joint`` once ``effort_after_commands`` arm commands came, to play an arm pushing
against something) at ``rate_hz``, applies ``JointGroupCommand`` ("arm") instantly, moves the
fingers under a PWM (sign = direction) or position gripper command, and serves
``get_robot_info``, ``set_operating_modes``, ``set_motor_registers``, ``get_motor_registers`` and
``torque_enable``. Once ``fault_after_commands`` arm commands came, ``fault`` corrupts every
joint_states message (``not_a_number``: every position NaN; ``short``: one position fewer than
names, the last left out), to play a broken driver. No physics: for control-loop tests only; the
MuJoCo simulator (vlm2vla_sim) is the realistic stand-in.
"""

import math
import sys

import numpy as np
import rclpy
from rclpy.node import Node
from sensor_msgs.msg import JointState

from interbotix_xs_msgs.msg import JointGroupCommand, JointSingleCommand
from interbotix_xs_msgs.srv import OperatingModes, RegisterValues, RobotInfo, TorqueEnable
from vlm2vla_policy.nodes.params import Param, declare_parameters, positive
from vlm2vla_policy.nodes.qos import RELIABLE
from vlm2vla_policy.robot import BRIDGE_NEUTRAL_JOINTS_RAD, WX250S

FINGER_SPEED_M_S = 0.05  # finger travel speed under full PWM, m/s
# What the fault parameter may say (not "nan": ROS reads -p fault:=nan as a float).
FAULTS = ("", "not_a_number", "short")

PARAMS = (
    Param("robot_name", "wx250s", "namespace of the driver interface, in the node's"),
    Param("rate_hz", 50.0, "joint_states publishing rate, Hz", positive),
    Param("initial_joints", list(BRIDGE_NEUTRAL_JOINTS_RAD), "arm joints at start, rad"),
    Param("gripper_mode", "pwm", "how to read gripper commands: pwm or position"),
    Param("effort_joint", "", "arm joint whose effort is effort_ma; empty: every effort is 0"),
    Param("effort_ma", 0.0, "effort reported for effort_joint, mA"),
    Param("effort_after_commands", 0, "arm commands before effort_joint reports effort_ma"),
    Param(
        "fault", "", "joint_states corruption: '' none, 'not_a_number' or 'short'",
        lambda v: None if v in FAULTS else f"must be one of {FAULTS}",
    ),
    Param("fault_after_commands", 0, "arm commands before the fault starts"),
)  # fmt: skip


class FakeDriver(Node):
    """The driver interface with instant arm motion."""

    def __init__(self) -> None:
        super().__init__("xs_sdk")
        p = declare_parameters(self, PARAMS)
        self.joints = np.array(p["initial_joints"], dtype=float)
        self.finger_m = WX250S.finger_open_m
        self.pwm = 0.0
        self.gripper_mode = p["gripper_mode"]
        self.effort_joint = p["effort_joint"]
        self.effort_ma = p["effort_ma"]
        self.effort_after_commands = p["effort_after_commands"]
        self.fault = p["fault"]
        self.fault_after_commands = p["fault_after_commands"]
        self.arm_commands = 0
        self.registers: dict[str, int] = {}
        ns = p["robot_name"]  # relative: in the node's namespace
        self.pub = self.create_publisher(JointState, f"{ns}/joint_states", RELIABLE)
        self.create_subscription(JointGroupCommand, f"{ns}/commands/joint_group", self.on_group, 10)
        self.create_subscription(
            JointSingleCommand, f"{ns}/commands/joint_single", self.on_single, 10
        )
        self.create_service(RobotInfo, f"{ns}/get_robot_info", self.on_info)
        self.create_service(OperatingModes, f"{ns}/set_operating_modes", self.on_modes)
        self.create_service(RegisterValues, f"{ns}/set_motor_registers", self.on_set_register)
        self.create_service(RegisterValues, f"{ns}/get_motor_registers", self.on_get_register)
        self.create_service(TorqueEnable, f"{ns}/torque_enable", lambda _req, res: res)
        self.period_s = 1.0 / p["rate_hz"]
        self.create_timer(self.period_s, self.publish_state)

    def on_group(self, msg: JointGroupCommand) -> None:
        if msg.name == "arm" and len(msg.cmd) == WX250S.num_joints:
            self.joints = np.array(msg.cmd, dtype=float)
            self.arm_commands += 1

    def on_single(self, msg: JointSingleCommand) -> None:
        if msg.name != "gripper":
            return
        if self.gripper_mode == "pwm":
            self.pwm = msg.cmd
        else:
            self.finger_m = float(np.clip(msg.cmd, WX250S.finger_closed_m, WX250S.finger_open_m))

    def publish_state(self) -> None:
        if self.gripper_mode == "pwm" and self.pwm:
            step = FINGER_SPEED_M_S * self.period_s * np.sign(self.pwm)
            self.finger_m = float(
                np.clip(self.finger_m + step, WX250S.finger_closed_m, WX250S.finger_open_m)
            )
        msg = JointState()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.name = [*WX250S.joint_names, "gripper", "left_finger", "right_finger"]
        msg.position = [*map(float, self.joints), 0.0, self.finger_m, -self.finger_m]
        msg.effort = [0.0] * len(msg.name)
        if self.effort_joint in msg.name and self.arm_commands >= self.effort_after_commands:
            msg.effort[msg.name.index(self.effort_joint)] = self.effort_ma
        if self.fault and self.arm_commands >= self.fault_after_commands:
            if self.fault == "not_a_number":
                msg.position = [math.nan] * len(msg.name)
            else:  # short
                msg.position = msg.position[:-1]
        self.pub.publish(msg)

    def on_info(self, request: RobotInfo.Request, response: RobotInfo.Response):
        if request.name == "arm":
            response.mode, response.profile_type = "position", "time"
            response.joint_names = list(WX250S.joint_names)
            response.joint_ids = list(range(1, WX250S.num_joints + 1))
            response.joint_lower_limits = list(WX250S.lower_limits_rad)
            response.joint_upper_limits = list(WX250S.upper_limits_rad)
            response.joint_velocity_limits = list(WX250S.velocity_limits_rad_s)
            response.joint_sleep_positions = list(WX250S.sleep_joints_rad)
            response.joint_state_indices = list(range(WX250S.num_joints))
            response.num_joints = WX250S.num_joints
            response.name = [request.name]
        return response

    def on_modes(self, request: OperatingModes.Request, response):
        self.registers["Profile_Velocity"] = request.profile_velocity
        self.registers["Profile_Acceleration"] = request.profile_acceleration
        self.get_logger().info(
            f"operating mode {request.mode}/{request.profile_type} for {request.name}: "
            f"{request.profile_velocity} ms / {request.profile_acceleration} ms"
        )
        return response

    def on_set_register(self, request: RegisterValues.Request, response):
        self.registers[request.reg] = request.value
        return response

    def on_get_register(self, request: RegisterValues.Request, response):
        response.values = [self.registers.get(request.reg, 0)] * WX250S.num_joints
        return response


def main(args: list[str] | None = None) -> int:
    """Entry point of the fake_xs_driver executable."""
    rclpy.init(args=args)
    node = FakeDriver()
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
