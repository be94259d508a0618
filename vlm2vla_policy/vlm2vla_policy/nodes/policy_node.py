"""policy_node: camera and instruction in, action chunks executed by the controller out.

A thin adapter over :class:`vlm2vla_policy.runtime.episode_loop.EpisodeLoop`: callbacks only
store the latest image or hand an instruction to one worker thread, which runs the loop; the
model is loaded once at start. Knows nothing of joints.

Topics (every name relative: in the node's namespace, /vlm2vla/status without one):
  sub  image (remap it) / image/compressed      sensor_msgs/Image / CompressedImage (sensor QoS)
  sub  vlm2vla/instruction                      std_msgs/String (reliable, transient local;
                                                depth 1000: every one of a burst is counted)
  pub  vlm2vla/status                           vlm2vla_msgs/PolicyStatus (latched)
  pub  vlm2vla/action_chunk                     vlm2vla_msgs/ActionChunk (every decided chunk)
  pub  <controller>/chunk_steps                 vlm2vla_msgs/ChunkSteps (streamed steps, lease)
  pub  ~/debug_image                            sensor_msgs/Image, debug_image:=true only: the
                                                frame annotated (nodes/debug_image.py)
Action server: ~/execute_instruction (vlm2vla_msgs/ExecuteInstruction), one goal at a time: a
new goal aborts the running one.
Action client: the controller's ExecuteChunk (``controller_action`` parameter). With
``streaming`` the goal is sent with the chunk's first step and every later step follows on the
controller's chunk_steps topic the moment it is decoded; for every goal a heartbeat on that topic
renews the controller's lease every ``lease_heartbeat_s`` (if this process dies, the controller
stops within its lease_timeout_s).
Service: ~/stop (std_srvs/Trigger): stop acting (the running chunk is cancelled).

An instruction published before the node started (a latched one, told by its DDS source
timestamp) is ignored unless ``act_on_earlier_instruction`` is set; the status says so. One
longer than ``max_instruction_chars`` is refused, changing nothing, and the status's last_error
says so. Every other instruction counts in the status: received, dropped (replaced by a newer
one before it started) and preempted (stopped by a newer one while it ran); a completion without
a verifier (``verifier:=none``) is "done (not verified)", ``verified`` false.
"""

import math
import sys
import threading
import time
from dataclasses import dataclass, field, replace

import rclpy
from geometry_msgs.msg import Vector3
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String
from std_srvs.srv import Trigger

from vlm2vla_msgs.action import ExecuteChunk, ExecuteInstruction
from vlm2vla_msgs.msg import ActionChunk, ChunkSteps, PolicyStatus
from vlm2vla_policy.nodes.action_client import ThreadSafeActionClient
from vlm2vla_policy.nodes.chunk_msgs import fill_chunk_msg
from vlm2vla_policy.nodes.debug_image import DebugImagePublisher
from vlm2vla_policy.nodes.image_msgs import ImageConversionError, to_rgb
from vlm2vla_policy.nodes.params import ParameterError, declare_parameters
from vlm2vla_policy.nodes.policy_config import PARAMS, loop_config, policy_config, steps_topic
from vlm2vla_policy.nodes.publisher_watch import watch_publishers
from vlm2vla_policy.nodes.qos import INSTRUCTIONS, RELIABLE, SENSOR, STATUS, STEPS
from vlm2vla_policy.nodes.spin import run_node
from vlm2vla_policy.runtime import PolicyRuntimeError, make_policy
from vlm2vla_policy.runtime.chunk_feed import ChunkFeed
from vlm2vla_policy.runtime.episode_loop import (
    ChunkDecision,
    EpisodeLoop,
    LoopResult,
    LoopState,
    LoopStatus,
)

# Relative, like every name of the node: under ``__ns:=/arm1`` they are /arm1/vlm2vla/...
STATUS_TOPIC = "vlm2vla/status"
CHUNK_TOPIC = "vlm2vla/action_chunk"
CAMERA_HINT = (
    "is the camera driver running? remap image (launch argument camera_topic) to its topic"
)


@dataclass
class _Request:
    """An instruction waiting for (or being run by) the worker."""

    instruction: str
    stop: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    result: LoopResult | None = None
    goal_handle: object | None = None  # the ExecuteInstruction goal, when it came as one


class PolicyNode(Node):
    """Runs the VLM2VLA loop for the latest instruction on the latest camera image."""

    def __init__(self) -> None:
        super().__init__("policy_node")
        self.started_ns = time.time_ns()  # wall clock, as DDS source timestamps are
        self.p = declare_parameters(self, PARAMS)
        self.loop_config = loop_config(self.p)
        started = time.monotonic()
        config = policy_config(self.p)
        policy = make_policy(config)
        where = config.model.model if config.backend == "hf" else config.remote.base_url
        adapter = self.p["adapter"] or "no adapter"
        self.get_logger().info(
            f"loaded {where} ({adapter}, backend {config.backend}) in "
            f"{time.monotonic() - started:.1f} s"
        )
        self.lock = threading.Lock()
        self.image_msg = None
        self.image_stamp = 0.0
        self.current: _Request | None = None
        self.pending: _Request | None = None
        self.wakeup = threading.Condition(self.lock)
        self.chunk_goal = None  # the running ExecuteChunk goal's ClientGoalHandle
        self.received = 0  # instructions accepted by submit() since start
        self.dropped = 0  # of those, replaced by a newer one before the worker started them
        self.preempted = 0  # of those, stopped by a newer one while they ran
        self.status_lock = threading.Lock()  # one status message built and published at a time
        self.instruction_goal = None  # the running ExecuteInstruction goal's ServerGoalHandle

        self.status_pub = self.create_publisher(PolicyStatus, STATUS_TOPIC, STATUS)
        self.chunk_pub = self.create_publisher(ActionChunk, CHUNK_TOPIC, RELIABLE)
        if self.p["image_transport"] == "raw":
            camera = self.create_subscription(Image, "image", self.on_image, SENSOR)
        else:
            camera = self.create_subscription(
                CompressedImage, "image/compressed", self.on_image, SENSOR
            )
        watch_publishers(self, camera, "camera images", CAMERA_HINT)
        self.create_subscription(
            String, self.p["instruction_topic"], self.on_instruction_msg, INSTRUCTIONS
        )
        self.steps_pub = self.create_publisher(
            ChunkSteps, steps_topic(self.p["controller_action"]), STEPS
        )
        # The heartbeat has a thread of its own, not an executor timer: its period must hold
        # while the executor is busy (camera images, action responses) on a loaded machine.
        self.closing = threading.Event()
        self.heartbeat = threading.Thread(target=self._heartbeat_loop, daemon=True)
        self.heartbeat.start()
        group = ReentrantCallbackGroup()
        self.controller = ThreadSafeActionClient(
            self, ExecuteChunk, self.p["controller_action"], callback_group=group
        )
        self.action = ActionServer(
            self, ExecuteInstruction, "~/execute_instruction", execute_callback=self.on_goal,
            goal_callback=lambda _: GoalResponse.ACCEPT,
            handle_accepted_callback=self.on_goal_accepted,
            cancel_callback=self.on_goal_cancel, callback_group=group,
        )  # fmt: skip
        self.create_service(Trigger, "~/stop", self.on_stop, callback_group=group)
        # ~/debug_image (debug_image:=true) follows the loop through its execute and on_status.
        self.debug_image = DebugImagePublisher(self, self.p) if self.p["debug_image"] else None
        execute = self.execute
        if self.debug_image:
            execute = self.debug_image.tracker.execute(self.execute)
        self.loop = EpisodeLoop(
            policy, self.camera, execute, self.loop_config,
            on_status=self.on_status, on_chunk=self.on_chunk, image_age=self.image_age,
        )  # fmt: skip
        self.worker = threading.Thread(target=self.work, daemon=True)
        self.worker.start()
        self.publish_status(LoopStatus(instruction=""))

    # --- inputs -------------------------------------------------------------------------
    def on_image(self, msg) -> None:
        """Keep only the latest image (converted when the loop asks for it)."""
        with self.lock:
            self.image_msg = msg
            self.image_stamp = time.monotonic()

    def image_age(self) -> float:
        """Age of the latest image, s (inf before the first)."""
        with self.lock:
            return time.monotonic() - self.image_stamp if self.image_msg is not None else math.inf

    def camera(self):
        """The latest image as RGB and its age (s); (None, inf) when none is usable."""
        with self.lock:
            msg, stamp = self.image_msg, self.image_stamp
        if msg is None:
            return None, float("inf")
        try:
            return to_rgb(msg), time.monotonic() - stamp
        except ImageConversionError as err:
            self.get_logger().error(f"unusable camera image: {err}", throttle_duration_sec=5.0)
            return None, float("inf")

    def on_instruction_msg(self, msg: String, info: dict) -> None:
        """A new instruction preempts the current one; an empty one stops.

        One published before this node started is ignored unless act_on_earlier_instruction.
        """
        text = msg.data.strip()
        published_ns = int(info.get("source_timestamp", 0) or 0)
        if published_ns < self.started_ns and not self.p["act_on_earlier_instruction"]:
            age_s = (self.started_ns - published_ns) / 1e9
            why = (
                f"ignored instruction {text[:80]!r}: published {age_s:.1f} s before policy_node "
                "started (set act_on_earlier_instruction:=true to act on it); publish it again "
                "to act"
            )
            self.get_logger().warning(why)
            self.publish_status(LoopStatus(instruction="", state=LoopState.IDLE, last_error=why))
            return
        if not text:
            self.stop("empty instruction")
            return
        self.submit(text)

    def submit(self, text: str, goal_handle=None) -> _Request | None:
        """Queue ``text`` for the worker, stopping what runs now; None if it is refused."""
        limit = self.p["max_instruction_chars"]
        if len(text) > limit:
            why = (
                f"instruction refused: {len(text)} characters > max_instruction_chars {limit}; "
                "nothing changed (a running instruction runs on)"
            )
            self.get_logger().error(why)
            self.publish_status(replace(self.loop.status, last_error=why))
            return None
        request = _Request(text, goal_handle=goal_handle)
        with self.wakeup:
            self.received += 1
            preempted = self.current is not None and not self.current.stop.is_set()
            if preempted:
                self.current.stop.set()
                self.preempted += 1
            dropped = self.pending
            if dropped is not None:
                dropped.stop.set()
                dropped.done.set()
                self.dropped += 1
            self.pending = request
            self.wakeup.notify()
            counts = self._counts()
        self._cancel_chunk()
        self.get_logger().info(f"instruction: {text!r}")
        if dropped is not None:
            self.get_logger().warning(
                f"instruction {dropped.instruction[:80]!r} dropped before it started: replaced by "
                f"a newer one ({counts})",
                throttle_duration_sec=1.0,
            )
        if dropped is not None or preempted:
            self.publish_status(self.loop.status)
        return request

    def stop(self, why: str) -> None:
        """Stop acting: end the current instruction and cancel its running chunk."""
        with self.lock:
            if self.current is not None:
                self.current.stop.set()
            if self.pending is not None:
                self.pending.stop.set()
                self.pending.done.set()
            self.pending = None
        self._cancel_chunk()
        self.get_logger().info(f"stopping: {why}")

    def on_stop(self, _request, response: Trigger.Response) -> Trigger.Response:
        """The ~/stop service."""
        self.stop("stop service called")
        response.success, response.message = True, "stopped"
        return response

    # --- the worker ---------------------------------------------------------------------
    def work(self) -> None:
        """Run queued instructions one at a time, until shutdown."""
        while rclpy.ok():
            with self.wakeup:
                while self.pending is None and rclpy.ok():
                    self.wakeup.wait(timeout=0.5)
                request, self.pending = self.pending, None
                self.current = request
            if request is None or request.stop.is_set():
                continue
            request.result = self.loop.run(request.instruction, request.stop)
            with self.lock:
                self.current = None
                counts = self._counts()
            self.get_logger().info(f"instruction ended: {request.result.message} ({counts})")
            request.done.set()

    def execute(self, feed: ChunkFeed) -> tuple[bool, str]:
        """Run a chunk on the controller as its steps arrive (the loop's ``execute``).

        The goal goes out with the steps known now (streaming: the first one); each later step
        follows on chunk_steps as soon as it is in the feed, and the final message closes the
        stream. A cancelled feed (stale camera, stop), at any time, cancels the goal; a goal
        that ends early cancels the feed, which stops the decoder.
        """
        if self.p["dry_run"]:
            while not feed.closed and not feed.cancelled:
                feed.wait(feed.count)
            return not feed.cancelled, "dry run: not sent to the controller"
        if not self.controller.wait_for_server(timeout_sec=5.0):
            return False, f"no controller action server at {self.p['controller_action']}"
        steps = feed.steps()
        streaming = not feed.closed
        goal = ExecuteChunk.Goal(chunk=self.chunk_msg(feed, steps), streaming=streaming)
        feedback = self.debug_image.on_feedback if self.debug_image else None
        handle = _wait_future(self.controller.send_goal_async(goal, feedback), 10.0)
        if handle is None or not handle.accepted:
            return False, "the controller did not accept the chunk"
        with self.lock:
            self.chunk_goal = handle
        result = handle.get_result_async()
        result.add_done_callback(lambda _: feed.closed or feed.cancel("the controller ended it"))
        # Whenever the feed is cancelled (during the stream or after it: a stale camera, a stop),
        # the goal is cancelled at once.
        feed.on_cancel(lambda _: result.done() or handle.cancel_goal_async())
        if streaming:
            self._stream_steps(feed, handle, len(steps))
        outcome = _wait_future(result, self.p["chunk_timeout_s"])
        with self.lock:
            self.chunk_goal = None
        if outcome is None:
            handle.cancel_goal_async()
            return False, f"chunk not finished within {self.p['chunk_timeout_s']} s"
        return outcome.result.success, outcome.result.reason

    def _stream_steps(self, feed: ChunkFeed, handle, sent: int) -> None:
        """Publish each new step of ``feed`` for ``handle``'s goal until the feed ends."""
        while True:
            feed.wait(sent)
            if feed.cancelled:
                return
            steps = feed.steps()
            closed = feed.closed
            if len(steps) > sent or closed:
                msg = ChunkSteps(goal_id=handle.goal_id, first_index=sent, final=closed)
                msg.error = feed.error if closed else ""
                self.steps_pub.publish(fill_chunk_msg(msg, steps[sent:], Vector3))
                sent = len(steps)
            if closed:
                return

    def _heartbeat_loop(self) -> None:
        """Every ``lease_heartbeat_s``, renew the controller's lease on the running chunk."""
        while not self.closing.wait(self.p["lease_heartbeat_s"]):
            with self.lock:
                handle = self.chunk_goal
            if handle is not None:
                self.steps_pub.publish(ChunkSteps(goal_id=handle.goal_id))  # empty: a heartbeat

    def _cancel_chunk(self) -> None:
        with self.lock:
            goal = self.chunk_goal
        if goal is not None:
            goal.cancel_goal_async()

    # --- outputs ------------------------------------------------------------------------
    def chunk_msg(self, chunk: ChunkDecision | ChunkFeed, steps, raw_text: str = "") -> ActionChunk:
        """The ActionChunk message of a chunk's context and ``steps`` (base frame, metres)."""
        msg = ActionChunk(
            instruction=chunk.instruction,
            subtask=chunk.subtask,
            subtask_index=max(chunk.subtask_index, 0),
            motion_plan=chunk.plan,
            raw_text=raw_text,
            step_duration_s=self.p["step_duration_s"],
        )
        msg.header.frame_id = self.p["base_frame"]
        msg.header.stamp = self.get_clock().now().to_msg()
        return fill_chunk_msg(msg, steps, Vector3)

    def on_chunk(self, decision: ChunkDecision) -> None:
        """Publish every decided chunk, with the model's raw text, for audit."""
        self.chunk_pub.publish(self.chunk_msg(decision, decision.steps, decision.raw_text))

    def on_status(self, status: LoopStatus) -> None:
        """Publish the status and the instruction goal's feedback."""
        self.publish_status(status)
        if self.debug_image:
            self.debug_image.tracker.on_status(status)
        with self.lock:
            request = self.current
        goal = request.goal_handle if request is not None else None
        if goal is not None and goal.is_active:
            subtask = ""
            if 0 <= status.current_index < len(status.subtasks):
                subtask = status.subtasks[status.current_index]
            goal.publish_feedback(
                ExecuteInstruction.Feedback(
                    state=int(status.state), state_name=status.state.name.lower(),
                    subtask=subtask, subtask_index=status.current_index,
                    motion_plan=status.plan,
                )
            )  # fmt: skip

    def _counts(self) -> str:
        """The instruction counts in words (lock held)."""
        return (
            f"instructions since start: {self.received} received, {self.dropped} dropped before "
            f"they started, {self.preempted} stopped by a newer one"
        )

    def publish_status(self, status: LoopStatus) -> None:
        """PolicyStatus from a loop snapshot and the instruction counts."""
        with self.status_lock:
            with self.lock:
                counts = (self.received, self.dropped, self.preempted)
            self.status_pub.publish(self._status_msg(status, *counts))

    def _status_msg(
        self, status: LoopStatus, received: int, dropped: int, preempted: int
    ) -> PolicyStatus:
        msg = PolicyStatus(
            state=int(status.state),
            state_name=status.state.name.lower(),
            instruction=status.instruction,
            subtasks=list(status.subtasks),
            current_index=status.current_index,
            retries=status.retries,
            total_retries=status.total_retries,
            last_error=status.last_error,
            verified=status.state is LoopState.DONE and self.loop_config.verify,
            instructions_received=received,
            instructions_dropped=dropped,
            instructions_preempted=preempted,
            last_cycle_s=status.last_cycle_s,
            subtasks_s=status.stage_s.get("subtasks", 0.0),
            plan_s=status.stage_s.get("plan", 0.0),
            chunk_s=status.stage_s.get("chunk", 0.0),
            execute_s=status.stage_s.get("execute", 0.0),
            verify_s=status.stage_s.get("verify", 0.0),
            first_step_s=status.stage_s.get("first_step", 0.0),
        )
        msg.header.stamp = self.get_clock().now().to_msg()
        return msg

    def destroy_node(self) -> None:
        """Stop acting (cancel the running chunk) before the node goes away."""
        self.stop("shutting down")
        self.closing.set()
        self.heartbeat.join(timeout=1.0)
        super().destroy_node()

    # --- the instruction action (one goal at a time, as ros2/examples server_single_goal) ---
    def on_goal_accepted(self, goal_handle) -> None:
        """A new goal aborts the running one, then starts."""
        with self.lock:
            previous, self.instruction_goal = self.instruction_goal, goal_handle
        if previous is not None and previous.is_active:
            previous.abort()
        goal_handle.execute()

    def on_goal_cancel(self, goal_handle) -> CancelResponse:
        """Cancelling the instruction stops acting (its running chunk is cancelled)."""
        with self.lock:
            current = (
                self.current if self.current and self.current.goal_handle is goal_handle else None
            )
        if current is not None:
            current.stop.set()
            self._cancel_chunk()
        return CancelResponse.ACCEPT

    def on_goal(self, goal_handle) -> ExecuteInstruction.Result:
        """Run one instruction as an action: feedback per state, cancel = stop."""
        request = self.submit(goal_handle.request.instruction.strip(), goal_handle)
        if request is None:
            goal_handle.abort()
            return ExecuteInstruction.Result(success=False, message="instruction refused")
        if goal_handle.is_cancel_requested:  # cancelled before the worker knew the request
            request.stop.set()
        request.done.wait()  # set by the worker; stop() and shutdown end the request too
        result = request.result
        if not goal_handle.is_active:  # aborted by a newer goal
            return ExecuteInstruction.Result(success=False, message="preempted by a new goal")
        if goal_handle.is_cancel_requested:
            goal_handle.canceled()
            return ExecuteInstruction.Result(success=False, message="cancelled")
        if result is None:
            goal_handle.abort()
            return ExecuteInstruction.Result(success=False, message="preempted")
        if result.success:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return ExecuteInstruction.Result(
            success=result.success, message=result.message, subtasks=list(result.subtasks)
        )


def _wait_future(future, timeout_s: float):
    """The future's result once done (a done-callback sets an event), None after timeout_s."""
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    return future.result() if done.wait(timeout_s) else None


def main(args: list[str] | None = None) -> int:
    """Entry point of the policy_node executable; returns the exit code."""
    fatal = (ParameterError, PolicyRuntimeError)
    return run_node("policy_node", PolicyNode, fatal=fatal, args=args, params=PARAMS)


if __name__ == "__main__":
    sys.exit(main())
