"""WidowXSim: the MuJoCo tabletop with the wx250s, driven like the Interbotix servos (no ROS).

Joints in rad (``WX250S.joint_names`` order), finger positions in m (the driver's
``left_finger``), poses 4x4 in ``wx250s/base_link``, times in s of simulated time.

- Arm: :meth:`WidowXSim.set_arm_targets` starts a move of the servo setpoints to new goals under
  each joint's profile, set with :meth:`WidowXSim.set_profile` (default time-based 2000 ms /
  300 ms, like the real driver at start), so a goal is reached over ``Profile_Velocity`` ms.
- Gripper: :meth:`WidowXSim.set_gripper` in PWM mode (the driver's default; positive opens, the
  finger speed and grip force are proportional to the effort) or in position mode (the servo
  angle in rad, as xs_sdk takes it, turned into a finger target by the swing-arm linkage and
  reached by a P-loop on the same motor, capped in effort).
- Torque per servo (:meth:`WidowXSim.set_torque`): a servo without torque goes limp. Gravity
  compensation stands for the servos' holding torque; a limp joint feels the full gravity load.
- :meth:`WidowXSim.step` advances physics; :meth:`WidowXSim.render` draws the scene camera.
- :meth:`WidowXSim.reset` draws a scene layout from a seed and puts the arm at its start pose
  (gripper down, open), then lets the objects settle.

Grasping is physical: friction between the pads and the object holds it (no weld or grasp
assist).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np

from vlm2vla_policy.robot import BRIDGE_NEUTRAL_JOINTS_RAD, BRIDGE_START_POSITION_M, GripperMode
from vlm2vla_policy.robot.joint_moves import solve_start_pose
from vlm2vla_sim.camera import CameraConfig, SimCamera
from vlm2vla_sim.linkage import GripperLinkage
from vlm2vla_sim.model import EE_SITE, GRIPPER_MOTOR, LEFT_FINGER, RIGHT_FINGER, RobotModelConfig
from vlm2vla_sim.predicates import PredicateConfig, ScenePredicates
from vlm2vla_sim.profile import JointProfile, ProfileSettings
from vlm2vla_sim.scene import SceneConfig, SceneLayout, sample_layout
from vlm2vla_sim.tasks import Task, parse_task
from vlm2vla_sim.world import TABLE, PhysicsConfig, build_mjcf


@dataclass(frozen=True)
class SimConfig:
    """Everything the simulator is built from."""

    robot: RobotModelConfig = field(default_factory=RobotModelConfig)  # arm and gripper model
    scene: SceneConfig = field(default_factory=SceneConfig)  # objects and their randomisation
    camera: CameraConfig = field(default_factory=CameraConfig)  # the scene camera
    physics: PhysicsConfig = field(default_factory=PhysicsConfig)  # solver and table
    predicates: PredicateConfig = field(default_factory=PredicateConfig)  # success thresholds
    linkage: GripperLinkage = field(default_factory=GripperLinkage)  # gripper angle <-> finger
    # EE at reset (m, base frame), gripper down: Bridge's evaluation start, as controller_node's.
    start_position_m: tuple[float, float, float] = BRIDGE_START_POSITION_M
    settle_s: float = 0.3  # physics time after a reset for the objects to come to rest, s
    # Arm profile at start: the real driver's default (time-based 2000 ms / 300 ms).
    initial_profile: ProfileSettings = field(default_factory=ProfileSettings)
    # Position mode of the gripper: P gain (PWM per m of finger error) and its effort cap.
    gripper_position_gain_pwm_per_m: float = 70000.0
    gripper_position_max_pwm: float = 350.0


@dataclass(frozen=True)
class TaskState:
    """What the evaluation needs to know about the scene now (JSON-friendly)."""

    instruction: str  # the task's instruction
    seed: int  # the layout's seed
    time_s: float  # simulated time since the reset, s
    success: bool  # the task's predicate holds now
    lifted: bool  # the task's object is lifted
    placed: bool | None  # the object rests on/in the task's target (None for a pick task)
    objects_m: dict[str, tuple[float, float, float]]  # object origins, base frame, m
    ee_m: tuple[float, float, float]  # ee_gripper_link's origin, base frame, m
    finger_m: float  # measured left finger position (0 closed), m

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for JSON)."""
        return {
            "instruction": self.instruction,
            "seed": self.seed,
            "time_s": round(self.time_s, 4),
            "success": self.success,
            "lifted": self.lifted,
            "placed": self.placed,
            "objects_m": {k: [round(v, 4) for v in p] for k, p in self.objects_m.items()},
            "ee_m": [round(v, 4) for v in self.ee_m],
            "finger_m": round(self.finger_m, 4),
        }


class WidowXSim:
    """The simulated wx250s tabletop. Not thread-safe: guard it with one lock."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        robot = self.config.robot.robot
        self.robot = robot
        self.mjcf = build_mjcf(
            self.config.robot, self.config.scene, self.config.camera, self.config.physics
        )
        self.model = mujoco.MjModel.from_xml_string(self.mjcf)
        self.data = mujoco.MjData(self.model)
        self.predicates = ScenePredicates(self.model, self.config.scene, self.config.predicates)
        self._arm_qpos = np.array([self.model.joint(n).qposadr[0] for n in robot.joint_names])
        self._arm_dof = np.array([self.model.joint(n).dofadr[0] for n in robot.joint_names])
        self._arm_act = np.array([self.model.actuator(n).id for n in robot.joint_names])
        self._finger_qpos = [self.model.joint(n).qposadr[0] for n in (LEFT_FINGER, RIGHT_FINGER)]
        self._gripper_act = self.model.actuator(GRIPPER_MOTOR).id
        self._ee_site = self.model.site(EE_SITE).id
        self._table_geom = self.model.geom(TABLE).id
        self._substep_s = self.model.opt.timestep
        # Velocity feed-forward of each servo: with it the position servo (force = kp * error -
        # kv * speed) follows a moving setpoint without the lag kv * speed / kp.
        drives = self.config.robot.arm.drives
        self._feed_forward_s = np.array([d.kv / d.kp for d in drives])
        start = solve_start_pose(
            self.config.start_position_m, np.array(BRIDGE_NEUTRAL_JOINTS_RAD), robot
        )
        if not start.ok:
            raise ValueError(
                f"start position {self.config.start_position_m} is unreachable with the gripper "
                f"down: {start.reason}"
            )
        self.start_joints_rad = start.joints_rad
        self.profile_settings = (self.config.initial_profile,) * robot.num_joints
        self._profile = JointProfile(self.start_joints_rad)
        self._arm_torque = np.ones(robot.num_joints, dtype=bool)
        self._gripper_torque = True
        self._gripper_mode = GripperMode.PWM
        self._gripper_command = 0.0
        self._pending_s = 0.0
        self._camera: SimCamera | None = None
        self.layout: SceneLayout = sample_layout(0, self.config.scene)
        self.task: Task | None = None
        self.reset(0)

    # --- episode --------------------------------------------------------------------------
    def reset(self, seed: int, task: Task | str | None = None) -> SceneLayout:
        """New layout from ``seed``, arm at the start pose with the gripper open, objects settled.

        ``task`` (a :class:`Task` or its instruction) is kept for :meth:`task_state`; None keeps
        the current one. Profiles, gripper mode and torque stay as they were set; the gripper
        command is cleared (zero PWM, or the open angle in position mode).
        """
        if task is not None:
            self.task = parse_task(task) if isinstance(task, str) else task
        self.layout = sample_layout(seed, self.config.scene)
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self._arm_qpos] = self.start_joints_rad
        self.data.qpos[self._finger_qpos] = self.robot.finger_open_m
        for placement in self.layout.placements:
            body = self.model.body(placement.name)
            address = self.model.jnt_qposadr[body.jntadr[0]]
            half = placement.heading_rad / 2.0
            pose = [*placement.position_m, np.cos(half), 0.0, 0.0, np.sin(half)]
            self.data.qpos[address : address + 7] = pose
            self.model.geom_rgba[self.model.geom_bodyid == body.id] = placement.rgba
        self.model.geom_rgba[self._table_geom] = self.layout.table_rgba
        self._profile = JointProfile(self.start_joints_rad)
        self._gripper_command = (
            self.config.linkage.angle_rad(self.robot.finger_open_m)
            if self._gripper_mode is GripperMode.POSITION
            else 0.0
        )
        mujoco.mj_forward(self.model, self.data)
        self.step(self.config.settle_s)
        self.data.time = 0.0
        self._pending_s = 0.0
        self._profile.hold(self.joints())
        return self.layout

    # --- commands -------------------------------------------------------------------------
    def set_profile(self, settings: ProfileSettings, joints: Sequence[str] | None = None) -> None:
        """Use ``settings`` for the next moves of ``joints`` (arm joint names; default all).

        Like writing Profile_Velocity / Profile_Acceleration to those servos.
        """
        index = self._arm_index(joints)
        profiles = list(self.profile_settings)
        for i in index:
            profiles[i] = settings
        self.profile_settings = tuple(profiles)

    def set_arm_targets(self, joints_rad: np.ndarray, duration_s: float | None = None) -> None:
        """Move the arm's setpoints to ``joints_rad`` (rad, chain order) under the profiles.

        ``duration_s`` overrides the profiles' move time (s). Goals beyond a joint's range are
        clamped to it by the servo (the driver checks no limits; neither does this). Servos
        without torque ignore their goal.
        """
        goal = np.asarray(joints_rad, dtype=float)
        if goal.shape != (self.robot.num_joints,) or not np.all(np.isfinite(goal)):
            raise ValueError(
                f"arm targets must be {self.robot.num_joints} finite angles in rad "
                f"{self.robot.joint_names}, got {joints_rad!r}"
            )
        powered = np.flatnonzero(self._arm_torque)
        self._profile.set_goal(goal, self.data.time, self.profile_settings, duration_s, powered)

    def set_joint_target(self, name: str, position_rad: float) -> None:
        """Move one arm joint's setpoint to ``position_rad`` under its profile."""
        (i,) = self._arm_index([name])
        if not np.isfinite(position_rad):
            raise ValueError(f"{name} target must be finite, got {position_rad}")
        if self._arm_torque[i]:
            goal = self._profile.goal_rad
            goal[i] = position_rad
            self._profile.set_goal(goal, self.data.time, self.profile_settings, None, [i])

    def set_gripper(self, command: float, mode: GripperMode) -> None:
        """Command the gripper: PWM effort (positive opens) or the servo angle (rad)."""
        if not np.isfinite(command):
            raise ValueError(f"gripper command must be finite, got {command}")
        self._gripper_mode = mode
        self._gripper_command = float(command)

    @property
    def gripper_mode(self) -> GripperMode:
        """How the last gripper command is read."""
        return self._gripper_mode

    def set_torque(self, enabled: bool, joints: Sequence[str] | None = None) -> None:
        """Torque on (hold the present position) or off (limp) for ``joints`` (default all).

        Names are arm joints or ``"gripper"``.
        """
        names = [*self.robot.joint_names, "gripper"] if joints is None else list(joints)
        if "gripper" in names:
            names.remove("gripper")
            self._gripper_torque = enabled
            if enabled and self._gripper_mode is GripperMode.POSITION:
                self._gripper_command = self.config.linkage.angle_rad(self.finger_m())
            elif enabled:
                self._gripper_command = 0.0
        index = self._arm_index(names)
        self._arm_torque[index] = enabled
        self._profile.hold(self.joints(), index)

    def torque_enabled(self, name: str) -> bool:
        """True while servo ``name`` (arm joint or "gripper") has torque."""
        if name == "gripper":
            return self._gripper_torque
        return bool(self._arm_torque[self._arm_index([name])[0]])

    def _arm_index(self, names: Sequence[str] | None) -> np.ndarray:
        if names is None:
            return np.arange(self.robot.num_joints)
        unknown = [n for n in names if n not in self.robot.joint_names]
        if unknown:
            raise ValueError(f"no arm joint {unknown}; joints: {self.robot.joint_names}")
        return np.array([self.robot.joint_names.index(n) for n in names], dtype=int)

    # --- time -----------------------------------------------------------------------------
    @property
    def time_s(self) -> float:
        """Simulated time since the last reset, s."""
        return float(self.data.time)

    def step(self, duration_s: float) -> None:
        """Advance physics by ``duration_s`` (whole physics steps; the remainder carries over)."""
        if duration_s < 0.0:
            raise ValueError(f"cannot step back in time ({duration_s} s)")
        self._pending_s += duration_s
        steps = int(self._pending_s / self._substep_s + 1e-9)
        self._pending_s -= steps * self._substep_s
        for _ in range(steps):
            self._apply_controls()
            mujoco.mj_step(self.model, self.data)

    def _apply_controls(self) -> None:
        ctrl = self.data.ctrl
        setpoint, speed = self._profile.state(self.data.time)
        goal = setpoint + self._feed_forward_s * speed
        # A limp servo: a goal that makes its force zero, and its joint feels the gravity the
        # compensation (which stands for the servo's holding torque) would otherwise cancel.
        qvel = self.data.qvel[self._arm_dof]
        limp_goal = self.data.qpos[self._arm_qpos] + self._feed_forward_s * qvel
        ctrl[self._arm_act] = np.where(self._arm_torque, goal, limp_goal)
        gravity = self.data.qfrc_gravcomp[self._arm_dof]
        self.data.qfrc_applied[self._arm_dof] = np.where(self._arm_torque, 0.0, -gravity)
        effort = self._gripper_command
        if self._gripper_mode is GripperMode.POSITION:
            cap = self.config.gripper_position_max_pwm
            target_m = self.config.linkage.finger_m(self._gripper_command)
            gain = self.config.gripper_position_gain_pwm_per_m
            effort = float(np.clip(gain * (target_m - self.finger_m()), -cap, cap))
        ctrl[self._gripper_act] = effort if self._gripper_torque else 0.0

    # --- measurements ---------------------------------------------------------------------
    def joints(self) -> np.ndarray:
        """Measured arm joints, rad."""
        return self.data.qpos[self._arm_qpos].copy()

    def joint_velocities(self) -> np.ndarray:
        """Measured arm joint speeds, rad/s."""
        return self.data.qvel[self._arm_dof].copy()

    def arm_setpoints(self) -> np.ndarray:
        """Where the servos are driving the arm now, rad."""
        return self._profile.setpoint(self.data.time)

    def finger_m(self) -> float:
        """Measured left finger position (the driver's ``left_finger``), m."""
        return float(self.data.qpos[self._finger_qpos[0]])

    def gripper_angle_rad(self) -> float:
        """The gripper servo angle matching the measured finger (the driver's ``gripper``), rad."""
        return self.config.linkage.angle_rad(self.finger_m())

    def ee_pose(self) -> np.ndarray:
        """Pose of ``ee_gripper_link`` (4x4, base frame, m)."""
        pose = np.eye(4)
        pose[:3, :3] = self.data.site_xmat[self._ee_site].reshape(3, 3)
        pose[:3, 3] = self.data.site_xpos[self._ee_site]
        return pose

    def object_pose(self, name: str) -> np.ndarray:
        """Pose of object ``name``'s body (4x4, base frame, m)."""
        body = self.model.body(name).id
        pose = np.eye(4)
        pose[:3, :3] = self.data.xmat[body].reshape(3, 3)
        pose[:3, 3] = self.data.xpos[body]
        return pose

    def object_positions(self) -> dict[str, np.ndarray]:
        """Origin of every object (base frame, m)."""
        return {
            s.name: self.data.xpos[self.model.body(s.name).id].copy()
            for s in self.config.scene.objects
        }

    # --- predicates -----------------------------------------------------------------------
    def lifted(self, name: str) -> bool:
        """True when object ``name`` is held above the table."""
        return self.predicates.lifted(self.data, name)

    def placed(self, name: str, target: str) -> bool:
        """True when object ``name`` rests on/in ``target``."""
        return self.predicates.placed(self.data, name, target)

    def success(self, task: Task | None = None) -> bool:
        """True when ``task`` (default: the reset's task) is achieved now."""
        task = task or self.task
        if task is None:
            raise ValueError("no task: pass one or give it to reset()")
        return self.predicates.succeeded(self.data, task)

    def task_state(self) -> TaskState:
        """The task's predicates and the object positions now."""
        if self.task is None:
            raise ValueError("no task: give one to reset()")
        task = self.task
        return TaskState(
            instruction=task.instruction,
            seed=self.layout.seed,
            time_s=self.time_s,
            success=self.success(task),
            lifted=self.lifted(task.object),
            placed=self.placed(task.object, task.target) if task.target else None,
            objects_m={k: tuple(map(float, v)) for k, v in self.object_positions().items()},
            ee_m=tuple(map(float, self.ee_pose()[:3, 3])),
            finger_m=self.finger_m(),
        )

    # --- images ---------------------------------------------------------------------------
    def render(self) -> np.ndarray:
        """The scene camera's image now: (height, width, 3) uint8 RGB (renderer made lazily)."""
        if self._camera is None:
            self._camera = SimCamera(self.model, self.config.camera)
        self._camera.capture(self.data)
        return self._camera.pixels()

    def close(self) -> None:
        """Free the renderer, if one was made."""
        if self._camera is not None:
            self._camera.close()
            self._camera = None
