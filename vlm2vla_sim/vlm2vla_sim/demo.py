"""``vlm2vla-demo`` (``make demo``): the offline demo, from nothing to a policy driving the sim.

Stages, each cached under ``--cache`` (default ``artifacts/demo/``) and skipped when its output
is there, so a second run starts in seconds:

1. record scripted-expert demonstrations of the task (``vlm2vla-sim-record``, MCAP bags);
2. convert, relabel (offline heuristic) and build a training set (``vlm2vla-train``);
3. save a tiny random Gemma-3 base (``save_tiny_gemma3``) and fit a LoRA adapter on it
   (``vlm2vla-train fit``, the debug recipe for ``--fit-steps`` steps);
4. start sim + policy + controller (``vlm2vla-launch sim model:=... adapter:=...``), publish the
   instruction, print the policy's status lines (state, subtask, plan), record the sim camera
   to a gif, and stop everything when the policy is done, has failed, or ``--timeout-s`` passed.

With ``--model`` (and ``--adapter``) stages 1-3 are skipped and that checkpoint drives the arm.
The tiny model is random and trained for minutes on a CPU: it shows the whole path working, not a
robot that picks the block (see ``vlm2vla-sim-eval`` for its measured success rate).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tqdm import tqdm

DEFAULT_TASK = "pick up the block"
TERMINAL_STATES = {"done", "failed", "stopped"}


def _run(cmd: list[str], what: str) -> None:
    """Run a pipeline command with its own output (and progress bar); raise when it fails."""
    print(f"[demo] {what}: {' '.join(cmd)}", flush=True)
    code = subprocess.call(cmd)
    if code != 0:
        raise RuntimeError(f"{what} failed (exit {code}); see the output above, then run again")


def _done(path: Path) -> bool:
    return path.exists()


def prepare_policy(args: argparse.Namespace) -> tuple[str, str]:
    """Record, build and fit what is not cached yet; return (model dir, adapter dir)."""
    cache = args.cache.resolve()
    bags, store, data = cache / "episodes", cache / "store", cache / "data"
    base, run = cache / "base", cache / "run"
    adapter = run / "adapter"
    stages = tqdm(total=5, desc="demo policy", unit="stage", position=0, leave=True)
    try:
        if not _done(bags / ".complete"):
            record = ["vlm2vla-sim-record", "--task", args.task, "--episodes", str(args.episodes),
                      "--format", "mcap", "--out", str(bags)]  # fmt: skip
            _run(record, "record expert demonstrations")
            (bags / ".complete").write_text(f"{args.episodes}\n")
        stages.update(1)
        if not _done(store / ".complete"):
            _run(["vlm2vla-train", "convert", "--reader", "mcap", "--input", str(bags),
                  "--store", str(store)], "convert")  # fmt: skip
            _run(["vlm2vla-train", "relabel", "--store", str(store), "--labeler", "heuristic"],
                 "relabel (heuristic)")  # fmt: skip
            (store / ".complete").write_text("ok\n")
        stages.update(1)
        if not _done(data / "build_report.json"):
            _run(["vlm2vla-train", "build", "--store", str(store), "--out", str(data),
                  "--eval-fraction", "0.1"], "build the training set")  # fmt: skip
        stages.update(1)
        if not _done(base / "config.json"):
            from vlm2vla_policy.testing.tiny_gemma3 import save_tiny_gemma3

            print(f"[demo] save a tiny random Gemma-3 base to {base}", flush=True)
            save_tiny_gemma3(base)
        stages.update(1)
        if not _done(adapter / "vlm2vla_adapter.json"):
            if run.exists() and not (run / "checkpoints").exists():
                shutil.rmtree(run)  # a run that never reached its first checkpoint
            fit = ["vlm2vla-train", "fit", "--config", "debug", "--model", str(base),
                   "--data", str(data), "--out", str(run), "--max-steps", str(args.fit_steps),
                   "--set", "epochs=1000", "--set", "checkpoint_every_steps=50",
                   "--set", f"learning_rate={args.learning_rate}"]  # fmt: skip
            _run(fit, "fit the demo adapter")
        stages.update(1)
    finally:
        stages.close()
    return str(base), str(adapter)


class DemoWatcher:
    """Watches the policy's status and chunks and the sim camera; publishes the instruction."""

    def __init__(self, node, every_nth_frame: int) -> None:
        from sensor_msgs.msg import Image
        from std_msgs.msg import String

        from vlm2vla_msgs.msg import ActionChunk, PolicyStatus
        from vlm2vla_policy.nodes.qos import LATCHED, RELIABLE, SENSOR, STATUS

        self.node = node
        self.frames: list = []
        self.every_nth_frame = max(1, every_nth_frame)
        self._seen = 0
        self.plan = ""
        self.last_line = ""
        self.final_state = ""
        self.finished = threading.Event()
        self.instruction = ""
        self.instruction_pub = node.create_publisher(String, "/vlm2vla/instruction", LATCHED)
        node.create_subscription(PolicyStatus, "/vlm2vla/status", self.on_status, STATUS)
        node.create_subscription(ActionChunk, "/vlm2vla/action_chunk", self.on_chunk, RELIABLE)
        node.create_subscription(Image, "/camera/image_raw", self.on_image, SENSOR)

    def on_image(self, msg) -> None:
        """Keep every n-th camera frame for the video."""
        from vlm2vla_policy.nodes.image_msgs import image_to_rgb

        self._seen += 1
        if self._seen % self.every_nth_frame == 0:
            self.frames.append(image_to_rgb(msg))

    def on_chunk(self, msg) -> None:
        """Remember the chunk's plan for the status lines; print the chunk."""
        self.plan = msg.motion_plan
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
            f"{subtask!r} plan {self.plan or '-'!r} retries {msg.retries}"
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


def _stop(process: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGINT the launch's process group, then SIGTERM/SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGINT, grace_s), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_for_graph(watcher: DemoWatcher, launch: subprocess.Popen, timeout_s: float) -> None:
    """Until the sim publishes images and the policy node listens for instructions."""
    deadline = time.monotonic() + timeout_s
    with tqdm(desc="waiting for the sim camera and the policy node", unit="s") as bar:
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
            f"no camera image or no policy node after {timeout_s:.0f} s; see the nodes' logs above"
        )


def run_live(args: argparse.Namespace, model: str, adapter: str) -> int:
    """Start the sim graph, drive one instruction, print status lines, write the camera gif."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    cmd = ["vlm2vla-launch", "sim", f"model:={model}", f"adapter:={adapter}",
           f"seed:={args.seed}", f"log_level:={args.log_level}"]  # fmt: skip
    print(f"[demo] start sim + policy + controller: {' '.join(cmd)}", flush=True)
    launch = subprocess.Popen(cmd, start_new_session=True)
    rclpy.init()
    node = rclpy.create_node("vlm2vla_demo")
    watcher = DemoWatcher(node, every_nth_frame=1)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    started = time.monotonic()
    code = 1
    try:
        _wait_for_graph(watcher, launch, args.startup_timeout_s)
        print(f"[demo] instruction: {args.task!r}", flush=True)
        watcher.frames.clear()
        watcher.publish(args.task)
        if not watcher.finished.wait(args.timeout_s):
            print(f"[demo] time limit {args.timeout_s:.0f} s reached; stopping", flush=True)
            watcher.final_state = "timeout"
        code = 0
    except RuntimeError as err:
        print(f"[demo] error: {err}", file=sys.stderr, flush=True)
    finally:
        time.sleep(1.0)  # a last second of camera
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
        _stop(launch)
    video = args.video or args.cache / "demo.gif"
    if watcher.frames:
        import imageio.v2 as imageio

        video.parent.mkdir(parents=True, exist_ok=True)
        imageio.mimsave(video, watcher.frames, duration=1000.0 / args.video_fps, loop=0)
        print(f"[demo] video of the sim camera ({len(watcher.frames)} frames): {video}")
    print(
        f"[demo] policy ended: {watcher.final_state or 'unknown'} after "
        f"{time.monotonic() - started:.0f} s (a tiny random model is not expected to succeed)"
    )
    return code


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``vlm2vla-demo``; every option also reads an environment variable."""
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="vlm2vla-demo",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--task", default=env("TASK", DEFAULT_TASK), help="instruction (TASK)")
    parser.add_argument(
        "--model",
        default=env("MODEL", ""),
        help="Gemma-3 checkpoint to use instead of training the tiny one (MODEL)",
    )
    parser.add_argument("--adapter", default=env("ADAPTER", ""),
                        help="LoRA adapter for --model (ADAPTER)")  # fmt: skip
    parser.add_argument("--episodes", type=int, default=int(env("EPISODES", "20")),
                        help="expert demonstrations to record (EPISODES)")  # fmt: skip
    parser.add_argument("--fit-steps", type=int, default=int(env("FIT_STEPS", "240")),
                        help="optimizer steps of the demo adapter (FIT_STEPS)")  # fmt: skip
    parser.add_argument("--learning-rate", type=float, default=float(env("LR", "2e-3")),
                        help="learning rate of the demo adapter (LR)")  # fmt: skip
    parser.add_argument("--cache", type=Path, default=Path(env("DEMO_CACHE", "artifacts/demo")),
                        help="where every stage's output is kept (DEMO_CACHE)")  # fmt: skip
    parser.add_argument("--video", type=Path, default=Path(env("VIDEO")) if env("VIDEO") else None,
                        help="gif of the sim camera (VIDEO; default <cache>/demo.gif)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=int(env("SEED", "1000")),
                        help="scene seed of the live run (SEED)")  # fmt: skip
    parser.add_argument("--timeout-s", type=float, default=float(env("DEMO_TIMEOUT_S", "180")),
                        help="longest live run, s (DEMO_TIMEOUT_S)")  # fmt: skip
    parser.add_argument("--startup-timeout-s", type=float, default=120.0,
                        help="longest wait for the nodes to come up, s")  # fmt: skip
    parser.add_argument("--video-fps", type=float, default=5.0, help="gif frame rate")
    parser.add_argument("--log-level", default="warn", help="log level of the launched nodes")
    parser.add_argument("--prepare-only", action="store_true", help="build the policy, run nothing")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Prepare (or reuse) the demo policy, then run it live in the simulator."""
    args = build_parser().parse_args(argv)
    started = time.monotonic()
    if args.adapter and not args.model:
        print("vlm2vla-demo: error: ADAPTER needs MODEL (its base checkpoint)", file=sys.stderr)
        return 2
    try:
        if args.model:
            model, adapter = args.model, args.adapter
        else:
            model, adapter = prepare_policy(args)
    except RuntimeError as err:
        print(f"vlm2vla-demo: error: {err}", file=sys.stderr)
        return 1
    print(f"[demo] policy ready in {time.monotonic() - started:.0f} s: {model} + {adapter or '-'}")
    if args.prepare_only:
        return 0
    code = run_live(args, model, adapter)
    print(f"[demo] total {time.monotonic() - started:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
