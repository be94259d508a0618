"""A scripted expert that solves the tabletop tasks from the simulator's ground truth.

It speaks the policy's language: each call returns an action chunk, rows ``[dx, dy, dz,
gripper]`` (metres in ``wx250s/base_link``, gripper 1 = open, 0 = closed; translations rounded to
the millimetre the text format carries), which the same :class:`vlm2vla_policy.robot.ChunkExecutor`
the controller node runs turns into arm commands, so its demonstrations look exactly like policy
actions. One chunk per subtask, planned from where the objects are *now*:

- pick up the <o>: reach above the <o>, descend, close, lift; if the fingers closed on nothing,
  open and try again (up to ``max_attempts``).
- put the <o> on/in the <t>: the same, then carry above the <t>, lower, open, retreat.

Positions are the commanded EE target (the executor's) and object origins from the simulator.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from vlm2vla_sim.scene import SceneConfig
from vlm2vla_sim.tasks import PICK, RELATIONS, Task

OPEN, CLOSED = 1.0, 0.0


@dataclass(frozen=True)
class ExpertConfig:
    """Heights, step sizes and patience of the expert (m unless stated)."""

    step_m: float = 0.03  # longest translation of one chunk step, m
    hover_above_m: float = 0.07  # pre-grasp height above the grasp point, m
    min_grasp_z_m: float = 0.010  # lowest EE height for a grasp (fingertips clear the table), m
    lift_z_m: float = 0.13  # EE height after lifting, m
    carry_z_m: float = 0.13  # EE height while carrying to the target, m
    release_clearance_m: float = 0.012  # gap between the object's bottom and the target, m
    retreat_m: float = 0.06  # how far to rise after the release, m
    close_wait_steps: int = 3  # still steps after closing (the fingers need about 0.4 s)
    open_wait_steps: int = 2  # still steps after opening
    # A grasp holds something when the finger stays this far above fully closed, m.
    holding_margin_m: float = 0.002
    max_attempts: int = 3  # grasp attempts before giving up

    def __post_init__(self) -> None:
        if not self.step_m > 0.0:
            raise ValueError(f"ExpertConfig.step_m must be > 0, got {self.step_m}")
        if self.max_attempts < 1:
            raise ValueError("ExpertConfig.max_attempts must be >= 1")


@dataclass(frozen=True)
class ExpertView:
    """What the expert reads each time it plans: ground truth of the simulator."""

    target_m: np.ndarray  # commanded EE target position (the executor's), base frame, m
    finger_m: float  # measured left finger position, m
    finger_closed_m: float  # left finger position when fully closed, m
    objects_m: dict[str, np.ndarray]  # object origins, base frame, m


@dataclass(frozen=True)
class ExpertChunk:
    """One chunk and the subtask it serves."""

    subtask: str  # e.g. "grasp the carrot"
    steps: np.ndarray  # (N, 4) [dx, dy, dz, gripper], m, base frame; 1 = open


class Phase(enum.Enum):
    """The expert's next subtask."""

    REACH = "reach"
    DESCEND = "descend"
    GRASP = "grasp"
    LIFT = "lift"
    CHECK = "check"
    CARRY = "carry"
    LOWER = "lower"
    RELEASE = "release"
    RETREAT = "retreat"
    DONE = "done"


def straight_steps(delta_m: np.ndarray, gripper: float, step_m: float) -> np.ndarray:
    """Rows ``[dx, dy, dz, gripper]`` along ``delta_m`` (m), each at most ``step_m`` long.

    Every row is rounded to the millimetre and the rows sum to ``delta_m`` rounded likewise.
    """
    total_mm = np.round(np.asarray(delta_m, dtype=float) * 1000.0)
    count = max(1, math.ceil(float(np.linalg.norm(total_mm)) / (step_m * 1000.0) - 1e-9))
    marks = np.round(np.outer(np.arange(count + 1) / count, total_mm))
    rows = np.diff(marks, axis=0) / 1000.0
    return np.column_stack([rows, np.full(count, gripper)])


def still_steps(count: int, gripper: float) -> np.ndarray:
    """``count`` rows that do not move and hold ``gripper``."""
    return np.column_stack([np.zeros((count, 3)), np.full(count, gripper)])


class ScriptedExpert:
    """Plans one chunk per subtask for a :class:`Task` from an :class:`ExpertView`."""

    def __init__(self, scene: SceneConfig, config: ExpertConfig | None = None) -> None:
        self.scene = scene
        self.config = config or ExpertConfig()
        self.task: Task | None = None
        self.phase = Phase.DONE
        self.attempts = 0

    def reset(self, task: Task) -> None:
        """Start the script for ``task``."""
        self.task = task
        self.phase = Phase.REACH
        self.attempts = 0

    @property
    def done(self) -> bool:
        """True once the script has nothing left to do (finished or out of attempts)."""
        return self.phase is Phase.DONE

    def next_chunk(self, view: ExpertView) -> ExpertChunk | None:
        """The next chunk, or None when done. Call when the previous chunk has finished."""
        if self.task is None:
            return None
        while self.phase is not Phase.DONE:
            chunk = self._plan(self.phase, view)
            if chunk is not None:
                return chunk
        return None

    def _plan(self, phase: Phase, view: ExpertView) -> ExpertChunk | None:
        """The chunk of ``phase`` (advancing the phase), or None when it needs no motion."""
        task, cfg = self.task, self.config
        name = task.object
        grasp = self._grasp_point(view.objects_m[name])
        here = view.target_m
        if phase is Phase.REACH:
            self.attempts += 1
            self.phase = Phase.DESCEND
            hover = grasp + np.array([0.0, 0.0, cfg.hover_above_m])
            return self._move(f"reach the {name}", hover - here, OPEN)
        if phase is Phase.DESCEND:
            self.phase = Phase.GRASP
            return self._move(f"reach the {name}", grasp - here, OPEN)
        if phase is Phase.GRASP:
            self.phase = Phase.LIFT
            return ExpertChunk(f"grasp the {name}", still_steps(1 + cfg.close_wait_steps, CLOSED))
        if phase is Phase.LIFT:
            self.phase = Phase.CHECK
            lifted = np.array([here[0], here[1], cfg.lift_z_m])
            return self._move(f"lift the {name}", lifted - here, CLOSED)
        if phase is Phase.CHECK:
            return self._check_grasp(view)
        return self._plan_place(phase, view)

    def _check_grasp(self, view: ExpertView) -> ExpertChunk | None:
        """Go on when something is held; else open for another attempt, or give up."""
        cfg = self.config
        if view.finger_m > view.finger_closed_m + cfg.holding_margin_m:
            self.phase = Phase.DONE if self.task.kind == PICK else Phase.CARRY
            return None
        if self.attempts >= cfg.max_attempts:
            self.phase = Phase.DONE
            return None
        self.phase = Phase.REACH
        return ExpertChunk("open the gripper", still_steps(1 + cfg.open_wait_steps, OPEN))

    def _plan_place(self, phase: Phase, view: ExpertView) -> ExpertChunk | None:
        task, cfg = self.task, self.config
        name, target_name = task.object, task.target
        target = view.objects_m[target_name]
        here = view.target_m
        if phase is Phase.CARRY:
            self.phase = Phase.LOWER
            above = np.array([target[0], target[1], cfg.carry_z_m])
            return self._move(f"move the {name} to the {target_name}", above - here, CLOSED)
        if phase is Phase.LOWER:
            self.phase = Phase.RELEASE
            # The held object's bottom hangs this far below the EE.
            hang_m = here[2] - view.objects_m[name][2] + self.scene.spec(name).rest_height_m
            surface_z = target[2] + self.scene.spec(target_name).support_height_m
            release = np.array([target[0], target[1], surface_z + hang_m + cfg.release_clearance_m])
            subtask = f"place the {name} {RELATIONS[target_name]} the {target_name}"
            return self._move(subtask, release - here, CLOSED)
        if phase is Phase.RELEASE:
            self.phase = Phase.RETREAT
            return ExpertChunk(f"release the {name}", still_steps(1 + cfg.open_wait_steps, OPEN))
        self.phase = Phase.DONE
        return self._move("move the gripper away", np.array([0.0, 0.0, cfg.retreat_m]), OPEN)

    def _grasp_point(self, position_m: np.ndarray) -> np.ndarray:
        z = max(position_m[2], self.config.min_grasp_z_m)
        return np.array([position_m[0], position_m[1], z])

    def _move(self, subtask: str, delta_m: np.ndarray, gripper: float) -> ExpertChunk:
        return ExpertChunk(subtask, straight_steps(delta_m, gripper, self.config.step_m))
