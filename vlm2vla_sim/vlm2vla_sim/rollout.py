"""Run the scripted expert in the simulator exactly as the controller node runs a policy's chunks.

Every control period (5 Hz): record an observation, ask the expert for a chunk when none is
executing, tick the :class:`vlm2vla_policy.robot.ChunkExecutor` with the measured joints, send
its arm command to the servos (under the profile the controller node sets, 250 ms / 100 ms) and
its gripper command; between periods the Bridge gripper P-loop runs at 50 Hz in PWM mode. The
episode ends when the expert is done (or after ``max_ticks``), with one last observation; success
is judged ``judge_after_s`` later.

An :class:`ExpertEpisode` holds, per observation ``t``: camera frame (when rendered), arm joints
(rad), left finger (m), commanded EE target (4x4) and time (s); per action ``t`` (taking
observation ``t`` to ``t + 1``): the target's translation in that period (m, base frame) and the
commanded gripper state (1 = open); plus the chunks with their subtasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vlm2vla_policy.nodes.controller_config import ControllerConfig
from vlm2vla_policy.robot import ChunkExecutor, ExecutorConfig, GripperMode
from vlm2vla_sim.env import WidowXSim
from vlm2vla_sim.expert import ExpertChunk, ExpertConfig, ExpertView, ScriptedExpert
from vlm2vla_sim.profile import ProfileSettings
from vlm2vla_sim.tasks import Task

# Profile the controller node sets at start (its profile_velocity_ms / profile_acceleration_ms).
CONTROLLER_PROFILE = ProfileSettings(
    "time", ControllerConfig().profile_velocity_ms, ControllerConfig().profile_acceleration_ms
)


@dataclass(frozen=True)
class RolloutConfig:
    """How an expert episode runs."""

    executor: ExecutorConfig = field(default_factory=ExecutorConfig)  # the controller's defaults
    profile: ProfileSettings = CONTROLLER_PROFILE  # arm profile while the episode runs
    expert: ExpertConfig = field(default_factory=ExpertConfig)  # the expert's script
    max_ticks: int = 200  # control periods before the episode is cut off (40 s at 5 Hz)
    judge_after_s: float = 0.5  # physics time after the last period before judging success, s
    render: bool = True  # record a camera frame per observation


@dataclass
class ExpertEpisode:
    """One recorded expert episode (see the module docstring for units)."""

    task: Task  # what was asked
    seed: int  # the layout's seed
    frames: list[np.ndarray] = field(default_factory=list)  # (H, W, 3) uint8 RGB per observation
    joints_rad: list[np.ndarray] = field(default_factory=list)  # arm joints per observation
    joint_velocities_rad_s: list[np.ndarray] = field(default_factory=list)  # per observation
    finger_m: list[float] = field(default_factory=list)  # left finger per observation
    targets: list[np.ndarray] = field(default_factory=list)  # commanded EE target per observation
    times_s: list[float] = field(default_factory=list)  # simulated time per observation
    translations_m: list[np.ndarray] = field(default_factory=list)  # target move per action
    gripper: list[float] = field(default_factory=list)  # commanded gripper per action, 1 = open
    chunks: list[tuple[int, ExpertChunk]] = field(default_factory=list)  # (first action, chunk)
    stops: list[str] = field(default_factory=list)  # executor stops (IK, limits), if any
    success: bool = False  # the task's predicate held at the end

    @property
    def num_actions(self) -> int:
        """Actions recorded (observations minus one)."""
        return len(self.translations_m)


def _observe(sim: WidowXSim, executor: ChunkExecutor, episode: ExpertEpisode, render: bool) -> None:
    if render:
        episode.frames.append(sim.render())
    episode.joints_rad.append(sim.joints())
    episode.joint_velocities_rad_s.append(sim.joint_velocities())
    episode.finger_m.append(sim.finger_m())
    episode.targets.append(executor.target)
    episode.times_s.append(sim.time_s)


def run_episode(
    sim: WidowXSim, task: Task, seed: int, config: RolloutConfig | None = None
) -> ExpertEpisode:
    """Reset ``sim`` to ``seed`` and ``task``, let the expert solve it, return the episode."""
    config = config or RolloutConfig()
    sim.reset(seed, task)
    sim.set_profile(config.profile)
    sim.set_gripper(0.0, GripperMode.PWM)
    executor = ChunkExecutor(config.executor, sim.robot)
    executor.reset_target(sim.joints())
    expert = ScriptedExpert(sim.config.scene, config.expert)
    expert.reset(task)
    period_s = config.executor.period_s
    loop_s = config.executor.gripper.loop_period_s
    loops = max(1, round(period_s / loop_s))
    episode = ExpertEpisode(task, seed)
    for _ in range(config.max_ticks):
        if not executor.active:
            view = ExpertView(
                target_m=executor.target[:3, 3],
                finger_m=sim.finger_m(),
                finger_closed_m=sim.robot.finger_closed_m,
                objects_m=sim.object_positions(),
            )
            chunk = expert.next_chunk(view)
            if chunk is None:
                break
            verdict = executor.start(chunk.steps, sim.joints())
            if not verdict.ok:
                episode.stops.append(verdict.reason)
                break
            episode.chunks.append((episode.num_actions, chunk))
        _observe(sim, executor, episode, config.render)
        before = executor.target[:3, 3]
        out = executor.tick(sim.joints(), sim.time_s, sim.time_s)
        if out.joints_rad is not None:
            sim.set_arm_targets(out.joints_rad)
        if not out.status.commands:
            episode.stops.append(f"{out.status.value}: {out.reason}")
        episode.translations_m.append(executor.target[:3, 3] - before)
        episode.gripper.append(1.0 if executor.gripper.is_open in (True, None) else 0.0)
        for _ in range(loops):
            sim.set_gripper(executor.gripper.pwm_effort(sim.finger_m()), GripperMode.PWM)
            sim.step(period_s / loops)
    _observe(sim, executor, episode, config.render)
    for _ in range(max(1, round(config.judge_after_s / loop_s))):
        sim.set_gripper(executor.gripper.pwm_effort(sim.finger_m()), GripperMode.PWM)
        sim.step(loop_s)
    episode.success = sim.success(task)
    return episode
