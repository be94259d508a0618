"""controller_node: executes one action chunk at a time on the WidowX (an ExecuteChunk server).

A thin adapter over :class:`vlm2vla_policy.robot.ChunkExecutor`: a fixed-rate timer calls
``tick`` with the latest joint state and publishes what it returns on the Interbotix driver's
topics. Owns every safety stop: stale joint states, e-stop (until resume), cancel, limits.

Topics (``<ns>`` = the robot_name parameter):
  sub  /<ns>/joint_states                   sensor_msgs/JointState
  pub  /<ns>/commands/joint_group           interbotix_xs_msgs/JointGroupCommand (name "arm")
  pub  /<ns>/commands/joint_single          interbotix_xs_msgs/JointSingleCommand (name "gripper")
  pub  ~/ee_target                          geometry_msgs/PoseStamped (commanded EE target)
  pub  ~/chunk_markers                      visualization_msgs/MarkerArray (path, gripper events)
Action: ~/execute_chunk (vlm2vla_msgs/ExecuteChunk). A new goal preempts the running one.
Services: ~/estop, ~/resume, ~/home, ~/sleep (std_srvs/Trigger).
"""

import sys
import threading
import time

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger
from visualization_msgs.msg import MarkerArray

from interbotix_xs_msgs.msg import JointGroupCommand, JointSingleCommand
from interbotix_xs_msgs.srv import OperatingModes, RobotInfo
from vlm2vla_msgs.action import ExecuteChunk
from vlm2vla_policy.nodes.chunk_msgs import ChunkMessageError, chunk_from_msg
from vlm2vla_policy.nodes.markers import chunk_markers
from vlm2vla_policy.nodes.params import (
    Param,
    declare_parameters,
    in_range,
    non_negative,
    one_of,
    positive,
)
from vlm2vla_policy.nodes.qos import LATCHED, RELIABLE, SENSOR
from vlm2vla_policy.nodes.spin import run_node
from vlm2vla_policy.robot import (
    BRIDGE_NEUTRAL_JOINTS_RAD,
    WX250S,
    ChunkExecutor,
    ControlStatus,
    ExecutorConfig,
    GripperConfig,
    GripperMode,
    PeriodCommand,
    WorkspaceBounds,
)
from vlm2vla_policy.robot.joint_moves import joint_path, solve_start_pose


def _bounds(value: list[float]) -> str | None:
    return None if len(value) == 2 and value[0] < value[1] else "must be [min, max], min < max"


PARAMS = (
    Param("robot_name", "wx250s", "namespace of the Interbotix driver (its robot_name)"),
    Param("base_frame", "wx250s/base_link", "frame of every published pose and marker"),
    Param("control_rate_hz", 5.0, "control periods per second (Bridge: 5 Hz)", in_range(1, 100)),
    Param("max_step_m", 0.01, "largest EE target move in one control period, m", positive),
    Param("max_action_m", 0.05, "per-axis clip of a chunk step, m (Bridge: 0.05)", positive),
    Param("workspace_x_m", [0.10, 0.45], "EE target x range [min, max], base frame, m", _bounds),
    Param("workspace_y_m", [-0.15, 0.25], "EE target y range [min, max] (+y left), m", _bounds),
    Param("workspace_z_m", [-0.01, 0.25], "EE target z range [min, max], m", _bounds),
    Param("joint_state_timeout_s", 0.5, "stop when joint states are older than this, s", positive),
    Param("gripper_mode", "pwm", "driver gripper mode: pwm (P-loop on the finger) or position",
          one_of("pwm", "position")),
    Param("gripper_pwm_limit", 350.0, "largest gripper PWM sent (Bridge: 350)", positive),
    Param("gripper_position_open", 1.268, "position mode: gripper servo angle for open, rad "
          "(xs_sdk's unit; fingers at 0.037 m through the wx250s linkage)"),
    Param("gripper_position_closed", -0.378, "position mode: gripper servo angle for closed, "
          "rad (fingers at 0.015 m)"),
    Param("profile_velocity_ms", 250, "arm time-based profile velocity set at start, ms",
          in_range(1, 5000)),
    Param("profile_acceleration_ms", 100, "arm time-based profile acceleration set at start, ms",
          in_range(0, 5000)),
    Param("wait_for_driver_s", 10.0, "how long to wait for get_robot_info at start, s",
          non_negative),
    Param("configure_driver", True, "set the arm's profile through set_operating_modes at start"),
    Param("move_to_start", False, "move to start_position_m (gripper down) after start"),
    Param("start_position_m", [0.3, 0.0, 0.15], "start EE position, base frame, m",
          lambda v: None if len(v) == 3 else "must be [x, y, z]"),
    Param("pose_move_speed_rad_s", 0.5, "joint speed of start/home/sleep moves, rad/s",
          in_range(0.05, 3.0)),
    Param("dry_run", False, "compute and publish targets and markers, send no driver command; "
          "without a driver, a virtual arm follows the commands"),
)  # fmt: skip


def executor_config(p: dict) -> ExecutorConfig:
    """The library configuration from the node's parameters."""
    gripper = GripperConfig(
        mode=GripperMode.PWM if p["gripper_mode"] == "pwm" else GripperMode.POSITION,
        pwm_limit=p["gripper_pwm_limit"],
        position_open=p["gripper_position_open"],
        position_closed=p["gripper_position_closed"],
    )
    return ExecutorConfig(
        period_s=1.0 / p["control_rate_hz"],
        max_step_m=p["max_step_m"],
        max_action_m=p["max_action_m"],
        workspace=WorkspaceBounds(
            tuple(p["workspace_x_m"]), tuple(p["workspace_y_m"]), tuple(p["workspace_z_m"])
        ),
        max_joint_state_age_s=p["joint_state_timeout_s"],
        gripper=gripper,
    )


class ControllerNode(Node):
    """ExecuteChunk server driving the Interbotix driver at a fixed rate."""

    def __init__(self) -> None:
        super().__init__("controller_node")
        self.p = declare_parameters(self, PARAMS)
        self.chunks = ChunkExecutor(executor_config(self.p))
        self.period_s = self.chunks.config.period_s
        self.lock = threading.Lock()
        self.joints: np.ndarray | None = None
        self.finger_m: float | None = None
        self.joints_stamp_s = 0.0
        self.pose_path: list[np.ndarray] = []
        self.pose_done = threading.Event()
        self.goal = None
        self.goal_done = threading.Event()
        self.last: PeriodCommand | None = None
        self.last_target = PoseStamped()
        # Dry run with no driver: a virtual arm at Bridge's neutral pose reaches every command.
        self.virtual_arm = self.p["dry_run"]

        ns = "/" + self.p["robot_name"]
        self.group_pub = self.create_publisher(
            JointGroupCommand, f"{ns}/commands/joint_group", RELIABLE
        )
        self.single_pub = self.create_publisher(
            JointSingleCommand, f"{ns}/commands/joint_single", RELIABLE
        )
        self.target_pub = self.create_publisher(PoseStamped, "~/ee_target", RELIABLE)
        self.marker_pub = self.create_publisher(MarkerArray, "~/chunk_markers", LATCHED)
        self.create_subscription(JointState, f"{ns}/joint_states", self.on_joint_states, SENSOR)
        self.info_client = self.create_client(RobotInfo, f"{ns}/get_robot_info")
        self.modes_client = self.create_client(OperatingModes, f"{ns}/set_operating_modes")

        mode = "DRY RUN (no driver commands)" if self.p["dry_run"] else "live"
        self.get_logger().info(f"controller on {ns} at {1 / self.period_s:.1f} Hz, {mode}")

    def serve(self) -> None:
        """Start the control timers, the action server and the services.

        Called after :meth:`connect_driver`, so no chunk is accepted before the driver is ready
        (and nothing runs inside connect_driver's temporary spin).
        """
        control = MutuallyExclusiveCallbackGroup()
        waiting = ReentrantCallbackGroup()
        self.create_timer(self.period_s, self.on_tick, callback_group=control)
        if self.p["gripper_mode"] == "pwm":
            loop_s = self.chunks.config.gripper.loop_period_s
            self.create_timer(loop_s, self.on_gripper_loop, callback_group=control)
        self.action = ActionServer(
            self, ExecuteChunk, "~/execute_chunk",
            execute_callback=self.execute, goal_callback=lambda _: GoalResponse.ACCEPT,
            handle_accepted_callback=self.preempt_and_start,
            cancel_callback=lambda _: CancelResponse.ACCEPT, callback_group=waiting,
        )  # fmt: skip
        self.create_service(Trigger, "~/estop", self.on_estop, callback_group=control)
        self.create_service(Trigger, "~/resume", self.on_resume, callback_group=control)
        self.create_service(Trigger, "~/home", self.on_home, callback_group=waiting)
        self.create_service(Trigger, "~/sleep", self.on_sleep, callback_group=waiting)
        self.get_logger().info("controller ready: serving ~/execute_chunk")

    # --- driver -------------------------------------------------------------------------
    def connect_driver(self) -> bool:
        """Wait for the driver, check its arm joints, and set the arm profile. Call before spin."""
        wait_s = self.p["wait_for_driver_s"]
        if not self.info_client.wait_for_service(timeout_sec=wait_s):
            self.get_logger().error(f"no driver answered get_robot_info within {wait_s} s")
            return False
        info = self._call(self.info_client, RobotInfo.Request(cmd_type="group", name="arm"))
        if info is None or tuple(info.joint_names) != WX250S.joint_names:
            got = None if info is None else list(info.joint_names)
            self.get_logger().error(f"driver arm joints {got} are not {list(WX250S.joint_names)}")
            return False
        if self.p["configure_driver"]:
            request = OperatingModes.Request(
                cmd_type="group", name="arm", mode="position", profile_type="time",
                profile_velocity=self.p["profile_velocity_ms"],
                profile_acceleration=self.p["profile_acceleration_ms"],
            )  # fmt: skip
            if self._call(self.modes_client, request) is None:
                self.get_logger().error("set_operating_modes failed; arm profile unchanged")
                return False
        return True

    def _call(self, client, request):
        if not client.wait_for_service(timeout_sec=self.p["wait_for_driver_s"]):
            return None
        future = client.call_async(request)
        rclpy.spin_until_future_complete(self, future, timeout_sec=self.p["wait_for_driver_s"])
        return future.result()

    def on_joint_states(self, msg: JointState) -> None:
        """Keep the latest arm joints (rad) and finger position (m), stamped on receipt."""
        joints = WX250S.arm_positions(msg.name, msg.position)
        with self.lock:
            self.virtual_arm = False
            if joints is not None:
                self.joints = joints
                self.joints_stamp_s = self._now_s()
            finger = WX250S.finger_position_m(msg.name, msg.position)
            self.finger_m = finger if finger is not None else self.finger_m

    # --- control loop -------------------------------------------------------------------
    def on_tick(self) -> None:
        """One control period: a pose-move waypoint, or the executor's next command."""
        with self.lock:
            if self.pose_path:
                self._send_arm(self.pose_path.pop(0))
                if not self.pose_path:
                    self.pose_done.set()
                return
            if self.virtual_arm:
                if self.joints is None:
                    self.joints = np.array(BRIDGE_NEUTRAL_JOINTS_RAD)
                self.joints_stamp_s = self._now_s()
            out = self.chunks.tick(self.joints, self.joints_stamp_s, self._now_s())
        if out.status is ControlStatus.IDLE:
            return
        if out.joints_rad is not None:
            self._send_arm(out.joints_rad)
        if out.gripper is not None and not self.p["dry_run"]:
            self.single_pub.publish(JointSingleCommand(name="gripper", cmd=out.gripper.value))
        if out.ee_target is not None:
            self._publish_target(out)
        if not out.status.commands:
            self.get_logger().warning(f"stopped and holding: {out.status.value}: {out.reason}")
        self._report(out)

    def on_gripper_loop(self) -> None:
        """PWM mode: the finger-position P-loop (Bridge runs it at 50 Hz)."""
        if self.p["dry_run"] or self.finger_m is None or self.chunks.gripper.is_open is None:
            return
        if self.chunks.estopped:
            return
        effort = self.chunks.gripper.pwm_effort(self.finger_m)
        self.single_pub.publish(JointSingleCommand(name="gripper", cmd=float(effort)))

    def _send_arm(self, joints_rad: np.ndarray) -> None:
        if not self.p["dry_run"]:
            cmd = [float(j) for j in joints_rad]
            self.group_pub.publish(JointGroupCommand(name="arm", cmd=cmd))
        elif self.virtual_arm:
            self.joints = np.asarray(joints_rad, dtype=float)
            self.joints_stamp_s = self._now_s()

    def _publish_target(self, out: PeriodCommand) -> None:
        msg = PoseStamped()
        msg.header.frame_id = self.p["base_frame"]
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = out.ee_position_m
        q = out.ee_quaternion_xyzw
        msg.pose.orientation.x, msg.pose.orientation.y = q[0], q[1]
        msg.pose.orientation.z, msg.pose.orientation.w = q[2], q[3]
        self.target_pub.publish(msg)
        self.last_target = msg

    def _report(self, out: PeriodCommand) -> None:
        goal = self.goal
        if goal is None or not goal.is_active:
            return
        if out.ee_target is not None and out.status.commands:
            goal.publish_feedback(
                ExecuteChunk.Feedback(step_index=out.step_index, ee_target=self.last_target)
            )
        if out.finished:
            self.last = out
            self.goal_done.set()

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds / 1e9

    # --- action -------------------------------------------------------------------------
    def preempt_and_start(self, goal_handle) -> None:
        """A new goal ends the running one (it returns 'preempted'), then starts."""
        previous = self.goal
        if previous is not None and previous.is_active:
            self.goal_done.set()
        goal_handle.execute()

    def execute(self, goal_handle) -> ExecuteChunk.Result:
        """Run one chunk to its end, a stop, a cancel or a preemption."""
        while self.goal is not None and self.goal.is_active and self.goal is not goal_handle:
            time.sleep(0.005)  # the preempted goal's execute is returning
        try:
            steps = chunk_from_msg(goal_handle.request.chunk)
        except ChunkMessageError as err:
            return self._refuse(goal_handle, str(err))
        with self.lock:
            verdict = self.chunks.start(steps, self.joints)
            target = self.chunks.target
        if not verdict.ok:
            return self._refuse(goal_handle, verdict.reason)
        self.get_logger().info(f"executing a chunk of {len(steps)} steps {verdict.reason}")
        stamp = self.get_clock().now().to_msg()
        self.marker_pub.publish(chunk_markers(target[:3, 3], steps, self.p["base_frame"], stamp))
        self.goal_done.clear()
        self.last = None
        self.goal = goal_handle
        while not self.goal_done.wait(timeout=0.01):
            if not rclpy.ok():  # shutting down: stop, so this thread lets the process exit
                with self.lock:
                    self.chunks.cancel("controller shutting down")
                return self._refuse(goal_handle, "controller shutting down")
            if goal_handle.is_cancel_requested:
                with self.lock:
                    out = self.chunks.cancel("cancelled by the client")
                goal_handle.canceled()
                return ExecuteChunk.Result(
                    success=False, steps_executed=out.steps_done, reason=out.reason
                )
        out = self.last
        if out is None:  # preempted by a newer goal
            goal_handle.abort()
            return ExecuteChunk.Result(
                success=False, steps_executed=0, reason="preempted by a new chunk"
            )
        result = ExecuteChunk.Result(
            success=out.succeeded, steps_executed=out.steps_done,
            reason="done" if out.succeeded else f"{out.status.value}: {out.reason}",
        )  # fmt: skip
        if out.succeeded:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return result

    def _refuse(self, goal_handle, reason: str) -> ExecuteChunk.Result:
        self.get_logger().warning(f"chunk refused: {reason}")
        goal_handle.abort()
        return ExecuteChunk.Result(success=False, steps_executed=0, reason=reason)

    # --- services -----------------------------------------------------------------------
    def on_estop(self, _request, response: Trigger.Response) -> Trigger.Response:
        """Latch the e-stop: stop the chunk and command nothing until resume."""
        with self.lock:
            self.pose_path.clear()
            out = self.chunks.estop("e-stop service called; call ~/resume to release")
        self._report(out)
        self.get_logger().error("EMERGENCY STOP latched")
        response.success, response.message = True, "stopped; holding until ~/resume"
        return response

    def on_resume(self, _request, response: Trigger.Response) -> Trigger.Response:
        """Release the e-stop (the target resets to the measured pose)."""
        with self.lock:
            verdict = self.chunks.release_estop(self.joints)
        response.success, response.message = verdict.ok, verdict.reason or "resumed"
        return response

    def on_home(self, _request, response: Trigger.Response) -> Trigger.Response:
        """Slow move to all-zero joints (the Interbotix home pose)."""
        return self._pose_move(np.zeros(WX250S.num_joints), "home", response)

    def on_sleep(self, _request, response: Trigger.Response) -> Trigger.Response:
        """Slow move to the driver's sleep pose."""
        return self._pose_move(np.array(WX250S.sleep_joints_rad), "sleep", response)

    def move_to_start(self) -> bool:
        """Slow move to the start position (gripper down); blocks until done."""
        seed = np.array(BRIDGE_NEUTRAL_JOINTS_RAD)
        solution = solve_start_pose(tuple(self.p["start_position_m"]), seed)
        if not solution.ok:
            self.get_logger().error(f"start pose unreachable: {solution.reason}")
            return False
        return self._pose_move(solution.joints_rad, "start", Trigger.Response()).success

    def _pose_move(self, goal_rad: np.ndarray, name: str, response: Trigger.Response):
        with self.lock:
            if self.chunks.estopped or self.chunks.active or self.joints is None:
                why = (
                    "e-stop latched"
                    if self.chunks.estopped
                    else ("a chunk is executing" if self.chunks.active else "no joint states yet")
                )
                response.success, response.message = False, f"cannot move to {name}: {why}"
                return response
            speed = self.p["pose_move_speed_rad_s"]
            self.pose_path = joint_path(self.joints, goal_rad, speed, self.period_s)
            self.pose_done.clear()
            duration = len(self.pose_path) * self.period_s
        finished = self.pose_done.wait(timeout=duration + 5.0)
        with self.lock:
            reset = self.chunks.reset_target(self.joints)
        response.success = finished and reset.ok
        response.message = (
            f"at {name}" if response.success else f"{name} move failed: {reset.reason}"
        )
        return response


def start(node: ControllerNode) -> bool:
    """Connect to the driver (unless in dry run), serve, and begin the start-pose move."""
    if not node.p["dry_run"] and not node.connect_driver():
        node.get_logger().error("driver not ready; exiting (use dry_run:=true to run without)")
        return False
    node.serve()
    if node.p["move_to_start"]:
        threading.Thread(target=node.move_to_start, daemon=True).start()
    return True


def main(args: list[str] | None = None) -> int:
    """Entry point of the controller_node executable; returns the exit code."""
    return run_node("controller_node", ControllerNode, start, args=args)


if __name__ == "__main__":
    sys.exit(main())
