"""Shared fixtures of the simulator tests: offscreen rendering (EGL) and one simulator per module.

MUJOCO_GL is set before anything imports MuJoCo; child processes (the widowx_sim node) inherit it.
"""

import os

os.environ["MUJOCO_GL"] = "egl"

from vlm2vla_sim.testing import egl_renderer_works, sim

__all__ = ["egl_renderer_works", "sim"]
