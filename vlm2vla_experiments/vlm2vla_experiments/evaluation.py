"""Closed-loop evaluation of a policy in the simulator, ROS-free.

Each episode resets :class:`~vlm2vla_sim.env.WidowXSim` to a seed and runs the paper's loop,
:class:`vlm2vla_policy.runtime.episode_loop.EpisodeLoop`, with ``camera()`` = the sim's render
(age 0: the sim stands still while the policy thinks) and ``execute(decision)`` = the
controller's :class:`~vlm2vla_policy.robot.ChunkExecutor` ticking at 5 Hz exactly as
:func:`vlm2vla_sim.rollout.run_episode` drives it (same profile, same 50 Hz gripper P-loop). An
episode ends when the loop ends (done or failed) or after ``max_cycles`` executed chunks; it is
judged ``judge_after_s`` later with the task's predicate.

Reported per run: success rate with a Wilson 95 % interval, mean final EE-to-object distance (m;
the proxy that still moves when no episode succeeds), mean closest approach (the smallest
EE-to-object distance of each episode: did the gripper reach the object at all), wall time per
cycle (policy + execution); per episode a video of the camera (gif, or mp4 when ffmpeg is
available) annotated as policy_node's ``~/debug_image`` (subtask, plan, the chunk's path from the
gripper, the verdict: :mod:`vlm2vla_policy.overlay`) and a plot of the EE path against the
object. The baseline :class:`RandomPolicy` writes random chunks inside the text format's bounds
and never verifies a subtask as done; the other baseline, :func:`run_expert_episode`, lets the
simulator's scripted expert (the demonstrator of the recorded episodes) run each seeded episode
through :func:`vlm2vla_sim.rollout.run_episode`, reported the same way.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vlm2vla_policy.language import (
    ActionStep,
    ChunkStreamReader,
    LanguageConfig,
    TextChunkCodec,
    encode_chunk,
)
from vlm2vla_policy.language.plan import AxisMove, MotionPlan
from vlm2vla_policy.language.verdict import Verdict
from vlm2vla_policy.overlay import OverlayTracker, draw_overlay
from vlm2vla_policy.robot import ChunkExecutor, ExecutorConfig, GripperMode
from vlm2vla_policy.runtime.chunk_feed import ChunkFeed
from vlm2vla_policy.runtime.episode_loop import (
    EpisodeLoop,
    LoopConfig,
    LoopState,
    LoopStatus,
)
from vlm2vla_policy.runtime.stage_runner import StageResult
from vlm2vla_policy.runtime.timing import Timing
from vlm2vla_policy.settings import section, setting, validate
from vlm2vla_sim.camera import pinhole
from vlm2vla_sim.env import WidowXSim
from vlm2vla_sim.profile import ProfileSettings
from vlm2vla_sim.rollout import CONTROLLER_PROFILE, RolloutConfig, run_episode
from vlm2vla_sim.tasks import Task

WILSON_Z_95 = 1.959964  # two-sided 95 % normal quantile


@dataclass(frozen=True)
class SimEvalConfig:
    """How an evaluation runs."""

    episodes: int = setting(
        20, "seeded episodes, seeds start_seed .. start_seed + episodes - 1", low=1
    )
    start_seed: int = setting(
        1000, "first scene seed (away from the demo recorder's 0.. so layouts are new)"
    )
    max_cycles: int = setting(8, "executed chunks per episode before it is cut off", low=1)
    executor: ExecutorConfig = section(ExecutorConfig, "chunk execution: the controller's")
    profile: ProfileSettings = setting(CONTROLLER_PROFILE, "arm profile while an episode runs")
    verify: bool = setting(True, "ask the verifier after each chunk (the paper's loop)")
    judge_after_s: float = setting(
        0.5, "physics time after the last chunk before success is judged", unit="s", low=0.0
    )
    video: bool = setting(True, "save a video per episode")
    overlay: bool = setting(
        True, "annotate the video as policy_node's ~/debug_image: subtask, plan, path, verdict"
    )
    plot: bool = setting(True, "save an EE-path plot per episode")
    video_fps: float = setting(
        5.0, "video frames per second (one per control period at 5 Hz)", above=0.0
    )
    max_ticks_per_chunk: int = setting(
        400, "control periods one chunk may take before it is cut off", low=1
    )
    streaming: bool = setting(
        False, "execute each step as soon as it is decoded (LoopConfig.streaming)"
    )
    realtime: bool = setting(False, "tick the controller on the wall clock while the policy thinks")

    def __post_init__(self) -> None:
        """Reject settings that give no episode or an unbounded one."""
        validate(self)


@dataclass
class EpisodeReport:
    """What one evaluation episode did."""

    seed: int
    success: bool
    final_distance_m: float  # EE (ee_gripper_link) to the task object's origin at the end, m
    initial_distance_m: float  # the same after the reset (the distance the policy must close), m
    closest_distance_m: float  # the smallest EE-to-object distance during the episode (reach), m
    lifted: bool  # the object was lifted at the end
    cycles: int  # chunks executed (the expert's: the chunks its script gave)
    loop_state: str  # how the loop ended (DONE, FAILED, STOPPED = cycle budget; EXPERT)
    message: str  # the loop's last word
    cycle_s: list[float] = field(default_factory=list)  # wall time of each cycle, s
    first_command_s: list[float] = field(default_factory=list)  # per cycle: chunk start -> 1st cmd
    instruction_to_command_s: float | None = None  # episode start -> first arm command, s
    moving_s: float = 0.0  # control periods that commanded the arm, times the period, s
    wall_s: float = 0.0  # episode wall time, s
    stops: list[str] = field(default_factory=list)  # executor refusals and stops
    video: str = ""  # path of the episode's video, "" when none
    plot: str = ""  # path of the episode's plot, "" when none


def wilson_interval(successes: int, trials: int, z: float = WILSON_Z_95) -> tuple[float, float]:
    """Wilson score interval of a binomial rate (95 % by default); (0, 1) for no trials."""
    if trials <= 0:
        return 0.0, 1.0
    rate = successes / trials
    denom = 1 + z * z / trials
    centre = (rate + z * z / (2 * trials)) / denom
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


# --- the random baseline ------------------------------------------------------------------
def _result(stage: str, value: Any, raw: str) -> StageResult:
    return StageResult(stage, value, raw, Timing(), 1, False)


class RandomPolicy:
    """A baseline with the :class:`~vlm2vla_policy.runtime.policy.Policy` stage methods.

    The subtask list is the instruction itself; each chunk has 1 .. ``max_steps`` steps with
    dx, dy, dz uniform in the text format's ``±max_abs_cm`` and a random gripper; the plan is the
    chunk's net direction; the verifier always says "no", so the cycle budget ends the episode.
    """

    def __init__(self, seed: int = 0, language: LanguageConfig | None = None) -> None:
        self.language = language or LanguageConfig()
        self.rng = np.random.default_rng(seed)
        self._pending: list[ActionStep] = []

    def reset(self) -> None:
        """Nothing to forget between episodes (the generator keeps running)."""

    def subtasks(self, image, instruction: str) -> StageResult:
        """The instruction as the only subtask."""
        return _result("subtasks", [instruction], instruction)

    def _draw(self) -> list[ActionStep]:
        fmt = self.language.chunk
        count = int(self.rng.integers(1, fmt.max_steps + 1))
        xyz = self.rng.uniform(-fmt.max_abs_m, fmt.max_abs_m, size=(count, 3))
        grip = self.rng.integers(0, 2, size=count).astype(float)
        return [ActionStep(*map(float, row), g) for row, g in zip(xyz, grip, strict=True)]

    def plan(self, image, subtask: str, *, instruction: str) -> StageResult:
        """Draw the next chunk and describe its net direction as the plan."""
        self._pending = self._draw()
        net = np.sum([s[:3] for s in self._pending], axis=0)
        moves = tuple(
            AxisMove(axis, int(np.sign(v)), False) for axis, v in enumerate(net) if abs(v) > 0
        )
        plan = MotionPlan(moves=moves)
        return _result("plan", plan, plan.text)

    def chunk(self, image, subtask: str, plan, *, instruction: str, on_text=None) -> StageResult:
        """The chunk drawn with the plan (streamed to ``on_text`` in one piece when given)."""
        steps = self._pending or self._draw()
        text = encode_chunk(steps, self.language.chunk)
        if on_text is not None:
            on_text(text)
        return _result("chunk", steps, text)

    def chunk_reader(self) -> ChunkStreamReader:
        """A reader of this baseline's chunk text."""
        return ChunkStreamReader(TextChunkCodec(self.language.chunk))

    def verify(self, before, after, subtask: str, following: str | None) -> StageResult:
        """Never done."""
        return _result("verification", Verdict(False, "random baseline"), "no")


# --- one episode --------------------------------------------------------------------------
class SimExecution:
    """``execute(feed)`` for the loop: the controller's chunk execution on the sim.

    Steps are handed to the :class:`~vlm2vla_policy.robot.ChunkExecutor` as they arrive in the
    feed (the target persists between hand-overs, as in one chunk). With ``config.realtime`` the
    controller ticks on a wall-clock grid of ``period_s`` and the physics runs on meanwhile,
    also while the arm waits for steps; otherwise it ticks as fast as it can (the sim stands still
    while the policy thinks). ``lock`` guards the sim between this thread and the camera.
    """

    def __init__(self, sim: WidowXSim, config: SimEvalConfig, on_frame: Callable[[], None]) -> None:
        self.sim = sim
        self.config = config
        self.on_frame = on_frame
        self.on_progress: Callable[[int], None] = lambda _: None  # steps of the chunk done
        self.executor = ChunkExecutor(config.executor, sim.robot)
        self.lock = threading.Lock()
        self.stops: list[str] = []
        self.cycles = 0
        self.stop = threading.Event()
        self.first_command_s: list[float] = []  # per chunk: generation start -> first command, s
        self.first_command_at: float | None = None  # monotonic time of the episode's first command
        self.moving_periods = 0
        self.commanded_at = 0.0  # monotonic time the latest arm command was sent
        self._next_tick_s = 0.0

    def reset(self) -> None:
        """Start an episode: the controller's profile, open gripper, target at the arm."""
        sim = self.sim
        with self.lock:
            sim.set_profile(self.config.profile)
            sim.set_gripper(0.0, GripperMode.PWM)
            self.executor = ChunkExecutor(self.config.executor, sim.robot)
            self.executor.reset_target(sim.joints())
        self.stops, self.cycles, self.first_command_s = [], 0, []
        self.first_command_at, self.moving_periods = None, 0
        self.stop.clear()

    def _period(self) -> None:
        sim, executor = self.sim, self.executor
        period_s = self.config.executor.period_s
        loop_s = self.config.executor.gripper.loop_period_s
        loops = max(1, round(period_s / loop_s))
        for _ in range(loops):
            sim.set_gripper(executor.gripper.pwm_effort(sim.finger_m()), GripperMode.PWM)
            sim.step(period_s / loops)

    def _pace(self) -> None:
        """Realtime: sleep until the next tick of the wall-clock grid."""
        if not self.config.realtime:
            return
        self._next_tick_s += self.config.executor.period_s
        delay = self._next_tick_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            self._next_tick_s = time.monotonic()  # fell behind: do not burst

    def __call__(self, feed: ChunkFeed) -> tuple[bool, str]:
        """Tick the executor over the feed's steps until it is done or stopped; (completed, why)."""
        self.cycles += 1
        if self.cycles >= self.config.max_cycles:
            self.stop.set()  # the loop stops after this chunk: the cycle budget is spent
        self._next_tick_s = time.monotonic()
        handed, commanded = 0, False
        for _ in range(self.config.max_ticks_per_chunk):
            if feed.cancelled and not (feed.closed and handed == feed.count):
                with self.lock:
                    self.executor.cancel(feed.cancelled)
                return False, f"cancelled: {feed.cancelled}"
            if not self.executor.active:
                if handed < feed.count:
                    verdict = self._hand_over(feed.steps()[handed:])
                    if not verdict.ok:
                        return False, verdict.reason
                    handed = feed.count
                elif feed.closed:
                    return True, ""
                elif not self.config.realtime:
                    feed.wait(handed)  # the sim stands still while the policy writes
                    continue
            moved = self.moving_periods
            stopped = self._tick()
            if stopped:
                return False, stopped
            if not commanded and self.moving_periods > moved:
                commanded = True
                self._note_first_command(feed, self.commanded_at)
            self._pace()
        completed, reason = False, "chunk took too many control periods"
        self.stops.append(reason)
        return completed, reason

    def _hand_over(self, steps: np.ndarray):
        with self.lock:
            verdict = self.executor.start(steps, self.sim.joints())
        if not verdict.ok:
            self.stops.append(verdict.reason)
        return verdict

    def _tick(self) -> str:
        """One control period (a command when a chunk is active); the stop reason, or ""."""
        sim, executor = self.sim, self.executor
        with self.lock:
            if executor.active:
                out = executor.tick(sim.joints(), sim.time_s, sim.time_s)
                self.on_progress(out.steps_done)
                if out.joints_rad is not None:
                    sim.set_arm_targets(out.joints_rad)
                    self.commanded_at = time.monotonic()  # sent, before the period is simulated
                    self.moving_periods += 1
                if not out.status.commands:
                    reason = f"{out.status.value}: {out.reason}"
                    self.stops.append(reason)
                    return reason
            self._period()
            self.on_frame()
        return ""

    def _note_first_command(self, feed: ChunkFeed, sent_s: float) -> None:
        self.first_command_s.append(sent_s - feed.started_s)
        if self.first_command_at is None:
            self.first_command_at = sent_s

    def settle(self) -> None:
        """Let the gripper loop run ``judge_after_s`` before judging."""
        loop_s = self.config.executor.gripper.loop_period_s
        with self.lock:
            for _ in range(max(1, round(self.config.judge_after_s / loop_s))):
                self.sim.set_gripper(
                    self.executor.gripper.pwm_effort(self.sim.finger_m()), GripperMode.PWM
                )
                self.sim.step(loop_s)


def _ee_to_object_m(sim: WidowXSim, task: Task) -> float:
    return float(np.linalg.norm(sim.ee_pose()[:3, 3] - sim.object_positions()[task.object]))


@dataclass
class _Trace:
    """The EE path and the task object's positions over an episode (base frame, m)."""

    task: Task
    path_m: list[np.ndarray] = field(default_factory=list)
    object_m: list[np.ndarray] = field(default_factory=list)

    def note(self, sim: WidowXSim) -> None:
        """Add where the EE and the object are now."""
        self.path_m.append(sim.ee_pose()[:3, 3].copy())
        self.object_m.append(sim.object_positions()[self.task.object].copy())

    def closest_m(self) -> float:
        """The smallest EE-to-object distance noted."""
        return closest_distance_m(self.path_m, self.object_m)


def closest_distance_m(path_m: list[np.ndarray], object_m: list[np.ndarray]) -> float:
    """The smallest distance between the EE path and the object at the same instants (m)."""
    gaps = np.asarray(path_m) - np.asarray(object_m)
    return float(np.min(np.linalg.norm(gaps, axis=1)))


def _save_files(
    report: EpisodeReport,
    out_dir: Path | None,
    frames: list[np.ndarray],
    trace: _Trace,
    config: SimEvalConfig,
) -> None:
    """Save the episode's video (when there are frames) and plot; note their paths in ``report``."""
    if out_dir is None:
        return
    stem = out_dir / f"{trace.task.slug}_seed{report.seed}"
    if config.video and frames:
        report.video = str(save_video(frames, stem, config.video_fps))
    if config.plot:
        verdict = "success" if report.success else "failure"
        title = (f"seed {report.seed}: {verdict}, {report.cycles} cycles, "
                 f"final EE-object {report.final_distance_m * 100:.1f} cm")  # fmt: skip
        png = stem.with_suffix(".png")
        report.plot = str(save_path_plot(trace.path_m, trace.object_m, png, title))


def run_eval_episode(
    sim: WidowXSim,
    policy,
    task: Task,
    seed: int,
    config: SimEvalConfig,
    *,
    out_dir: Path | None = None,
    on_status: Callable[[LoopStatus], None] = lambda _: None,
) -> EpisodeReport:
    """One closed-loop episode of ``task`` at ``seed``; saves its video and plot in ``out_dir``."""
    sim.reset(seed, task)
    frames: list[np.ndarray] = []
    trace = _Trace(task)
    overlay = OverlayTracker(lambda: sim.ee_pose()[:3, 3])
    camera_model = pinhole(sim.config.camera)

    def record() -> None:
        if config.video and out_dir is not None:
            frame = sim.render()
            annotate = config.overlay
            frames.append(draw_overlay(frame, overlay.view(), camera_model) if annotate else frame)
        trace.note(sim)

    initial_m = _ee_to_object_m(sim, task)
    execution = SimExecution(sim, config, record)
    execution.on_progress = overlay.on_progress
    execution.reset()
    record()
    cycle_s: list[float] = []
    mark = [time.monotonic()]
    started = mark[0]

    @overlay.execute
    def execute(feed: ChunkFeed) -> tuple[bool, str]:
        result = execution(feed)
        now = time.monotonic()
        cycle_s.append(now - mark[0])
        mark[0] = now
        return result

    def camera() -> tuple[np.ndarray, float]:
        with execution.lock:
            return sim.render(), 0.0

    loop_config = LoopConfig(
        max_retries_per_subtask=config.max_cycles, verify=config.verify,
        streaming=config.streaming,
    )  # fmt: skip

    def status(snapshot: LoopStatus) -> None:
        overlay.on_status(snapshot)
        on_status(snapshot)

    loop = EpisodeLoop(
        policy, camera, execute, loop_config, on_status=status, image_age=lambda: 0.0
    )
    result = loop.run(task.instruction, execution.stop)
    wall_s = time.monotonic() - started
    execution.settle()
    record()
    state = loop.status.state
    report = EpisodeReport(
        seed=seed,
        success=bool(sim.success(task)),
        final_distance_m=_ee_to_object_m(sim, task),
        initial_distance_m=initial_m,
        closest_distance_m=trace.closest_m(),
        lifted=bool(sim.lifted(task.object)),
        cycles=execution.cycles,
        loop_state=LoopState(state).name,
        message=result.message if result.message != "stopped" else "cycle budget spent",
        cycle_s=[round(s, 4) for s in cycle_s],
        stops=execution.stops,
        first_command_s=[round(s, 4) for s in execution.first_command_s],
        instruction_to_command_s=(
            None
            if execution.first_command_at is None
            else round(execution.first_command_at - started, 4)
        ),
        moving_s=round(execution.moving_periods * config.executor.period_s, 4),
        wall_s=round(wall_s, 4),
    )
    _save_files(report, out_dir, frames, trace, config)
    return report


class _TracedSim:
    """``sim`` for :func:`~vlm2vla_sim.rollout.run_episode`, noting the EE and the object.

    It notes them after the reset and whenever the physics reaches the end of a control period
    (``period_s``), as :func:`run_eval_episode` does for a policy; all else passes to ``sim``.
    """

    def __init__(self, sim: WidowXSim, trace: _Trace, period_s: float) -> None:
        self._sim, self.trace, self._period_s = sim, trace, period_s
        self._next_s = 0.0
        self.initial_m = 0.0  # EE-to-object distance after the reset, m

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sim, name)

    def reset(self, seed: int, task: Task | str | None = None):
        """The sim's reset; note the start."""
        layout = self._sim.reset(seed, task)
        self.initial_m = _ee_to_object_m(self._sim, self.trace.task)
        self.trace.note(self._sim)
        self._next_s = self._period_s
        return layout

    def step(self, duration_s: float) -> None:
        """The sim's step; note the state when a control period has passed."""
        self._sim.step(duration_s)
        if self._sim.time_s >= self._next_s - self._sim.model.opt.timestep / 2:
            self.trace.note(self._sim)
            self._next_s += self._period_s


def run_expert_episode(
    sim: WidowXSim, task: Task, seed: int, config: SimEvalConfig, *, out_dir: Path | None = None
) -> EpisodeReport:
    """One episode of ``task`` at ``seed`` by the sim's scripted expert; saves as a policy's.

    :func:`vlm2vla_sim.rollout.run_episode` (the demonstration recorder's rollout) with this
    evaluation's executor, profile and judging delay, and its own budget of
    ``RolloutConfig.max_ticks`` control periods (``max_cycles`` bounds a policy's chunks, not
    the expert's script). The EE and the object are noted once per control period, as for a
    policy. ``cycles`` counts the expert's chunks, ``loop_state`` is ``EXPERT``; the timing fields
    but ``wall_s`` stay empty (the expert does not think; its rollout does not time commands).
    The video, when on, is the camera without the overlay (the expert has no plan to show).
    """
    traced = _TracedSim(sim, _Trace(task), config.executor.period_s)
    rollout = RolloutConfig(
        executor=config.executor, profile=config.profile, judge_after_s=config.judge_after_s,
        render=config.video and out_dir is not None,
    )  # fmt: skip
    started = time.monotonic()
    episode = run_episode(traced, task, seed, rollout)  # type: ignore[arg-type]  (duck-typed)
    wall_s = time.monotonic() - started
    traced.trace.note(sim)
    if episode.num_actions >= rollout.max_ticks:
        message = f"cut off after {rollout.max_ticks} control periods"
    else:
        message = "expert done" + (f" ({episode.stops[-1]})" if episode.stops else "")
    report = EpisodeReport(
        seed=seed,
        success=bool(episode.success),
        final_distance_m=_ee_to_object_m(sim, task),
        initial_distance_m=traced.initial_m,
        closest_distance_m=traced.trace.closest_m(),
        lifted=bool(sim.lifted(task.object)),
        cycles=len(episode.chunks),
        loop_state="EXPERT",
        message=message,
        wall_s=round(wall_s, 4),
        stops=list(episode.stops),
    )
    _save_files(report, out_dir, episode.frames, traced.trace, config)
    return report


# --- artefacts ----------------------------------------------------------------------------
def save_video(frames: list[np.ndarray], stem: Path, fps: float) -> Path:
    """Write ``frames`` as ``stem.mp4`` when ffmpeg is available, else ``stem.gif``."""
    import imageio.v2 as imageio

    stem.parent.mkdir(parents=True, exist_ok=True)
    if _has_ffmpeg():
        path = stem.with_suffix(".mp4")
        imageio.mimsave(path, frames, fps=fps)
        return path
    path = stem.with_suffix(".gif")
    imageio.mimsave(path, frames, duration=1000.0 / fps, loop=0)
    return path


def _has_ffmpeg() -> bool:
    try:
        import imageio_ffmpeg  # noqa: F401  (imageio's mp4 writer)
    except ImportError:
        return False
    return True


def save_path_plot(
    path_m: list[np.ndarray], object_m: list[np.ndarray], png: Path, title: str
) -> Path:
    """Top view (x-y) and side view (x-z) of the EE path and the object (base frame, cm)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ee, obj = np.asarray(path_m) * 100, np.asarray(object_m) * 100
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
    for ax, (a, b), names in zip(axes, ((0, 1), (0, 2)), (("x", "y"), ("x", "z")), strict=True):
        ax.plot(ee[:, a], ee[:, b], "-", color="tab:blue", label="EE path")
        ax.plot(ee[0, a], ee[0, b], "o", color="tab:blue", label="EE start")
        ax.plot(ee[-1, a], ee[-1, b], "s", color="tab:blue", label="EE end")
        ax.plot(obj[:, a], obj[:, b], "-", color="tab:orange", label="object")
        ax.plot(obj[-1, a], obj[-1, b], "x", color="tab:orange", ms=9, label="object end")
        ax.set_xlabel(f"{names[0]} (cm)")
        ax.set_ylabel(f"{names[1]} (cm)")
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=80)
    plt.close(fig)
    return png


# --- a whole run --------------------------------------------------------------------------
def _stat(statistic: Callable[[list[float]], Any], values: list[float]) -> float | None:
    """``statistic(values)`` rounded to 4 decimals, or None when there are no values."""
    return round(float(statistic(values)), 4) if values else None


def summarize(
    task: Task, policy_name: str, reports: list[EpisodeReport], config: SimEvalConfig
) -> dict[str, Any]:
    """The JSON summary of a run."""
    successes = sum(r.success for r in reports)
    low, high = wilson_interval(successes, len(reports))
    cycles = [s for r in reports for s in r.cycle_s]
    distances = [r.final_distance_m for r in reports]
    return {
        "task": task.instruction,
        "policy": policy_name,
        "episodes": len(reports),
        "successes": successes,
        "success_rate": successes / len(reports) if reports else 0.0,
        "success_ci95": [round(low, 4), round(high, 4)],
        "mean_final_distance_m": _stat(np.mean, distances),
        "std_final_distance_m": _stat(np.std, distances),
        "mean_initial_distance_m": _stat(np.mean, [r.initial_distance_m for r in reports]),
        "mean_closest_distance_m": _stat(np.mean, [r.closest_distance_m for r in reports]),
        "lifted": sum(r.lifted for r in reports),
        "mean_cycles": round(float(np.mean([r.cycles for r in reports])), 2) if reports else 0,
        "cycle_s": {
            "mean": _stat(np.mean, cycles),
            "p50": _stat(np.median, cycles),
            "max": _stat(np.max, cycles),
        },
        "config": {k: v for k, v in asdict(config).items() if k not in ("executor", "profile")},
        "per_episode": [asdict(r) for r in reports],
    }


def evaluate_in_sim(
    sim: WidowXSim,
    policy,
    task: Task,
    config: SimEvalConfig,
    out_dir: Path,
    *,
    policy_name: str = "policy",
    progress: Callable[[EpisodeReport], None] = lambda _: None,
) -> dict[str, Any]:
    """Run ``config.episodes`` seeded episodes; write ``summary.json`` in ``out_dir``; return it."""

    def episode(seed: int) -> EpisodeReport:
        return run_eval_episode(sim, policy, task, seed, config, out_dir=out_dir)

    return _evaluate(episode, task, config, out_dir, policy_name=policy_name, progress=progress)


def evaluate_expert_in_sim(
    sim: WidowXSim,
    task: Task,
    config: SimEvalConfig,
    out_dir: Path,
    *,
    progress: Callable[[EpisodeReport], None] = lambda _: None,
) -> dict[str, Any]:
    """:func:`evaluate_in_sim` with the scripted expert (:func:`run_expert_episode`): "expert"."""

    def episode(seed: int) -> EpisodeReport:
        return run_expert_episode(sim, task, seed, config, out_dir=out_dir)

    return _evaluate(episode, task, config, out_dir, policy_name="expert", progress=progress)


def _evaluate(
    episode: Callable[[int], EpisodeReport],
    task: Task,
    config: SimEvalConfig,
    out_dir: Path,
    *,
    policy_name: str,
    progress: Callable[[EpisodeReport], None],
) -> dict[str, Any]:
    """``episode(seed)`` for each seed of ``config``; the summary, written in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    reports = []
    for seed in range(config.start_seed, config.start_seed + config.episodes):
        report = episode(seed)
        reports.append(report)
        progress(report)
    summary = summarize(task, policy_name, reports, config)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
