"""The live part of ``make demo``: sim + policy + controller as processes, one instruction.

It starts ``vlm2vla-launch sim`` (with the policy's ``~/debug_image``), publishes the
instruction, prints the policy's status lines (state, subtask, plan) and each chunk, and records
the annotated camera to a gif. The simulator's ``~/task_state`` (10 Hz) gives the truth: the
end-effector path, the object's position and whether it is lifted. At the end it prints one line,
success or failure with the measured reason (the closest gripper-object distance, where the
gripper closed, how high the object went), and names the gif and the end-effector path plot.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vlm2vla_experiments.evaluation import closest_distance_m, save_path_plot
from vlm2vla_policy.processes import stop_processes

TERMINAL_STATES = {"done", "failed", "stopped"}
DEBUG_IMAGE_TOPIC = "/policy_node/debug_image"  # the annotated sim camera (debug_image:=true)
TASK_STATE_TOPIC = "/widowx_sim/task_state"
TASK_STATE_HZ = 10.0  # the sim's ~/task_state rate in the demo (its default is 2 Hz)
# The annotated frame at the camera's 320 px, not enlarged: 640x480 rgb8 (921,600 bytes) is larger
# than Fast DDS's shared-memory segment, goes over UDP in fragments with best-effort QoS, and most
# frames were lost (7 of 50 in 10 s, against 50 of 50 at 320 px).
DEBUG_IMAGE_WIDTH_PX = 320
CLOSED_FINGER_M = 0.02  # a finger position below this (m) is a closed gripper
OPEN_FINGER_M = 0.03  # above this, open


@dataclass
class LiveSettings:
    """What the live run needs (the demo's command line sets it)."""

    task: str
    model: str
    adapter: str
    verifier: str
    seed: int  # the scene's
    timeout_s: float  # longest wait for the policy to end
    startup_timeout_s: float  # longest wait for the nodes to come up
    video: Path
    plot: Path
    video_fps: float
    log_level: str
    params_file: Path  # written here: the sim's task_state rate


@dataclass
class Outcome:
    """What the simulator's task state says about the run (base frame, m)."""

    object_name: str
    ee_path_m: list[np.ndarray] = field(default_factory=list)
    object_path_m: list[np.ndarray] = field(default_factory=list)
    success: bool = False
    ever_lifted: bool = False
    closed_at_m: list[float] = field(default_factory=list)  # EE-object distance at each closing
    _closed: bool = False  # the gripper is closed now

    def add(self, state: dict) -> None:
        """One ``~/task_state`` message (its JSON as a dict)."""
        ee = np.asarray(state["ee_m"], dtype=float)
        obj = np.asarray(state["objects_m"][self.object_name], dtype=float)
        self.ee_path_m.append(ee)
        self.object_path_m.append(obj)
        self.success = bool(state["success"])
        self.ever_lifted |= bool(state["lifted"])
        finger = float(state["finger_m"])
        if not self._closed and finger < CLOSED_FINGER_M:
            self._closed = True
            self.closed_at_m.append(float(np.linalg.norm(ee - obj)))
        elif self._closed and finger > OPEN_FINGER_M:
            self._closed = False

    def closest_m(self) -> float:
        """The smallest EE-object distance seen (nan before any state)."""
        if not self.ee_path_m:
            return float("nan")
        return closest_distance_m(self.ee_path_m, self.object_path_m)

    def rise_m(self) -> float:
        """How much higher the object ended than it started."""
        if not self.object_path_m:
            return 0.0
        return float(self.object_path_m[-1][2] - self.object_path_m[0][2])

    def verdict(self) -> str:
        """``SUCCESS: ...`` or ``FAILURE: ...`` with the measured reason."""
        name = self.object_name
        if not self.ee_path_m:
            return f"FAILURE: no task state from the simulator ({TASK_STATE_TOPIC})"
        reach = f"closest gripper-{name} distance {self.closest_m() * 100:.1f} cm"
        if self.success:
            return f"SUCCESS: the {name} is lifted {self.rise_m() * 100:.1f} cm ({reach})"
        if not self.closed_at_m:
            grasp = "the gripper never closed"
        else:
            grasp = f"the gripper closed {self.closed_at_m[0] * 100:.1f} cm from it"
        held = f"; it lifted the {name} but lost it" if self.ever_lifted else ""
        return f"FAILURE: the {name} is not lifted; {reach}, {grasp}{held}"


class DemoWatcher:
    """Watches the policy's status, chunks, debug image and the sim's task state."""

    def __init__(self, node, object_name: str) -> None:
        from sensor_msgs.msg import Image
        from std_msgs.msg import String

        from vlm2vla_msgs.msg import ActionChunk, PolicyStatus
        from vlm2vla_policy.nodes.qos import LATCHED, RELIABLE, SENSOR, STATUS

        self.frames: list[np.ndarray] = []
        self.plans: dict[str, str] = {}  # latest motion plan of each subtask
        self.last_line = ""
        self.final_state = ""
        self.finished = threading.Event()
        self.instruction = ""
        self.outcome = Outcome(object_name)
        self.instruction_pub = node.create_publisher(String, "/vlm2vla/instruction", LATCHED)
        node.create_subscription(PolicyStatus, "/vlm2vla/status", self.on_status, STATUS)
        node.create_subscription(ActionChunk, "/vlm2vla/action_chunk", self.on_chunk, RELIABLE)
        node.create_subscription(Image, DEBUG_IMAGE_TOPIC, self.on_image, SENSOR)
        node.create_subscription(String, TASK_STATE_TOPIC, self.on_task_state, LATCHED)

    def on_image(self, msg) -> None:
        """Keep the annotated frame for the gif."""
        from vlm2vla_policy.nodes.image_msgs import image_to_rgb

        self.frames.append(image_to_rgb(msg))

    def on_task_state(self, msg) -> None:
        """Add the simulator's truth to the outcome, from the instruction on."""
        if self.instruction:  # the path starts with the instruction
            self.outcome.add(json.loads(msg.data))

    def on_chunk(self, msg) -> None:
        """Remember the chunk's plan for the status lines; print the chunk."""
        self.plans[msg.subtask] = msg.motion_plan
        steps = len(msg.gripper)
        print(f"[chunk]  {steps} steps for {msg.subtask!r}: {msg.raw_text[:80]}", flush=True)

    def on_status(self, msg) -> None:
        """Print a status line when it changes; note the end of the instruction."""
        if not self.instruction or msg.instruction != self.instruction:
            return
        index = msg.current_index
        subtask = msg.subtasks[index] if 0 <= index < len(msg.subtasks) else "-"
        line = (
            f"[status] {msg.state_name:<10} subtask {index + 1}/{len(msg.subtasks)} "
            f"{subtask!r} plan {self.plans.get(subtask, '-')!r} retries {msg.retries}"
        )
        if msg.last_error and msg.state_name in ("failed", "acting", "planning"):
            line += f" ({msg.last_error[:100]})"
        if line != self.last_line:
            print(line, flush=True)
            self.last_line = line
        if msg.state_name in TERMINAL_STATES:
            self.final_state = msg.state_name
            self.finished.set()

    def publish(self, instruction: str) -> None:
        """Publish the instruction (latched, so a late policy node still gets it)."""
        from std_msgs.msg import String

        self.instruction = instruction
        self.instruction_pub.publish(String(data=instruction))


def _wait_for_graph(watcher: DemoWatcher, launch: subprocess.Popen, timeout_s: float) -> None:
    """Until the sim publishes images and the policy node listens for instructions."""
    from tqdm import tqdm

    deadline = time.monotonic() + timeout_s
    with tqdm(desc="waiting for the policy node's annotated camera", unit="s") as bar:
        while time.monotonic() < deadline:
            ready = watcher.frames and watcher.instruction_pub.get_subscription_count() > 0
            if ready or launch.poll() is not None:
                break
            time.sleep(0.5)
            bar.update(0.5)
    if launch.poll() is not None:
        raise RuntimeError(f"vlm2vla-launch exited early (code {launch.returncode})")
    if not watcher.frames or watcher.instruction_pub.get_subscription_count() == 0:
        raise RuntimeError(
            f"no {DEBUG_IMAGE_TOPIC} image or no policy node after {timeout_s:.0f} s; see the "
            "nodes' logs above"
        )


def _launch(settings: LiveSettings) -> subprocess.Popen:
    settings.params_file.parent.mkdir(parents=True, exist_ok=True)
    settings.params_file.write_text(  # the sim judges the demo's task, at 10 Hz
        "/**/widowx_sim:\n  ros__parameters:\n"
        f"    task: {json.dumps(settings.task)}\n    task_state_hz: {TASK_STATE_HZ}\n"
        "/**/policy_node:\n  ros__parameters:\n"
        f"    debug_image_min_width_px: {DEBUG_IMAGE_WIDTH_PX}\n"
    )
    cmd = ["vlm2vla-launch", "sim", f"model:={settings.model}", f"adapter:={settings.adapter}",
           f"verifier:={settings.verifier}", f"seed:={settings.seed}", "debug_image:=true",
           f"log_level:={settings.log_level}", f"params_file:={settings.params_file}"]  # fmt: skip
    print(f"[demo] start sim + policy + controller: {' '.join(cmd)}", flush=True)
    return subprocess.Popen(cmd, start_new_session=True)


def run_live(settings: LiveSettings) -> int:
    """Drive one instruction in the sim; print the verdict; 0 unless the graph did not run."""
    from vlm2vla_policy.testing.probe import SpinningNode
    from vlm2vla_sim import parse_task

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    launch = _launch(settings)
    spinning = SpinningNode("vlm2vla_demo")
    watcher = DemoWatcher(spinning.node, parse_task(settings.task).object)
    started = time.monotonic()
    code = 1
    try:
        _wait_for_graph(watcher, launch, settings.startup_timeout_s)
        print(f"[demo] instruction: {settings.task!r}", flush=True)
        watcher.frames.clear()
        watcher.publish(settings.task)
        if not watcher.finished.wait(settings.timeout_s):
            print(f"[demo] time limit {settings.timeout_s:.0f} s reached; stopping", flush=True)
            watcher.final_state = "timeout"
        code = 0
    except RuntimeError as err:
        print(f"[demo] error: {err}", file=sys.stderr, flush=True)
    finally:
        time.sleep(1.0)  # a last second of camera and task state
        spinning.close()
        stop_processes([launch], group=True)  # the launch and its nodes
    _save(watcher, settings)
    ended = watcher.final_state or "unknown"
    print(f"[demo] policy {ended} after {time.monotonic() - started:.0f} s")
    print(f"[demo] {watcher.outcome.verdict()}", flush=True)
    return code


def _save(watcher: DemoWatcher, settings: LiveSettings) -> None:
    """Write the gif and the EE path plot; name them."""
    if watcher.frames:
        import imageio.v2 as imageio

        settings.video.parent.mkdir(parents=True, exist_ok=True)
        frames = watcher.frames
        imageio.mimsave(settings.video, frames, duration=1000.0 / settings.video_fps, loop=0)
        print(f"[demo] video of {DEBUG_IMAGE_TOPIC} ({len(frames)} frames): {settings.video}")
    outcome = watcher.outcome
    if outcome.ee_path_m:
        title = f"{settings.task!r}, seed {settings.seed}: {outcome.verdict().split(':')[0]}"
        save_path_plot(outcome.ee_path_m, outcome.object_path_m, settings.plot, title)
        print(f"[demo] end-effector path plot: {settings.plot}")
