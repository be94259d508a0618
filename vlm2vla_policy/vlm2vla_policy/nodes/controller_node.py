"""controller_node: executes one action chunk at a time on the WidowX (an ExecuteChunk server).

A thin adapter over :class:`vlm2vla_policy.robot.ChunkExecutor`: a fixed-rate timer calls
``tick`` with the latest joint state and publishes what it returns on the Interbotix driver's
topics. Owns every safety stop: stale joint states, e-stop (until resume), cancel, the producer's
lease, a joint's effort over its limit (:class:`vlm2vla_policy.robot.EffortGuard` on the
joint_states efforts), limits on a chunk's length. With ``move_to_start`` it first moves the arm to
the start pose (Bridge's evaluation start), once the first joint states have come. Start, home
and sleep moves run closed loop (:class:`vlm2vla_policy.robot.PoseMove`): fresh joint states
before and during the move, the chunks' limit and speed checks, success only with the arm measured
at the pose. The PWM gripper loop publishes only on a fresh finger reading.

Topics (``<ns>`` = the robot_name parameter, relative: /arm1/<ns>/... under ``__ns:=/arm1``):
  sub  <ns>/joint_states                    sensor_msgs/JointState
  sub  ~/chunk_steps                        vlm2vla_msgs/ChunkSteps (streamed steps, lease;
                                            reliable, volatile, keep last 1000: qos.STEPS)
  pub  <ns>/commands/joint_group            interbotix_xs_msgs/JointGroupCommand (name "arm")
  pub  <ns>/commands/joint_single           interbotix_xs_msgs/JointSingleCommand (name "gripper")
  pub  ~/ee_target                          geometry_msgs/PoseStamped (commanded EE target)
  pub  ~/chunk_markers                      visualization_msgs/MarkerArray (path, gripper events)
Action: ~/execute_chunk (vlm2vla_msgs/ExecuteChunk). One goal at a time: a new goal aborts the
running one (ros2/examples server_single_goal). Every goal is leased (``lease_timeout_s``): its
producer renews the lease with ChunkSteps on ~/chunk_steps (empty ones are heartbeats), and a
streamed goal (``streaming``) gets its later steps there too. Lease lapse, e-stop, cancel,
preemption and shutdown end the goal at once; the arm then holds.
Services: ~/estop, ~/resume, ~/home, ~/sleep (std_srvs/Trigger).
"""

import math
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger
from visualization_msgs.msg import MarkerArray

from interbotix_xs_msgs.msg import JointGroupCommand, JointSingleCommand
from interbotix_xs_msgs.srv import OperatingModes, RobotInfo
from vlm2vla_msgs.action import ExecuteChunk
from vlm2vla_msgs.msg import ChunkSteps
from vlm2vla_policy.nodes.chunk_msgs import (
    ChunkMessageError,
    chunk_from_msg,
    chunk_steps_from_msg,
)
from vlm2vla_policy.nodes.controller_config import (
    PARAMS,
    effort_guard_config,
    executor_config,
    pose_move_config,
)
from vlm2vla_policy.nodes.markers import chunk_markers
from vlm2vla_policy.nodes.params import declare_parameters
from vlm2vla_policy.nodes.publisher_watch import watch_publishers
from vlm2vla_policy.nodes.qos import LATCHED, RELIABLE, SENSOR, STEPS
from vlm2vla_policy.nodes.spin import run_node
from vlm2vla_policy.robot import (
    BRIDGE_NEUTRAL_JOINTS_RAD,
    WX250S,
    ChunkExecutor,
    ControlStatus,
    EffortGuard,
    PeriodCommand,
    PoseMove,
)
from vlm2vla_policy.robot.joint_moves import solve_start_pose
from vlm2vla_policy.robot.lease import Lease
from vlm2vla_policy.robot.safety import check_age

# How long ChunkSteps for a goal that is not accepted yet are kept for it, s (acceptance takes
# milliseconds; this only bounds what messages for unknown goals can hold).
EARLY_KEEP_S = 5.0
ENDED_KEPT = 64  # ended goal ids remembered, so their late heartbeats are not kept as early
JOINTS_HINT = (
    "is the driver (xs_sdk, xs_sdk_sim or vlm2vla_sim) running under this robot_name and namespace?"
)


@dataclass(eq=False)
class GoalState:
    """One ExecuteChunk goal: its handle, its producer's lease, its steps and how it ended.

    ``done`` is set exactly once, by whoever ends the goal (the control tick, a cancel, the lease,
    the e-stop, a newer goal, shutdown), after ``result`` is set and the handle is terminal.
    """

    handle: ServerGoalHandle
    lease: Lease  # renewed by every ChunkSteps for this goal (time.monotonic(), s)
    start_m: np.ndarray  # EE target position when the chunk started, base frame, m (markers)
    steps: np.ndarray  # (N, 4) steps received so far (markers)
    done: threading.Event = field(default_factory=threading.Event)
    result: ExecuteChunk.Result | None = None

    @property
    def uuid(self) -> bytes:
        """The goal id's 16 bytes (as ChunkSteps.goal_id carries them)."""
        return bytes(self.handle.goal_id.uuid)


class ControllerNode(Node):
    """ExecuteChunk server driving the Interbotix driver at a fixed rate."""

    def __init__(self) -> None:
        super().__init__("controller_node")
        self.p = declare_parameters(self, PARAMS)
        self.chunks = ChunkExecutor(executor_config(self.p))
        self.period_s = self.chunks.config.period_s
        self.effort = EffortGuard(effort_guard_config(self.p))
        self.effort_missing = False  # a joint_states message without efforts was reported
        self.lock = threading.Lock()
        self.joints: np.ndarray | None = None
        self.joints_ready = threading.Event()  # set once arm joints are known (start move)
        self.finger_m: float | None = None
        self.finger_stamp_s = 0.0  # when finger_m was received (node clock, s)
        self.gripper_stale = False  # the PWM loop is paused on a stale finger reading
        self.joints_stamp_s = 0.0
        self.pose_config = pose_move_config(self.p)
        self.pose: PoseMove | None = None  # the running start/home/sleep move
        self.pose_done = threading.Event()  # set when the running pose move ends
        self.goal: GoalState | None = None  # the running goal (its chunk is in the executor)
        self.goals: dict[bytes, GoalState] = {}  # every goal whose execute has not returned
        self.ended: deque[bytes] = deque(maxlen=ENDED_KEPT)  # ids of the latest ended goals
        # ChunkSteps that came before their goal was accepted here: (receipt time, message).
        self.early: dict[bytes, list[tuple[float, ChunkSteps]]] = {}
        self.last_target = PoseStamped()
        # Dry run with no driver: a virtual arm at Bridge's neutral pose reaches every command.
        self.virtual_arm = self.p["dry_run"]

        ns = self.p["robot_name"]  # relative: in the node's namespace
        self.group_pub = self.create_publisher(
            JointGroupCommand, f"{ns}/commands/joint_group", RELIABLE
        )
        self.single_pub = self.create_publisher(
            JointSingleCommand, f"{ns}/commands/joint_single", RELIABLE
        )
        self.target_pub = self.create_publisher(PoseStamped, "~/ee_target", RELIABLE)
        self.marker_pub = self.create_publisher(MarkerArray, "~/chunk_markers", LATCHED)
        joints = self.create_subscription(
            JointState, f"{ns}/joint_states", self.on_joint_states, SENSOR
        )
        if not self.p["dry_run"]:  # a dry run without a driver moves a virtual arm instead
            watch_publishers(self, joints, "joint states", JOINTS_HINT)
        self.info_client = self.create_client(RobotInfo, f"{ns}/get_robot_info")
        self.modes_client = self.create_client(OperatingModes, f"{ns}/set_operating_modes")

        mode = "DRY RUN (no driver commands)" if self.p["dry_run"] else "live"
        driver = self.resolve_topic_name(ns)
        self.get_logger().info(f"controller on {driver} at {1 / self.period_s:.1f} Hz, {mode}")

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
        # In order, one at a time (a first_index gap stops the chunk), beside the control tick.
        self.create_subscription(
            ChunkSteps, "~/chunk_steps", self.on_chunk_steps, STEPS,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )  # fmt: skip
        self.action = ActionServer(
            self, ExecuteChunk, "~/execute_chunk",
            execute_callback=self.execute, goal_callback=lambda _: GoalResponse.ACCEPT,
            handle_accepted_callback=self.on_goal_accepted,
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
        """Keep the latest arm joints (rad), finger position (m) and efforts (mA), on receipt."""
        joints = WX250S.arm_positions(msg.name, msg.position)
        with self.lock:
            self.virtual_arm = False
            now_s = self._now_s()
            if joints is not None:
                self.joints = joints
                self.joints_stamp_s = now_s
                self.joints_ready.set()
            finger = WX250S.finger_position_m(msg.name, msg.position)
            if finger is not None and math.isfinite(finger):
                self.finger_m = finger
                self.finger_stamp_s = now_s
            measured = self.effort.observe(msg.name, msg.effort, now_s)
        if not measured and not self.effort_missing:
            self.effort_missing = True
            self.get_logger().warning(
                "joint_states carry no effort for every arm joint: the effort guard cannot check "
                "this driver (effort_limits_ma:=[] turns the guard off)"
            )

    # --- control loop -------------------------------------------------------------------
    def on_tick(self) -> None:
        """One control period: the pose move's next period, or the executor's next command.

        The running goal's cancel request and lease are checked first, so no command follows a
        cancel or a lapsed lease. Commands are published under the lock: a goal that ends in
        another callback (preemption, lapse) cannot have a command of its chunk sent after it.
        """
        with self.lock:
            if self.virtual_arm:
                if self.joints is None:
                    self.joints = np.array(BRIDGE_NEUTRAL_JOINTS_RAD)
                    self.joints_ready.set()
                self.joints_stamp_s = self._now_s()
            if self.pose is not None:
                self._pose_tick(self.pose)
                return
            out = self._stop_requested() or self.chunks.tick(
                self.joints, self.joints_stamp_s, self._now_s()
            )
            if out.joints_rad is None and not out.finished:
                return  # idle, e-stopped, or waiting for streamed steps: hold
            if out.joints_rad is not None:
                self._send_arm(out.joints_rad)
            if out.gripper is not None and not self.p["dry_run"]:
                self.single_pub.publish(JointSingleCommand(name="gripper", cmd=out.gripper.value))
            if out.ee_target is not None:
                self._publish_target(out)
            self._report(out)

    def _stop_requested(self) -> PeriodCommand | None:
        """The running goal's final output when it must stop now, else None.

        It stops when cancelled, when its lease lapsed, and when a joint's effort stayed over
        its limit (the effort guard).
        """
        goal = self.goal
        if goal is None:
            return None
        if goal.handle.is_cancel_requested:
            return self.chunks.cancel("cancelled by the client")
        now_s = time.monotonic()
        if goal.lease.lapsed(now_s):
            return self.chunks.cancel(goal.lease.reason(now_s), ControlStatus.LEASE_LAPSED)
        effort = self.effort.check()
        if not effort.ok:
            return self.chunks.cancel(effort.reason, effort.status)
        return None

    def _pose_tick(self, move: PoseMove) -> None:
        """One period of the running pose move: its waypoint, a hold or its end (lock held).

        The effort guard does not stop it: ~/home and ~/sleep are how an arm pushing against
        something is moved away (docs/robot.md §7).
        """
        step = move.tick(self.joints, self.joints_stamp_s, self._now_s())
        if step.joints_rad is not None:
            self._send_arm(step.joints_rad)
        if step.finished:
            self._end_pose(move)

    def _end_pose(self, move: PoseMove) -> None:
        """``move`` has ended (its ``result`` is set; lock held): no more of its waypoints."""
        if self.pose is move:
            self.pose = None
            self.pose_done.set()

    def on_gripper_loop(self) -> None:
        """PWM mode: the finger-position P-loop (Bridge runs it at 50 Hz), on fresh readings only.

        A finger reading older than joint_state_timeout_s (a dead or hung driver, a NaN time)
        pauses the loop: it publishes nothing until a fresh reading comes.
        """
        if self.p["dry_run"] or self.chunks.gripper.is_open is None or self.chunks.estopped:
            return
        with self.lock:
            finger_m, stamp_s = self.finger_m, self.finger_stamp_s
        if finger_m is None:
            return
        age = check_age(
            "finger position", stamp_s, self._now_s(), self.chunks.config.max_joint_state_age_s
        )
        if not age.ok:
            if not self.gripper_stale:
                self.gripper_stale = True
                self.get_logger().warning(f"gripper loop paused, publishing nothing: {age.reason}")
            return
        if self.gripper_stale:
            self.gripper_stale = False
            self.get_logger().info("gripper loop resumed: finger readings are fresh again")
        effort = self.chunks.gripper.pwm_effort(finger_m)
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
        """Feedback to the running goal, and its end when ``out`` finished it (lock held)."""
        goal = self.goal
        if goal is None:
            return
        if out.joints_rad is not None:
            goal.handle.publish_feedback(
                ExecuteChunk.Feedback(step_index=out.step_index, ee_target=self.last_target)
            )
        if out.finished:
            self._end_goal(goal, out)

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds / 1e9

    # --- action -------------------------------------------------------------------------
    def on_goal_accepted(self, goal_handle: ServerGoalHandle) -> None:
        """Abort the running goal (preempted), then start this one's chunk and lease."""
        request = goal_handle.request
        with self.lock:
            if self.goal is not None:
                out = self.chunks.cancel("preempted by a new chunk")
                self._end_goal(self.goal, out, reason="preempted by a new chunk")
            goal = GoalState(
                goal_handle, Lease(self.p["lease_timeout_s"], time.monotonic()),
                start_m=np.zeros(3), steps=np.zeros((0, 4)),
            )  # fmt: skip
            self.goals[goal.uuid] = goal
            goal_handle.execute()
            refused = self._start_chunk(goal, request.chunk, request.streaming)
            if refused:
                self.early.pop(goal.uuid, None)
                self.get_logger().warning(f"chunk refused: {refused}")
                self._finish(goal, ExecuteChunk.Result(success=False, reason=refused))
                return
            self.goal = goal
            for received_s, msg in self.early.pop(goal.uuid, []):
                if self._apply(goal, msg, received_s):
                    break
        mode = "streamed chunk" if request.streaming else "chunk"
        self.get_logger().info(f"executing a {mode} of {len(goal.steps)} steps")
        self._publish_markers(goal)

    def _start_chunk(self, goal: GoalState, chunk, streaming: bool) -> str:
        """Start ``chunk`` in the executor (lock held); "" or why it was refused."""
        # A huge chunk is refused before its steps are converted (no per-step work).
        verdict = self.chunks.check_steps(len(chunk.translations_m))
        if not verdict.ok:
            return verdict.reason
        try:
            steps = chunk_from_msg(chunk, allow_empty=streaming)
        except ChunkMessageError as err:
            return str(err)
        verdict = self.chunks.start(steps, self.joints, streaming=streaming)
        if not verdict.ok:
            return verdict.reason
        goal.start_m = self.chunks.target[:3, 3]
        goal.steps = steps
        if verdict.reason:
            self.get_logger().info(f"chunk accepted: {verdict.reason}")
        return ""

    def on_chunk_steps(self, msg: ChunkSteps) -> None:
        """Renew the lease of the goal the message names; append its steps, close its stream.

        A message may arrive before its goal is accepted here (the client has the acceptance
        before ``on_goal_accepted`` runs): it is kept (``EARLY_KEEP_S``) and applied then.
        Messages for any other goal (ended, e-stopped, preempted, refused) are ignored.
        """
        now_s = time.monotonic()
        uuid = bytes(msg.goal_id.uuid)
        with self.lock:
            goal = self.goal
            if goal is None or uuid != goal.uuid:
                self._keep_early(uuid, msg, now_s)
                return
            if self._apply(goal, msg, now_s):
                return
        self._publish_markers(goal)

    def _keep_early(self, uuid: bytes, msg: ChunkSteps, now_s: float) -> None:
        """Keep a message for a goal not accepted yet; drop those kept too long (lock held)."""
        for old in [k for k, kept in self.early.items() if now_s - kept[0][0] > EARLY_KEEP_S]:
            del self.early[old]
        if uuid in self.ended or uuid in self.goals:
            return  # its goal ended (or was refused): nothing to apply it to
        self.early.setdefault(uuid, []).append((now_s, msg))

    def _apply(self, goal: GoalState, msg: ChunkSteps, now_s: float) -> bool:
        """Renew ``goal``'s lease and apply ``msg`` (lock held); True when that ended the goal."""
        goal.lease.renew(now_s)
        if not msg.translations_m and not msg.gripper and not msg.final:
            return False  # a heartbeat
        out = self._append(goal, msg)
        if out.finished:
            self._end_goal(goal, out)
        return out.finished

    def _append(self, goal: GoalState, msg: ChunkSteps) -> PeriodCommand:
        """Pass a ChunkSteps message on to the executor (lock held); its last output."""
        try:
            steps = chunk_steps_from_msg(msg)
        except ChunkMessageError as err:
            return self.chunks.cancel(f"streamed steps refused: {err}", ControlStatus.INVALID_INPUT)
        out = self.chunks.append(steps, msg.first_index)
        if out.finished:
            return out
        goal.steps = np.vstack([goal.steps, steps])
        if out.reason:
            self.get_logger().info(f"streamed steps accepted: {out.reason}")
        return self.chunks.close(msg.error) if msg.final else out

    def _end_goal(self, goal: GoalState, out: PeriodCommand, reason: str = "") -> None:
        """End ``goal`` with the executor's final output ``out`` (lock held)."""
        if not out.succeeded:
            reason = reason or f"{out.status.value}: {out.reason}"
            self.get_logger().warning(f"chunk ended, holding: {reason}")
        result = ExecuteChunk.Result(
            success=out.succeeded, steps_executed=out.steps_done, reason=reason or "done"
        )
        self._finish(goal, result, cancelled=out.status is ControlStatus.CANCELLED)

    def _finish(
        self, goal: GoalState, result: ExecuteChunk.Result, cancelled: bool = False
    ) -> None:
        """Make ``goal``'s handle terminal with ``result`` and wake its execute (lock held)."""
        if goal.done.is_set():
            return
        goal.result = result
        handle = goal.handle
        if handle.is_active:
            if cancelled and handle.is_cancel_requested:
                handle.canceled()
            elif result.success:
                handle.succeed()
            else:
                handle.abort()
        if self.goal is goal:
            self.goal = None
        self.ended.append(goal.uuid)
        goal.done.set()

    def execute(self, goal_handle: ServerGoalHandle) -> ExecuteChunk.Result:
        """Wait until the goal ends (its ``done`` event) and return its result."""
        uuid = bytes(goal_handle.goal_id.uuid)
        with self.lock:
            goal = self.goals[uuid]
        goal.done.wait()
        with self.lock:
            del self.goals[uuid]
        return goal.result

    def _publish_markers(self, goal: GoalState) -> None:
        stamp = self.get_clock().now().to_msg()
        markers = chunk_markers(goal.start_m, goal.steps, self.p["base_frame"], stamp)
        self.marker_pub.publish(markers)

    def destroy_node(self) -> None:
        """End every goal (the arm holds) so no execute callback outlives the node."""
        with self.lock:
            if self.pose is not None:
                self.pose.fail("controller shutting down")
                self._end_pose(self.pose)
            out = self.chunks.cancel("controller shutting down")
            for goal in list(self.goals.values()):
                self._end_goal(goal, out, reason="controller shutting down")
        super().destroy_node()

    # --- services -----------------------------------------------------------------------
    def on_estop(self, _request, response: Trigger.Response) -> Trigger.Response:
        """Latch the e-stop: end the goal and command nothing until resume and a new goal."""
        with self.lock:
            if self.pose is not None:
                self.pose.fail("e-stop service called", ControlStatus.ESTOPPED)
                self._end_pose(self.pose)
            out = self.chunks.estop("e-stop service called; call ~/resume to release")
            if self.goal is not None:
                self._end_goal(self.goal, out)
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
        """Slow move to the start position (gripper down) once joints are known; blocks."""
        position_m = tuple(self.p["start_position_m"])
        solution = solve_start_pose(position_m, np.array(BRIDGE_NEUTRAL_JOINTS_RAD))
        if not solution.ok:
            self.get_logger().error(f"start pose {position_m} unreachable: {solution.reason}")
            return False
        wait_s = self.p["wait_for_driver_s"]
        if not self.joints_ready.wait(timeout=wait_s):
            self.get_logger().error(f"no start move: no joint states within {wait_s} s")
            return False
        moved = self._pose_move(solution.joints_rad, "start", Trigger.Response())
        log = self.get_logger().info if moved.success else self.get_logger().error
        log(f"{moved.message} (EE at {position_m} m, gripper down)")
        return moved.success

    def _pose_move(self, goal_rad: np.ndarray, name: str, response: Trigger.Response):
        """Run a closed-loop move to ``goal_rad``; blocks until it ends (reached, or failed)."""
        with self.lock:
            move = PoseMove(name, goal_rad, self.chunks.safety, self.period_s, self.pose_config)
            why = self._pose_refusal()
            if why:
                why = f"cannot move to {name}: {why}"
            else:
                why = move.start(self.joints, self.joints_stamp_s, self._now_s()).reason
            if why:
                response.success, response.message = False, why
                self.get_logger().error(response.message)
                return response
            self.pose = move
            self.pose_done = done = threading.Event()
        # Ticks end the move (each waits for a fresh joint state, stale ones end it): this
        # timeout is a backstop only.
        if not done.wait(timeout=2.0 * move.planned_s + 5.0):
            with self.lock:
                move.fail("it did not end in time")
                self._end_pose(move)
        with self.lock:
            step = move.result
            # From the move's goal, not the measured joints: those lag the last command by the
            # driver's report period, so a chunk right after the move started from a pose 2 cm
            # short of the goal (and ended there). After a failure, from where the arm was seen.
            reset = self.chunks.reset_target(goal_rad if step.succeeded else self.joints)
        response.success = step.succeeded and reset.ok
        response.message = step.reason if reset.ok or not step.succeeded else reset.reason
        if not response.success:
            self.get_logger().error(response.message)
        return response

    def _pose_refusal(self) -> str:
        """Why no pose move may start now, or "" (lock held)."""
        if self.chunks.estopped:
            return "e-stop latched"
        if self.chunks.active:
            return "a chunk is executing"
        if self.pose is not None:
            return f"a move to {self.pose.name} is running"
        if self.p["dry_run"] and not self.virtual_arm:
            return "dry run: no driver command is sent, so the arm would not move"
        return ""


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
    return run_node("controller_node", ControllerNode, start, args=args, params=PARAMS)


if __name__ == "__main__":
    sys.exit(main())
