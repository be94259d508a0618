"""MuJoCo WidowX 250s tabletop speaking the Interbotix driver interface; a scripted expert.

The library is ROS-free: :class:`WidowXSim` (physics, camera, success predicates),
:class:`SimDriver` (the xs_sdk driver's semantics), :class:`ScriptedExpert` and
:func:`run_episode` (demonstrations through the policy's chunk executor). The ROS node
(``widowx_sim``) is a thin adapter in :mod:`vlm2vla_sim.nodes`. Recording demonstrations,
closed-loop evaluation and the demo live in ``vlm2vla_experiments``.

Rendering is offscreen: unless ``MUJOCO_GL`` is already set, importing this package selects EGL
(no display needed) before MuJoCo is loaded; set ``MUJOCO_GL=glfw`` (or ``osmesa``) to override.
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

from vlm2vla_sim.driver import DriverConfig, DriverError, SimDriver
from vlm2vla_sim.env import SimConfig, TaskState, WidowXSim
from vlm2vla_sim.expert import ExpertChunk, ExpertConfig, ExpertView, ScriptedExpert
from vlm2vla_sim.profile import ProfileSettings
from vlm2vla_sim.rollout import ExpertEpisode, RolloutConfig, run_episode
from vlm2vla_sim.scene import SceneConfig, SceneLayout, sample_layout
from vlm2vla_sim.tasks import TASKS, Task, parse_task

__all__ = [
    "TASKS",
    "DriverConfig",
    "DriverError",
    "ExpertChunk",
    "ExpertConfig",
    "ExpertEpisode",
    "ExpertView",
    "ProfileSettings",
    "RolloutConfig",
    "SceneConfig",
    "SceneLayout",
    "ScriptedExpert",
    "SimConfig",
    "SimDriver",
    "Task",
    "TaskState",
    "WidowXSim",
    "parse_task",
    "run_episode",
    "sample_layout",
]
