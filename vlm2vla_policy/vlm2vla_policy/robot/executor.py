"""Execute action chunks the way the Bridge data was recorded, one control period per call.

Semantics (docs/facts.md §3, "How the Bridge robot stack applies a delta action"):

- A persistent *commanded target* pose of the EE (``ee_gripper_link`` in ``wx250s/base_link``) is
  kept between chunks; it is not re-read from the measured pose unless :meth:`reset_target` says so.
- Each chunk step ``[dx, dy, dz, gripper]`` (metres, base frame; 1 = open) is clipped to
  ``max_action_m`` per axis, added to the target, and the resulting goal clipped to the workspace.
  The target then moves to the goal along a straight line in ``ceil(distance / max_step_m)``
  control periods (at least one), so a 4 cm step at 1 cm per period takes four periods.
- With ``use_rotation`` a step may be ``[dx, dy, dz, droll, dpitch, dyaw, gripper]``: the rotation
  (Euler angles about base-frame axes) turns the target about its own position, subdivided so no
  period turns more than ``max_rotation_step_rad``. (Bridge pivots at the measured EE position;
  the difference is the tracking error, and pivoting at the target keeps a pure rotation from
  translating the target.)
- Every period: IK seeded with the measured joints, then the safety checks; a command is produced
  only if all pass. On any failure the target stays where it was (frozen, not advanced), the
  chunk ends, and the status says why.
- The gripper value is thresholded and commanded once per change, after the step's motion (the
  state the step ends in; ``gripper_after_motion=False`` sends it with the step's first period).
- Limits: a chunk of more than ``max_chunk_steps`` steps, or whose estimated motion (see
  :meth:`ChunkExecutor.estimate_periods`) is longer than ``max_chunk_duration_s``, is refused.
- Streaming: a chunk started with ``streaming=True`` may begin with no step; :meth:`append` adds
  steps (same checks and clipping as a chunk, same limits on the total) and :meth:`close` ends
  the stream. While every received step is executed and the stream is open the executor holds
  (status WAITING: no command, the target stays, the chunk is not finished). A stream closed
  with an error ends the chunk, as failed, once the steps received before it are executed.

A ROS node calls :meth:`ChunkExecutor.tick` every ``period_s`` with the latest joint state and
publishes what it returns; it needs no logic of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vlm2vla_policy.robot.description import WX250S, RobotDescription
from vlm2vla_policy.robot.gripper import GripperCommand, GripperConfig, GripperController
from vlm2vla_policy.robot.kinematics import ArmKinematics, IKConfig, IKStatus
from vlm2vla_policy.robot.safety import SafetyLimits
from vlm2vla_policy.robot.status import OK, ControlOutcome, ControlStatus
from vlm2vla_policy.robot.transforms import (
    euler_xyz_to_matrix,
    matrix_to_quaternion_xyzw,
    so3_exp,
    so3_log,
)
from vlm2vla_policy.robot.workspace import WorkspaceBounds
from vlm2vla_policy.settings import section, setting, validate

TRANSLATION_CHUNK_COLUMNS = 4  # [dx, dy, dz, gripper]
ROTATION_CHUNK_COLUMNS = 7  # [dx, dy, dz, droll, dpitch, dyaw, gripper]
# Slack when counting periods, so a 4 cm step at 1 cm per period is 4 periods, not 5 (m or rad).
_PERIOD_COUNT_SLACK = 1e-9


@dataclass(frozen=True)
class ExecutorConfig:
    """Chunk execution settings. Defaults reproduce Bridge at 5 Hz with 1 cm per period."""

    period_s: float = setting(
        0.2, "control period: tick() is called this often (Bridge: 5 Hz)", unit="s", above=0.0
    )
    max_step_m: float = setting(
        0.01, "largest EE target move in one control period", unit="m", above=0.0
    )
    max_rotation_step_rad: float = setting(
        0.05, "largest EE target rotation in one control period", unit="rad", above=0.0
    )
    max_action_m: float = setting(
        0.05, "per-axis clip of a chunk step's translation (Bridge: 0.05)", unit="m", above=0.0
    )
    max_action_rad: float = setting(
        0.25, "per-axis clip of a chunk step's rotation", unit="rad", above=0.0
    )
    use_rotation: bool = setting(
        False, "accept (N, 7) chunks with rotation deltas; the paper's are (N, 4)"
    )
    workspace: WorkspaceBounds | None = section(
        WorkspaceBounds, "the box the EE target is clipped to (Bridge's); None: no clip"
    )
    gripper_after_motion: bool = setting(
        True, "send a step's gripper change after its motion (false: with its first period)"
    )
    max_joint_state_age_s: float = setting(
        0.5, "stop when the joint measurement is older than this", unit="s", above=0.0
    )
    max_chunk_steps: int = setting(
        100,
        "refuse a chunk with more steps than this (a streamed chunk that grows past it is stopped)",
        low=1,
    )
    max_chunk_duration_s: float = setting(
        60.0,
        "refuse a chunk whose estimated motion takes longer: max(1, ceil(|clipped step| / "
        "max_step_m)) control periods per step (a streamed chunk that grows past it is stopped)",
        unit="s",
        above=0.0,
    )
    ik: IKConfig = section(IKConfig, "inverse-kinematics solver settings")
    gripper: GripperConfig = section(GripperConfig, "gripper commands")

    def __post_init__(self) -> None:
        validate(self)

    @property
    def max_chunk_periods(self) -> int:
        """The most control periods a chunk may take (``max_chunk_duration_s / period_s``)."""
        return math.floor(self.max_chunk_duration_s / self.period_s + _PERIOD_COUNT_SLACK)


@dataclass(frozen=True, eq=False)
class PeriodCommand:
    """What to do in one control period. Publish ``joints_rad`` and ``gripper`` when not None."""

    status: ControlStatus  # OK / WORKSPACE_CLIPPED from tick() come with a command; others not
    reason: str  # why (stop reason, clip note); empty when plainly OK
    joints_rad: np.ndarray | None  # arm command (rad, WX250S.joint_names order) or None
    gripper: GripperCommand | None  # gripper command when its state changes, else None
    ee_target: np.ndarray | None  # commanded EE target after this period (4x4, base frame, m)
    step_index: int  # 0-based chunk step this period belongs to
    steps_done: int  # chunk steps completed so far
    num_steps: int  # steps in the chunk (streamed: received so far; 0 when idle)
    finished: bool  # True on the period that ends the chunk, by completion or by a stop

    @property
    def succeeded(self) -> bool:
        """True when this period completed the whole chunk."""
        return self.finished and self.status.commands

    @property
    def ee_position_m(self) -> tuple[float, float, float] | None:
        """Target position (x, y, z) in the base frame, m."""
        if self.ee_target is None:
            return None
        x, y, z = self.ee_target[:3, 3]
        return (float(x), float(y), float(z))

    @property
    def ee_quaternion_xyzw(self) -> tuple[float, float, float, float] | None:
        """Target orientation as a unit quaternion (x, y, z, w) in the base frame."""
        if self.ee_target is None:
            return None
        return matrix_to_quaternion_xyzw(self.ee_target[:3, :3])


@dataclass(frozen=True, eq=False)
class _StepPlan:
    start: np.ndarray  # target pose when the step began (4x4)
    translation_m: np.ndarray  # straight-line displacement of the target over the step
    rotation_vec: np.ndarray  # base-frame rotation vector of the target over the step, rad
    periods: int  # control periods the step takes
    gripper_value: float  # chunk gripper value of the step
    clip_note: str  # what the workspace clipped, "" if nothing

    def target_at(self, period: int) -> np.ndarray:
        fraction = period / self.periods
        pose = self.start.copy()
        pose[:3, 3] += self.translation_m * fraction
        if np.any(self.rotation_vec):
            pose[:3, :3] = so3_exp(self.rotation_vec * fraction) @ self.start[:3, :3]
        return pose


class ChunkExecutor:
    """Turns action chunks into per-period joint and gripper commands for one arm."""

    def __init__(
        self, config: ExecutorConfig | None = None, robot: RobotDescription = WX250S
    ) -> None:
        self.config = config or ExecutorConfig()
        self.robot = robot
        self.kinematics = ArmKinematics(robot)
        self.safety = SafetyLimits.for_robot(robot, self.config.max_joint_state_age_s)
        self.gripper = GripperController(self.config.gripper)
        self._target: np.ndarray | None = None
        self._chunk: np.ndarray | None = None
        self._step = 0
        self._period = 0
        self._plan: _StepPlan | None = None
        self._estop_reason: str | None = None
        self._open = False  # a streamed chunk whose producer may still append steps
        self._stream_error = ""  # why the producer closed its stream early ("" if whole)
        self._periods = 0  # estimated control periods of the steps received

    @property
    def target(self) -> np.ndarray | None:
        """The commanded EE target (4x4, base frame, m), or None before the first reset."""
        return None if self._target is None else self._target.copy()

    @property
    def active(self) -> bool:
        """True while a chunk is executing."""
        return self._chunk is not None

    @property
    def estopped(self) -> bool:
        """True while the emergency stop is latched."""
        return self._estop_reason is not None

    def reset_target(self, measured_joints_rad: np.ndarray | None) -> ControlOutcome:
        """Set the commanded target to the EE pose of the measured joints (rad).

        Call after any motion not made by this executor (start-pose move, manual move). During a
        chunk, the current step restarts from the new target.
        """
        verdict = self.safety.check_joints(measured_joints_rad)
        if not verdict.ok:
            return ControlOutcome(verdict.status, f"cannot reset the target: {verdict.reason}")
        self._target = self.kinematics.fk(np.asarray(measured_joints_rad, dtype=float))
        self._plan = None
        self._period = 0
        return OK

    def start(
        self,
        chunk: np.ndarray,
        measured_joints_rad: np.ndarray | None,
        streaming: bool = False,
    ) -> ControlOutcome:
        """Begin executing ``chunk``, replacing any chunk in progress.

        ``chunk`` is (N, 4) ``[dx, dy, dz, gripper]`` (metres, base frame; gripper 1 = open), or
        (N, 7) ``[dx, dy, dz, droll, dpitch, dyaw, gripper]`` when ``use_rotation`` is on. With
        ``streaming`` N may be 0 and :meth:`append` adds steps until :meth:`close`. The measured
        joints initialise the target if it was never set. Returns OK (with a note when steps were
        clipped) or why the chunk was refused; the first command comes from tick().
        """
        if self._estop_reason is not None:
            return ControlOutcome(
                ControlStatus.ESTOPPED,
                f"emergency stop latched ({self._estop_reason}); release it before a new chunk",
            )
        steps, parsed = self._parse_chunk(chunk, first_index=0, allow_empty=streaming)
        if steps is None:
            return parsed
        periods = self.estimate_periods(steps)
        limit = self._check_duration(len(steps), periods)
        if not limit.ok:
            return limit
        if self._target is None:
            verdict = self.reset_target(measured_joints_rad)
            if not verdict.ok:
                return verdict
        self._chunk = steps
        self._step = 0
        self._period = 0
        self._plan = None
        self._open = streaming
        self._stream_error = ""
        self._periods = periods
        return parsed

    def check_steps(self, num_steps: int) -> ControlOutcome:
        """OK when a chunk of ``num_steps`` steps is within ``max_chunk_steps``, else why not.

        Cheap: call it before converting a large message into an array.
        """
        limit = self.config.max_chunk_steps
        if num_steps <= limit:
            return OK
        return ControlOutcome(
            ControlStatus.TOO_LONG,
            f"chunk has {num_steps} steps, more than max_chunk_steps = {limit}; send at most "
            f"{limit} steps per goal (or raise max_chunk_steps)",
        )

    def estimate_periods(self, steps: np.ndarray) -> int:
        """Control periods that clipped (k, 7) ``steps`` take, before any workspace clipping.

        Per step ``max(1, ceil(|translation| / max_step_m), ceil(|rotation| /
        max_rotation_step_rad))``, with the norm of the Euler angles standing in for the angle.
        """
        if len(steps) == 0:
            return 0
        translation = np.linalg.norm(steps[:, :3], axis=1) / self.config.max_step_m
        rotation = np.linalg.norm(steps[:, 3:6], axis=1) / self.config.max_rotation_step_rad
        periods = np.ceil(np.maximum(translation, rotation) - _PERIOD_COUNT_SLACK)
        return int(np.maximum(periods, 1.0).sum())

    def append(self, steps: np.ndarray, first_index: int) -> PeriodCommand:
        """Add steps to the streamed chunk in progress; ``first_index`` is the first one's index.

        ``steps`` is (k, 4) or (k, 7) as in :meth:`start` (k may be 0: only the index is checked).
        Returns a not-finished output (OK, with a note when steps were clipped) when they were
        added; otherwise the chunk stops and the finished output says why: no open stream, a
        gap in the indices (steps lost), invalid steps, or a chunk grown past the limits.
        """
        if self._chunk is None:
            return self._output(ControlStatus.IDLE, "", finished=False)
        if not self._open:
            return self._stop(
                ControlOutcome(
                    ControlStatus.INVALID_INPUT,
                    "steps appended to a chunk whose stream is closed (or that was not started "
                    "with streaming)",
                )
            )
        received = len(self._chunk)
        if first_index != received:
            return self._stop(
                ControlOutcome(
                    ControlStatus.STEPS_LOST,
                    f"steps lost: streamed steps start at index {first_index}, but {received} "
                    "steps were received; stopped",
                )
            )
        added, parsed = self._parse_chunk(steps, first_index=received, allow_empty=True)
        if added is None:
            return self._stop(
                ControlOutcome(parsed.status, f"streamed steps refused: {parsed.reason}")
            )
        periods = self._periods + self.estimate_periods(added)
        limit = self._check_duration(received + len(added), periods)
        if not limit.ok:
            return self._stop(
                ControlOutcome(limit.status, f"streamed chunk stopped: {limit.reason}")
            )
        self._chunk = np.vstack([self._chunk, added])
        self._periods = periods
        return self._output(ControlStatus.OK, parsed.reason, finished=False)

    def close(self, error: str = "") -> PeriodCommand:
        """End the stream of the chunk in progress: no step follows.

        ``error`` says why the producer ended early ("" when the chunk is whole). The steps
        received still execute; the chunk then succeeds, or fails with the error. Returns the
        finished output when that is now (every step already executed), else a not-finished one.
        """
        if self._chunk is None:
            return self._output(ControlStatus.IDLE, "", finished=False)
        if self._open:
            self._open = False
            self._stream_error = error
        if self._step < len(self._chunk):
            return self._output(ControlStatus.OK, "", finished=False)
        return self._end_of_stream()

    def tick(
        self, measured_joints_rad: np.ndarray | None, joints_stamp_s: float, now_s: float
    ) -> PeriodCommand:
        """Advance one control period: the next arm (and maybe gripper) command, or why not.

        ``measured_joints_rad`` are the latest arm joints (rad, chain order), measured at
        ``joints_stamp_s``; ``now_s`` is the current time on the same clock (s).
        """
        if self._estop_reason is not None:
            return self._output(ControlStatus.ESTOPPED, self._estop_reason, finished=False)
        if self._chunk is None:
            return self._output(ControlStatus.IDLE, "", finished=False)
        if self._step == len(self._chunk):  # streamed: every received step executed
            if self._open:
                return self._output(ControlStatus.WAITING, "waiting for streamed steps", False)
            return self._end_of_stream()
        verdict = self.safety.check_measurement(measured_joints_rad, joints_stamp_s, now_s)
        if not verdict.ok:
            return self._stop(verdict)
        measured = np.asarray(measured_joints_rad, dtype=float)
        if self._plan is None:
            self._plan = self._plan_step(self._chunk[self._step])
        plan = self._plan
        period = self._period + 1
        candidate = plan.target_at(period)
        where = f"chunk step {self._step}, period {period}/{plan.periods}"
        solution = self.kinematics.ik(candidate, measured, self.config.ik)
        if not solution.ok:
            status = (
                ControlStatus.JOINT_LIMIT
                if solution.status is IKStatus.JOINT_LIMIT
                else ControlStatus.IK_FAILED
            )
            return self._stop(
                ControlOutcome(status, f"{where}: {solution.reason} The target stays where it was.")
            )
        verdict = self.safety.check_command(solution.joints_rad, measured, self.config.period_s)
        if not verdict.ok:
            return self._stop(ControlOutcome(verdict.status, f"{where}: {verdict.reason}"))

        self._target = candidate
        self._period = period
        gripper_period = plan.periods if self.config.gripper_after_motion else 1
        gripper = self.gripper.request(plan.gripper_value) if period == gripper_period else None
        step_index = self._step
        if period == plan.periods:
            self._step += 1
            self._period = 0
            self._plan = None
        num_steps = len(self._chunk)
        finished = self._step == num_steps and not self._open and not self._stream_error
        if finished:
            self._chunk = None
        status = ControlStatus.WORKSPACE_CLIPPED if plan.clip_note else ControlStatus.OK
        reason = f"{where}: workspace clipped the goal ({plan.clip_note})" if plan.clip_note else ""
        return PeriodCommand(
            status=status,
            reason=reason,
            joints_rad=solution.joints_rad,
            gripper=gripper,
            ee_target=candidate.copy(),
            step_index=step_index,
            steps_done=self._step,
            num_steps=num_steps,
            finished=finished,
        )

    def cancel(
        self,
        reason: str = "cancelled by the caller",
        status: ControlStatus = ControlStatus.CANCELLED,
    ) -> PeriodCommand:
        """End the chunk in progress now; returns its final output (``status``, or IDLE).

        No further command comes for it; the target stays where the last command put it.
        """
        if self._chunk is None:
            return self._output(ControlStatus.IDLE, "", finished=False)
        return self._stop(ControlOutcome(status, reason))

    def estop(self, reason: str = "emergency stop") -> PeriodCommand:
        """Latch the emergency stop: end any chunk and command nothing until released."""
        self._estop_reason = reason
        if self._chunk is None:
            return self._output(ControlStatus.ESTOPPED, reason, finished=False)
        return self._stop(ControlOutcome(ControlStatus.ESTOPPED, reason))

    def release_estop(self, measured_joints_rad: np.ndarray | None) -> ControlOutcome:
        """Release the emergency stop and reset the target to the measured pose.

        The arm may have moved while stopped, so the old target is not trusted. Stays latched
        (and says why) when the measurement is unusable.
        """
        verdict = self.reset_target(measured_joints_rad)
        if verdict.ok:
            self._estop_reason = None
        return verdict

    def _plan_step(self, step: np.ndarray) -> _StepPlan:
        start = self._target.copy()
        goal_m = start[:3, 3] + step[:3]
        clip_note = ""
        if self.config.workspace is not None:
            goal_m, clip_note = self.config.workspace.clip(goal_m)
        translation_m = goal_m - start[:3, 3]
        rotation_vec = so3_log(euler_xyz_to_matrix(*step[3:6]))
        periods = max(
            1,
            math.ceil(np.linalg.norm(translation_m) / self.config.max_step_m - _PERIOD_COUNT_SLACK),
            math.ceil(
                np.linalg.norm(rotation_vec) / self.config.max_rotation_step_rad
                - _PERIOD_COUNT_SLACK
            ),
        )
        return _StepPlan(start, translation_m, rotation_vec, periods, float(step[6]), clip_note)

    def _end_of_stream(self) -> PeriodCommand:
        """Every received step executed and the stream closed: the chunk ends (no command)."""
        if self._stream_error:
            reason = f"producer ended the stream early: {self._stream_error}"
            return self._stop(ControlOutcome(ControlStatus.STREAM_ERROR, reason))
        return self._stop(ControlOutcome(ControlStatus.OK, ""))

    def _check_duration(self, num_steps: int, periods: int) -> ControlOutcome:
        if periods <= self.config.max_chunk_periods:
            return OK
        return ControlOutcome(
            ControlStatus.TOO_LONG,
            f"chunk of {num_steps} steps takes about {periods * self.config.period_s:.1f} s "
            f"({periods} control periods of {self.config.period_s} s), more than "
            f"max_chunk_duration_s = {self.config.max_chunk_duration_s} s; send shorter chunks "
            "(or raise max_chunk_duration_s)",
        )

    def _parse_chunk(
        self, chunk: np.ndarray, first_index: int, allow_empty: bool
    ) -> tuple[np.ndarray | None, ControlOutcome]:
        """(N, 7) clipped steps and OK with a note of what was clipped, or (None, why refused).

        ``first_index`` is the chunk index of the first step (for the note and the step limit).
        """
        try:
            raw = np.asarray(chunk, dtype=float)
        except (TypeError, ValueError) as error:
            return None, ControlOutcome(
                ControlStatus.INVALID_INPUT,
                f"chunk is not a numeric array ({error}); send an (N, 4) float array",
            )
        if allow_empty and raw.size == 0:
            return np.zeros((0, ROTATION_CHUNK_COLUMNS)), OK
        columns = (
            (TRANSLATION_CHUNK_COLUMNS, ROTATION_CHUNK_COLUMNS)
            if self.config.use_rotation
            else (TRANSLATION_CHUNK_COLUMNS,)
        )
        if raw.ndim != 2 or raw.shape[0] == 0 or raw.shape[1] not in columns:
            rotation_hint = (
                ""
                if self.config.use_rotation
                else "; (N, 7) chunks with rotation need ExecutorConfig.use_rotation=True"
            )
            return None, ControlOutcome(
                ControlStatus.INVALID_INPUT,
                f"chunk must have shape (N >= 1, one of {columns}), got {raw.shape}{rotation_hint}",
            )
        verdict = self.check_steps(first_index + raw.shape[0])
        if not verdict.ok:
            return None, verdict
        if not np.all(np.isfinite(raw)):
            why = "chunk contains NaN or infinite values; refusing to move"
            return None, ControlOutcome(ControlStatus.INVALID_INPUT, why)
        steps = np.zeros((raw.shape[0], ROTATION_CHUNK_COLUMNS))
        steps[:, :3] = raw[:, :3]
        steps[:, 6] = raw[:, -1]
        if raw.shape[1] == ROTATION_CHUNK_COLUMNS:
            steps[:, 3:6] = raw[:, 3:6]
        clipped = steps.copy()
        clipped[:, :3] = np.clip(steps[:, :3], -self.config.max_action_m, self.config.max_action_m)
        clipped[:, 3:6] = np.clip(
            steps[:, 3:6], -self.config.max_action_rad, self.config.max_action_rad
        )
        clipped[:, 6] = np.clip(steps[:, 6], 0.0, 1.0)
        changed = first_index + np.flatnonzero(np.any(clipped != steps, axis=1))
        note = (
            f"steps {changed.tolist()} clipped to +-{self.config.max_action_m} m, "
            f"+-{self.config.max_action_rad} rad, gripper [0, 1]"
            if changed.size
            else ""
        )
        return clipped, ControlOutcome(ControlStatus.OK, note)

    def _stop(self, verdict: ControlOutcome) -> PeriodCommand:
        num_steps = 0 if self._chunk is None else len(self._chunk)
        self._chunk = None
        self._plan = None
        self._period = 0
        self._open = False
        return self._output(verdict.status, verdict.reason, finished=True, num_steps=num_steps)

    def _output(
        self, status: ControlStatus, reason: str, finished: bool, num_steps: int | None = None
    ) -> PeriodCommand:
        if num_steps is None:
            num_steps = 0 if self._chunk is None else len(self._chunk)
        return PeriodCommand(
            status=status,
            reason=reason,
            joints_rad=None,
            gripper=None,
            ee_target=self.target,
            step_index=self._step,
            steps_done=self._step,
            num_steps=num_steps,
            finished=finished,
        )
