"""The fixed scene camera (Bridge's over-the-shoulder view) and offscreen rendering.

Bridge's ``images0`` camera stands behind the robot and to one side, above the table, looking
down at the workspace over the arm's shoulder. :class:`CameraConfig` places such a camera by
position and look-at point in ``wx250s/base_link`` (m). Rendering uses MuJoCo's offscreen
renderer; on a machine without a display set ``MUJOCO_GL=egl`` before importing mujoco.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import mujoco
import numpy as np

from vlm2vla_policy.overlay import PinholeCamera, intrinsics_from_fovy, look_at_pose
from vlm2vla_policy.overlay.config import BRIDGE_CAMERA_LOOK_AT_M, BRIDGE_CAMERA_POSITION_M
from vlm2vla_policy.settings import require, setting, validate
from vlm2vla_sim.mjcf import sub

CAMERA_NAME = "over_shoulder"


@dataclass(frozen=True)
class CameraConfig:
    """Where the scene camera stands and what it sees."""

    position_m: tuple[float, float, float] = setting(
        BRIDGE_CAMERA_POSITION_M, "camera centre, base frame", unit="m"
    )
    look_at_m: tuple[float, float, float] = setting(
        BRIDGE_CAMERA_LOOK_AT_M, "point at the image centre, base frame", unit="m"
    )
    fovy_deg: float = setting(36.0, "vertical field of view", unit="degrees", low=1.0, high=170.0)
    width: int = setting(320, "camera image width", unit="pixels", low=1)
    height: int = setting(240, "camera image height", unit="pixels", low=1)
    shadows: bool = setting(False, "cast shadows (about 2-3x the render time on a CPU)")

    def __post_init__(self) -> None:
        validate(self)
        require(
            not np.allclose(self.position_m, self.look_at_m),
            "CameraConfig.look_at_m must differ from position_m",
        )


def look_at_xyaxes(position_m: np.ndarray, target_m: np.ndarray) -> np.ndarray:
    """MJCF ``xyaxes`` of a camera at ``position_m`` looking at ``target_m``, image up ~ +z.

    A MuJoCo camera looks along its -z axis with +x to the right and +y up in the image.
    """
    forward = np.asarray(target_m, dtype=float) - np.asarray(position_m, dtype=float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    if np.linalg.norm(right) < 1e-9:
        raise ValueError("a camera looking straight up or down has no defined image right")
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return np.concatenate([right, up])


def project_to_image(config: CameraConfig, point_m: np.ndarray) -> tuple[float, float]:
    """Pixel (u right, v down; 0, 0 = the top-left corner) where a base-frame point appears.

    Pinhole model of the MuJoCo camera :func:`add_camera` makes (square pixels, vertical field of
    view ``fovy_deg``); the point must be in front of the camera.
    """
    axes = look_at_xyaxes(np.array(config.position_m), np.array(config.look_at_m))
    right, up = axes[:3], axes[3:]
    back = np.cross(right, up)
    offset = np.asarray(point_m, dtype=float) - np.asarray(config.position_m, dtype=float)
    depth = -float(offset @ back)
    if depth <= 0.0:
        raise ValueError(f"point {point_m} is behind the camera")
    focal_px = (config.height / 2) / np.tan(np.radians(config.fovy_deg) / 2)
    u = config.width / 2 + focal_px * float(offset @ right) / depth
    v = config.height / 2 - focal_px * float(offset @ up) / depth
    return u, v


def pinhole(config: CameraConfig) -> PinholeCamera:
    """The camera model of the scene camera: its intrinsics (no distortion) and pose.

    What the simulator publishes as ``camera_info`` and what the overlay projects with; pixel
    centres at integer coordinates (OpenCV's convention), so a point :func:`project_to_image`
    puts at (u, v) lands at (u - 0.5, v - 0.5) here.
    """
    return PinholeCamera(
        width=config.width,
        height=config.height,
        k=intrinsics_from_fovy(config.width, config.height, config.fovy_deg),
        base_from_camera=look_at_pose(config.position_m, config.look_at_m),
    )


def add_camera(worldbody: ET.Element, config: CameraConfig) -> None:
    """Append the fixed scene camera."""
    xyaxes = look_at_xyaxes(np.array(config.position_m), np.array(config.look_at_m))
    sub(worldbody, "camera", name=CAMERA_NAME, pos=config.position_m, xyaxes=xyaxes,
        fovy=config.fovy_deg)  # fmt: skip


class SimCamera:
    """Offscreen renderer of the scene camera; one thread at a time may render.

    :meth:`capture` copies the scene out of ``data`` (fast; hold the simulation's lock) and
    :meth:`pixels` draws it (slow; needs no lock), so physics can run while a frame renders.
    The GL context is released after every frame, so the next one may come from another thread
    (the closed-loop evaluation renders from the policy's and the controller's threads in turn).
    """

    def __init__(self, model: mujoco.MjModel, config: CameraConfig) -> None:
        self.config = config
        self._renderer = mujoco.Renderer(model, height=config.height, width=config.width)
        self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = config.shadows
        _release_egl_context()

    def capture(self, data: mujoco.MjData) -> None:
        """Take the scene as it is in ``data`` now."""
        self._renderer.update_scene(data, camera=CAMERA_NAME)

    def pixels(self) -> np.ndarray:
        """Draw the last captured scene: (height, width, 3) uint8 RGB."""
        try:
            return self._renderer.render()
        finally:
            _release_egl_context()

    def close(self) -> None:
        """Free the GL context."""
        self._renderer.close()


def _release_egl_context() -> None:
    """Make no EGL context current on this thread (mujoco.Renderer leaves its own current).

    An EGL context can be current on one thread only; released, the next render may come from
    any thread (mujoco.Renderer makes its context current again in render()). No-op for other
    GL back ends.
    """
    if os.environ.get("MUJOCO_GL") != "egl":
        return
    from mujoco import egl

    if egl.EGL_DISPLAY is not None:
        none = egl.EGL.EGL_NO_SURFACE
        egl.EGL.eglMakeCurrent(egl.EGL_DISPLAY, none, none, egl.EGL.EGL_NO_CONTEXT)
