"""Fixtures of the experiment tests: the simulator's (offscreen rendering, one sim per module)."""

import os

os.environ["MUJOCO_GL"] = "egl"  # before anything imports MuJoCo; child processes inherit it

from vlm2vla_sim.testing import egl_renderer_works, sim

__all__ = ["egl_renderer_works", "sim"]
