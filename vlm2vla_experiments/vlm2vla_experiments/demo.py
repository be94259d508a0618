"""``vlm2vla-demo`` (``make demo``): the offline demo, from nothing to a policy driving the sim.

Stages, each cached under ``--cache`` (default ``artifacts/demo/``) and skipped when its output
is there, so a second run starts in seconds (a cache made with other settings is rebuilt):

1. record scripted-expert demonstrations of the task (``vlm2vla-sim-record``, MCAP bags);
2. convert, relabel with the expert's own subtasks (``--labeler recorded``: reach, grasp, lift)
   and build a training set of subtask, plan and chunk samples (``vlm2vla-train``);
3. make the base: a small random Gemma-3 (``DEMO_SPEC``) whose vision tower is pretrained on
   simulator frames to find the block (:mod:`vlm2vla_experiments.vision_pretrain`, the stand-in for
   SigLIP's pretraining; the language model stays random);
4. fit a LoRA adapter on the language model (``vlm2vla-train fit``, LoRA only, as the paper);
5. start sim + policy + controller (``vlm2vla-launch sim model:=... adapter:=...``), publish the
   instruction, print the policy's status lines (state, subtask, plan), record the policy's
   ``~/debug_image`` (the sim camera annotated with subtask, plan, the chunk's path from the
   gripper and the verdict: :mod:`vlm2vla_policy.overlay`) to a gif, and stop everything when the
   policy is done, has failed, or ``--timeout-s`` passed.

The live run verifies nothing (``--verifier none``): the random base cannot judge a subtask, so
the loop advances after each chunk (reach, grasp, lift). With ``--model`` (and ``--adapter``)
stages 1-4 are skipped and that checkpoint drives the arm. The small model learns where the block
is and heads there, but rarely with the centimetre precision a grasp needs; ``vlm2vla-sim-eval``
measures it against the random baseline (docs/experiments.md has the numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from vlm2vla_policy.processes import stop_processes

if TYPE_CHECKING:  # both import torch: only the stages that train load them
    from vlm2vla_experiments.vision_pretrain import VisionPretrainConfig

DEFAULT_TASK = "pick up the block"
TERMINAL_STATES = {"done", "failed", "stopped"}
DEBUG_IMAGE_TOPIC = "/policy_node/debug_image"  # the annotated sim camera (debug_image:=true)
RECIPE_VERSION = 2
STAGES = ("subtasks", "plan", "chunk")  # the demo runs without a verifier (see the docstring)
FIT_SETTINGS: dict[str, Any] = {
    "epochs": 1000,  # --max-steps ends the run
    "effective_batch_size": 4,
    "max_seq_len": 1024,
    "lora_r": 32,
    "lora_alpha": 64,
    "lora_dropout": 0.1,
    "checkpoint_every_steps": 250,
    "log_every_steps": 10,
}
"""Settings of the demo's LoRA fit on top of the debug recipe (learning rate: --learning-rate)."""


def _run(cmd: list[str], what: str) -> None:
    """Run a pipeline command with its own output (and progress bar); raise when it fails."""
    print(f"[demo] {what}: {' '.join(cmd)}", flush=True)
    code = subprocess.call(cmd)
    if code != 0:
        raise RuntimeError(f"{what} failed (exit {code}); see the output above, then run again")


def _done(path: Path) -> bool:
    return path.exists()


def recipe(args: argparse.Namespace) -> dict[str, Any]:
    """Everything that decides the demo policy; a cache made with another recipe is rebuilt."""
    from vlm2vla_policy.testing.tiny_gemma3 import DEMO_SPEC

    return {
        "version": RECIPE_VERSION,
        "task": args.task,
        "episodes": args.episodes,
        "stages": list(STAGES),
        "base": asdict(DEMO_SPEC),
        "vision": asdict(vision_config(args)),
        "fit_steps": args.fit_steps,
        "learning_rate": args.learning_rate,
        "fit": FIT_SETTINGS,
    }


def _check_cache(cache: Path, wanted: dict[str, Any]) -> None:
    """Empty ``cache`` when it holds a policy made by another recipe; then stamp it."""
    stamp = cache / "recipe.json"
    if cache.exists() and any(cache.iterdir()):
        found = json.loads(stamp.read_text()) if stamp.is_file() else None
        if found == wanted:
            return
        print(f"[demo] {cache} was made by another recipe; rebuilding it", flush=True)
        shutil.rmtree(cache)
    cache.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(wanted, indent=2) + "\n")


def vision_config(args: argparse.Namespace) -> VisionPretrainConfig:
    """The vision pretraining the arguments ask for."""
    from vlm2vla_experiments.vision_pretrain import VisionPretrainConfig

    return VisionPretrainConfig(layouts=args.vision_layouts, steps=args.vision_steps)


def prepare_base(base: Path, vision: VisionPretrainConfig) -> None:
    """A small random Gemma-3 whose vision tower is pretrained on the sim; saved to ``base``."""
    from vlm2vla_experiments.vision_pretrain import pretrain_vision
    from vlm2vla_policy.testing.tiny_gemma3 import DEMO_SPEC, build_tiny_gemma3, save_model
    from vlm2vla_sim.env import WidowXSim

    print("[demo] pretrain the vision tower of a small random Gemma-3 on sim frames", flush=True)
    model, processor = build_tiny_gemma3(DEMO_SPEC)
    sim = WidowXSim()
    try:
        report = pretrain_vision(model, processor, sim, vision)
    finally:
        sim.close()
    print(
        f"[demo] held-out layouts: block patch found in {report['patch_found']:.0%}, table "
        f"position error {report['position_error_m'] * 100:.1f} cm (guessing the mean: "
        f"{report['mean_guess_error_m'] * 100:.1f} cm)",
        flush=True,
    )
    save_model(model, processor, base)
    (base / "vision_pretrain.json").write_text(json.dumps(report, indent=2) + "\n")


def prepare_policy(args: argparse.Namespace) -> tuple[str, str]:
    """Record, build and fit what is not cached yet; return (model dir, adapter dir)."""
    cache = args.cache.resolve()
    _check_cache(cache, recipe(args))
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
            _run(["vlm2vla-train", "relabel", "--store", str(store), "--labeler", "recorded"],
                 "relabel (the expert's own subtasks)")  # fmt: skip
            (store / ".complete").write_text("ok\n")
        stages.update(1)
        if not _done(data / "build_report.json"):
            _run(["vlm2vla-train", "build", "--store", str(store), "--labels", "recorded",
                  "--out", str(data), "--eval-fraction", "0.02", "--stages", *STAGES],
                 "build the training set")  # fmt: skip
        stages.update(1)
        if not _done(base / "config.json"):
            prepare_base(base, vision_config(args))
        stages.update(1)
        if not _done(adapter / "vlm2vla_adapter.json"):
            if run.exists() and not (run / "checkpoints").exists():
                shutil.rmtree(run)  # a run that never reached its first checkpoint
            settings = {**FIT_SETTINGS, "learning_rate": args.learning_rate}
            fit = [
                "vlm2vla-train",
                "fit",
                "--config",
                "debug",
                "--model",
                str(base),
                "--data",
                str(data),
                "--out",
                str(run),
                "--max-steps",
                str(args.fit_steps),
            ]
            for key, value in settings.items():
                fit += ["--set", f"{key}={value}"]
            _run(fit, "fit the demo adapter")
        stages.update(1)
    finally:
        stages.close()
    return str(base), str(adapter)


class DemoWatcher:
    """Watches the policy's status, chunks and debug image; publishes the instruction."""

    def __init__(self, node, every_nth_frame: int) -> None:
        from sensor_msgs.msg import Image
        from std_msgs.msg import String

        from vlm2vla_msgs.msg import ActionChunk, PolicyStatus
        from vlm2vla_policy.nodes.qos import LATCHED, RELIABLE, SENSOR, STATUS

        self.node = node
        self.frames: list = []
        self.every_nth_frame = max(1, every_nth_frame)
        self._seen = 0
        self.plans: dict[str, str] = {}  # latest motion plan of each subtask
        self.last_line = ""
        self.final_state = ""
        self.finished = threading.Event()
        self.instruction = ""
        self.instruction_pub = node.create_publisher(String, "/vlm2vla/instruction", LATCHED)
        node.create_subscription(PolicyStatus, "/vlm2vla/status", self.on_status, STATUS)
        node.create_subscription(ActionChunk, "/vlm2vla/action_chunk", self.on_chunk, RELIABLE)
        node.create_subscription(Image, DEBUG_IMAGE_TOPIC, self.on_image, SENSOR)

    def on_image(self, msg) -> None:
        """Keep every n-th annotated frame for the video."""
        from vlm2vla_policy.nodes.image_msgs import image_to_rgb

        self._seen += 1
        if self._seen % self.every_nth_frame == 0:
            self.frames.append(image_to_rgb(msg))

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


def run_live(args: argparse.Namespace, model: str, adapter: str) -> int:
    """Start the sim graph, drive one instruction, print status lines, write the camera gif."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    cmd = ["vlm2vla-launch", "sim", f"model:={model}", f"adapter:={adapter}",
           f"verifier:={args.verifier}", f"seed:={args.seed}", "debug_image:=true",
           f"log_level:={args.log_level}"]  # fmt: skip
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
        stop_processes([launch], group=True)  # the launch and its nodes
    video = args.video or args.cache / "demo.gif"
    if watcher.frames:
        import imageio.v2 as imageio

        video.parent.mkdir(parents=True, exist_ok=True)
        imageio.mimsave(video, watcher.frames, duration=1000.0 / args.video_fps, loop=0)
        print(f"[demo] video of {DEBUG_IMAGE_TOPIC} ({len(watcher.frames)} frames): {video}")
    print(
        f"[demo] policy ended: {watcher.final_state or 'unknown'} after "
        f"{time.monotonic() - started:.0f} s"
    )
    if not args.model:
        print("[demo] the small demo policy heads for the block; it grasps it only now and then")
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
        help="Gemma-3 checkpoint to use instead of training the small one (MODEL)",
    )
    parser.add_argument("--adapter", default=env("ADAPTER", ""),
                        help="LoRA adapter for --model (ADAPTER)")  # fmt: skip
    parser.add_argument("--verifier", default=env("VERIFIER", "none"),
                        choices=("none", "onboard", "adapter", "remote"),
                        help="who verifies subtasks in the live run (VERIFIER)")  # fmt: skip
    parser.add_argument("--episodes", type=int, default=int(env("EPISODES", "300")),
                        help="expert demonstrations to record (EPISODES)")  # fmt: skip
    parser.add_argument("--vision-layouts", type=int, default=int(env("VISION_LAYOUTS", "1500")),
                        help="sim frames of the vision pretraining (VISION_LAYOUTS)")  # fmt: skip
    parser.add_argument("--vision-steps", type=int, default=int(env("VISION_STEPS", "2000")),
                        help="steps of the vision pretraining (VISION_STEPS)")  # fmt: skip
    parser.add_argument("--fit-steps", type=int, default=int(env("FIT_STEPS", "1500")),
                        help="optimizer steps of the demo adapter (FIT_STEPS)")  # fmt: skip
    parser.add_argument("--learning-rate", type=float, default=float(env("LR", "2e-3")),
                        help="learning rate of the demo adapter (LR)")  # fmt: skip
    parser.add_argument("--cache", type=Path, default=Path(env("DEMO_CACHE", "artifacts/demo")),
                        help="where every stage's output is kept (DEMO_CACHE)")  # fmt: skip
    parser.add_argument("--video", type=Path, default=Path(env("VIDEO")) if env("VIDEO") else None,
                        help="gif of ~/debug_image (VIDEO; default <cache>/demo.gif)")  # fmt: skip
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
