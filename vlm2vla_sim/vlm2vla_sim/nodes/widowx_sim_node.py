"""widowx_sim: the MuJoCo tabletop behind the Interbotix driver interface, plus its camera.

A thin adapter: messages and timers become calls of :class:`vlm2vla_sim.SimDriver` and
:class:`vlm2vla_sim.WidowXSim`. Physics runs in real time (a timer steps it to the wall clock);
the camera renders in its own thread (its GL context lives there) at ``render_hz``; SIGINT or
SIGTERM stops that thread before the node and the ROS context go (``nodes.spin.run_node``).

Interface (``<ns>`` = the robot_name parameter; every name is relative, in the node's namespace),
as the Interbotix ``xs_sdk`` offers it:
  pub  <ns>/joint_states                  sensor_msgs/JointState (arm rad, gripper rad, fingers m)
  sub  <ns>/commands/joint_group          interbotix_xs_msgs/JointGroupCommand ("arm", "all")
  sub  <ns>/commands/joint_single         interbotix_xs_msgs/JointSingleCommand (a joint, "gripper")
  sub  <ns>/commands/joint_trajectory     interbotix_xs_msgs/JointTrajectoryCommand (positions)
  srv  <ns>/get_robot_info, set_operating_modes, set_motor_registers, get_motor_registers,
       set_motor_pid_gains, torque_enable, reboot_motors (interbotix_xs_msgs)
Simulator extras:
  pub  <camera_topic>                     sensor_msgs/Image rgb8, sensor-data QoS
  pub  <beside it>/camera_info            sensor_msgs/CameraInfo of every frame (intrinsics, no
                                          distortion; camera/image_raw -> camera/camera_info)
  pub  ~/task_state                       std_msgs/String JSON, latched: success predicates
  srv  ~/reset                            std_srvs/Trigger: new scene from the seed and task
                                          parameters (change them with set_parameters first)
"""

import json
import sys
import threading
import time

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger

from interbotix_xs_msgs.msg import JointGroupCommand, JointSingleCommand, JointTrajectoryCommand
from interbotix_xs_msgs.srv import (
    MotorGains,
    OperatingModes,
    Reboot,
    RegisterValues,
    RobotInfo,
    TorqueEnable,
)
from vlm2vla_policy.nodes.image_msgs import camera_info_topic, fill_camera_info
from vlm2vla_policy.nodes.params import declare_parameters
from vlm2vla_policy.nodes.qos import LATCHED, RELIABLE, SENSOR
from vlm2vla_policy.nodes.spin import publish_while_ok, run_node
from vlm2vla_sim import DriverError, SimDriver, WidowXSim
from vlm2vla_sim.camera import SimCamera, pinhole
from vlm2vla_sim.driver import GAIN_REGISTERS
from vlm2vla_sim.nodes.sim_config import PARAMS, driver_config, sim_config
from vlm2vla_sim.realtime import RealTimePacer

RENDER_JOIN_TIMEOUT_S = 5.0  # how long shutdown waits for the camera thread, s
DROP_REPORT_S = 0.5  # warn each time physics falls this much further behind the wall clock, s


class WidowXSimNode(Node):
    """The simulated driver and camera."""

    def __init__(self) -> None:
        super().__init__("widowx_sim")
        self.p = declare_parameters(self, PARAMS)
        config = sim_config(self.p)
        camera = config.camera
        self.lock = threading.Lock()
        self.sim = WidowXSim(config)
        self.sim.reset(self.p["seed"], self.p["task"])
        self.driver = SimDriver(self.sim, driver_config(self.p))
        self.pacer = RealTimePacer(self.p["real_time_factor"])
        self.reported_drop_s = 0.0
        ns = self.p["robot_name"]  # relative: in the node's namespace

        physics = MutuallyExclusiveCallbackGroup()
        self.joint_pub = self.create_publisher(JointState, f"{ns}/joint_states", RELIABLE)
        self.image_pub = self.create_publisher(Image, self.p["camera_topic"], SENSOR)
        info_topic = camera_info_topic(self.p["camera_topic"])
        self.info_pub = self.create_publisher(CameraInfo, info_topic, SENSOR)
        self.camera_info = fill_camera_info(CameraInfo(), pinhole(camera))
        self.task_pub = self.create_publisher(String, "~/task_state", LATCHED)
        self.create_subscription(
            JointGroupCommand, f"{ns}/commands/joint_group", self.on_group, RELIABLE
        )
        self.create_subscription(
            JointSingleCommand, f"{ns}/commands/joint_single", self.on_single, RELIABLE
        )
        self.create_subscription(
            JointTrajectoryCommand, f"{ns}/commands/joint_trajectory", self.on_trajectory, RELIABLE
        )
        services = (
            (RobotInfo, "get_robot_info", self.on_info),
            (OperatingModes, "set_operating_modes", self.on_modes),
            (RegisterValues, "set_motor_registers", self.on_set_register),
            (RegisterValues, "get_motor_registers", self.on_get_register),
            (MotorGains, "set_motor_pid_gains", self.on_gains),
            (TorqueEnable, "torque_enable", self.on_torque),
            (Reboot, "reboot_motors", self.on_reboot),
        )
        for srv_type, name, callback in services:
            self.create_service(srv_type, f"{ns}/{name}", callback)
        self.create_service(Trigger, "~/reset", self.on_reset)
        self.create_timer(1.0 / self.p["physics_hz"], self.on_physics, callback_group=physics)
        self.create_timer(1.0 / self.p["joint_state_hz"], self.publish_joint_states)
        self.create_timer(1.0 / self.p["task_state_hz"], self.publish_task_state)

        self.stopping = threading.Event()
        self.render_thread = None
        if self.p["render_hz"] > 0:
            self.render_thread = threading.Thread(target=self.render_loop, daemon=True)
            self.render_thread.start()
        self.get_logger().info(
            f"simulated {self.p['robot_name']} on {self.resolve_topic_name(ns)}: task "
            f"{self.p['task']!r}, seed "
            f"{self.p['seed']}, camera {camera.width}x{camera.height} at {self.p['render_hz']} Hz "
            f"on {self.image_pub.topic_name}"
        )

    # --- physics and state --------------------------------------------------------------
    def on_physics(self) -> None:
        """Step the simulation up to the wall clock."""
        with self.lock:
            self.driver.update()
            self.sim.step(self.pacer.due_s())
        if self.pacer.dropped_s > self.reported_drop_s + DROP_REPORT_S:
            self.reported_drop_s = self.pacer.dropped_s
            self.get_logger().warning(
                f"physics fell {self.pacer.dropped_s:.2f} s behind the wall clock so far; the "
                "machine is too busy (lower real_time_factor, render_hz or the image size)"
            )

    def publish_joint_states(self) -> None:
        """Publish the measured joints: arm rad, gripper rad, fingers m."""
        with self.lock:
            positions = self.driver.joint_state_positions()
        msg = JointState(name=list(self.driver.joint_state_names), position=positions)
        msg.header.stamp = self.get_clock().now().to_msg()
        publish_while_ok(self, self.joint_pub, msg)

    def publish_task_state(self) -> None:
        """Publish the task's success predicates as JSON."""
        with self.lock:
            state = self.sim.task_state().as_dict()
        publish_while_ok(self, self.task_pub, String(data=json.dumps(state)))

    def render_loop(self) -> None:
        """Render and publish camera frames at render_hz (runs in its own thread)."""
        try:
            camera = SimCamera(self.sim.model, self.sim.config.camera)
        except Exception as err:  # the GL stack raises several types when EGL is unusable
            self.get_logger().error(
                f"no camera images: MuJoCo cannot render offscreen ({type(err).__name__}: {err});"
                " install libegl1 and libgl1, or set MUJOCO_GL=osmesa"
            )
            return
        period_s = 1.0 / self.p["render_hz"]
        next_s = time.monotonic()
        try:
            while not self.stopping.is_set():
                with self.lock:
                    camera.capture(self.sim.data)
                stamp = self.get_clock().now().to_msg()
                pixels = camera.pixels()
                msg = Image(height=pixels.shape[0], width=pixels.shape[1], encoding="rgb8")
                msg.step, msg.data = pixels.shape[1] * 3, pixels.tobytes()
                msg.header.stamp, msg.header.frame_id = stamp, self.p["camera_frame_id"]
                self.camera_info.header = msg.header
                if not publish_while_ok(self, self.info_pub, self.camera_info):
                    return
                if not publish_while_ok(self, self.image_pub, msg):
                    return  # the context was shut down: the process is ending
                next_s = max(next_s + period_s, time.monotonic())
                self.stopping.wait(max(0.0, next_s - time.monotonic()))
        finally:
            camera.close()

    # --- driver interface ---------------------------------------------------------------
    def _driver_call(self, what: str, call) -> None:
        try:
            with self.lock:
                call()
        except (DriverError, ValueError) as err:
            self.get_logger().warning(f"{what} refused: {err}")

    def on_group(self, msg: JointGroupCommand) -> None:
        """commands/joint_group: positions of a group."""
        self._driver_call(f"group command {msg.name!r}",
                          lambda: self.driver.command_group(msg.name, list(msg.cmd)))  # fmt: skip

    def on_single(self, msg: JointSingleCommand) -> None:
        """commands/joint_single: one motor."""
        self._driver_call(f"single command {msg.name!r}",
                          lambda: self.driver.command_single(msg.name, msg.cmd))  # fmt: skip

    def on_trajectory(self, msg: JointTrajectoryCommand) -> None:
        """commands/joint_trajectory: positions at their time_from_start."""
        points = [
            (p.time_from_start.sec + p.time_from_start.nanosec * 1e-9, list(p.positions))
            for p in msg.traj.points
        ]
        self._driver_call(
            f"trajectory for {msg.name!r}",
            lambda: self.driver.command_trajectory(msg.cmd_type, msg.name, points),
        )

    def on_info(self, request: RobotInfo.Request, response: RobotInfo.Response):
        """get_robot_info."""
        try:
            with self.lock:
                info = self.driver.robot_info(request.cmd_type, request.name)
        except DriverError as err:
            self.get_logger().warning(f"get_robot_info refused: {err}")
            return response
        for key, value in vars(info).items():
            setattr(response, key, value)
        return response

    def on_modes(self, request: OperatingModes.Request, response):
        """set_operating_modes."""
        self._driver_call("set_operating_modes", lambda: self.driver.set_operating_modes(
            request.cmd_type, request.name, mode=request.mode, profile_type=request.profile_type,
            profile_velocity=request.profile_velocity,
            profile_acceleration=request.profile_acceleration,
        ))  # fmt: skip
        self.get_logger().info(
            f"{request.cmd_type} {request.name}: {request.mode}, {request.profile_type} profile "
            f"{request.profile_velocity} / {request.profile_acceleration}"
        )
        return response

    def on_set_register(self, request: RegisterValues.Request, response):
        """set_motor_registers."""
        self._driver_call("set_motor_registers", lambda: self.driver.set_register(
            request.cmd_type, request.name, request.reg, request.value))  # fmt: skip
        return response

    def on_get_register(self, request: RegisterValues.Request, response):
        """get_motor_registers."""
        try:
            with self.lock:
                response.values = self.driver.get_register(
                    request.cmd_type, request.name, request.reg
                )
        except DriverError as err:
            self.get_logger().warning(f"get_motor_registers refused: {err}")
        return response

    def on_gains(self, request: MotorGains.Request, response):
        """set_motor_pid_gains: written to the gain registers."""
        gains = {key: getattr(request, key) for key in GAIN_REGISTERS}
        self._driver_call("set_motor_pid_gains", lambda: self.driver.set_pid_gains(
            request.cmd_type, request.name, gains))  # fmt: skip
        return response

    def on_torque(self, request: TorqueEnable.Request, response):
        """torque_enable."""
        self._driver_call("torque_enable", lambda: self.driver.torque(
            request.cmd_type, request.name, request.enable))  # fmt: skip
        return response

    def on_reboot(self, request: Reboot.Request, response):
        """reboot_motors."""
        self._driver_call("reboot_motors", lambda: self.driver.reboot(
            request.cmd_type, request.name, request.enable))  # fmt: skip
        return response

    def destroy_node(self) -> None:
        """Stop the camera thread (it frees its GL context), then the node."""
        self.stopping.set()
        if self.render_thread is not None:
            self.render_thread.join(timeout=RENDER_JOIN_TIMEOUT_S)
        super().destroy_node()

    def on_reset(self, _request, response: Trigger.Response) -> Trigger.Response:
        """A new scene from the current seed and task parameters."""
        seed = self.get_parameter("seed").value
        task = self.get_parameter("task").value
        try:
            with self.lock:
                self.driver.stop_trajectory()
                self.sim.reset(seed, task)
        except ValueError as err:
            response.success, response.message = False, f"reset refused: {err}"
            return response
        response.success, response.message = True, f"reset: seed {seed}, task {task!r}"
        self.publish_task_state()
        return response


def main(args: list[str] | None = None) -> int:
    """Entry point of the widowx_sim executable; returns the exit code."""
    return run_node("widowx_sim", WidowXSimNode, threads=2, args=args)


if __name__ == "__main__":
    sys.exit(main())
