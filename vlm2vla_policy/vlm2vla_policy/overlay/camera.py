"""A calibrated camera: where a base-frame point appears in its image (ROS-free, numpy only).

Pixel coordinates follow OpenCV and ``sensor_msgs/CameraInfo``: ``u`` to the right, ``v`` down,
and the *centre* of the top-left pixel at (0, 0). Intrinsics are the raw image's ``K`` and its
distortion ``D`` (``plumb_bob`` or ``rational_polynomial``: OpenCV's k1 k2 p1 p2 [k3 [k4 k5
k6]]). The extrinsics are the pose of the camera's *optical* frame (REP 103: +z forward, +x
right, +y down) in the robot base frame (``wx250s/base_link``), metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

DISTORTION_MODELS = ("", "plumb_bob", "rational_polynomial")
"""CameraInfo distortion models :class:`PinholeCamera` projects with ("" = none)."""
_MAX_DISTORTION = 8  # k1 k2 p1 p2 k3 k4 k5 k6
_MIN_DEPTH_M = 1e-6  # a point closer to the image plane than this is behind the camera


class CameraModelError(ValueError):
    """Camera parameters that cannot describe a camera (uncalibrated, unknown distortion)."""


def look_at_pose(position_m: Any, look_at_m: Any) -> np.ndarray:
    """Pose (4x4, base frame) of an optical frame at ``position_m`` looking at ``look_at_m``.

    The image rows are level: image right is horizontal (no roll about the optical axis), image
    up leans towards +z. A camera looking straight up or down has no such pose.
    """
    position = np.asarray(position_m, dtype=float)
    forward = np.asarray(look_at_m, dtype=float) - position
    distance = float(np.linalg.norm(forward))
    if distance < _MIN_DEPTH_M:
        raise CameraModelError("the look-at point must differ from the camera position")
    forward /= distance
    right = np.cross(forward, [0.0, 0.0, 1.0])
    if np.linalg.norm(right) < 1e-9:
        raise CameraModelError(
            "a camera looking straight up or down has no level image rows; tilt it or move the "
            "look-at point sideways"
        )
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    pose = np.eye(4)
    pose[:3, :3] = np.column_stack([right, down, forward])
    pose[:3, 3] = position
    return pose


def intrinsics_from_fovy(width: int, height: int, fovy_deg: float) -> np.ndarray:
    """``K`` of an ideal camera with square pixels, vertical field of view ``fovy_deg``.

    The principal point is the image centre, ((width - 1) / 2, (height - 1) / 2) in pixel-centre
    coordinates (a renderer such as MuJoCo's puts the optical axis there).
    """
    focal_px = (height / 2) / np.tan(np.radians(fovy_deg) / 2)
    return np.array(
        [[focal_px, 0.0, (width - 1) / 2], [0.0, focal_px, (height - 1) / 2], [0.0, 0.0, 1.0]]
    )


@dataclass(frozen=True, eq=False)
class PinholeCamera:
    """Intrinsics, distortion and pose of one camera; :meth:`project` maps points to pixels."""

    width: int  # image width, pixels
    height: int  # image height, pixels
    k: np.ndarray  # 3x3 intrinsic matrix of the raw image, pixels
    base_from_camera: np.ndarray  # 4x4 pose of the optical frame in the base frame, m
    distortion: np.ndarray = field(default_factory=lambda: np.zeros(5))  # OpenCV order

    def __post_init__(self) -> None:
        k = np.asarray(self.k, dtype=float).reshape(3, 3)
        if not (k[0, 0] > 0 and k[1, 1] > 0 and k[2, 2] == 1.0 and np.isfinite(k).all()):
            raise CameraModelError(
                f"camera matrix K {k.ravel().tolist()} is not calibrated (fx, fy > 0, K[2][2] = 1)"
            )
        distortion = np.asarray(self.distortion, dtype=float).ravel()
        if len(distortion) > _MAX_DISTORTION:
            raise CameraModelError(
                f"{len(distortion)} distortion coefficients; at most {_MAX_DISTORTION} (k1 k2 p1 "
                "p2 k3 k4 k5 k6)"
            )
        pose = np.asarray(self.base_from_camera, dtype=float).reshape(4, 4)
        object.__setattr__(self, "k", k)
        object.__setattr__(self, "distortion", distortion)
        object.__setattr__(self, "base_from_camera", pose)

    @classmethod
    def from_camera_info(cls, info: Any, base_from_camera: np.ndarray) -> PinholeCamera:
        """The camera of a ``sensor_msgs/CameraInfo`` (duck-typed) placed at ``base_from_camera``.

        Raises :class:`CameraModelError` for an uncalibrated message (K all zero) or a distortion
        model other than those in :data:`DISTORTION_MODELS`.
        """
        model = info.distortion_model
        if model not in DISTORTION_MODELS:
            raise CameraModelError(
                f"camera_info distortion model {model!r} is not supported; use one of "
                f"{[m for m in DISTORTION_MODELS if m]} (or a rectified image without distortion)"
            )
        return cls(
            width=int(info.width),
            height=int(info.height),
            k=np.asarray(info.k, dtype=float),
            base_from_camera=base_from_camera,
            distortion=np.asarray(info.d, dtype=float) if model else np.zeros(5),
        )

    def scaled(self, factor: float) -> PinholeCamera:
        """The same camera seen in its image resized by ``factor`` (as cv2.resize samples it)."""
        scale = np.diag([factor, factor, 1.0])
        k = scale @ self.k
        # Pixel centres: u + 0.5 scales, so u' = factor * u + (factor - 1) / 2.
        k[:2, 2] += (factor - 1.0) / 2.0
        return PinholeCamera(
            width=round(self.width * factor),
            height=round(self.height * factor),
            k=k,
            base_from_camera=self.base_from_camera,
            distortion=self.distortion,
        )

    def to_camera(self, points_m: Any) -> np.ndarray:
        """Base-frame points (N x 3, m) in the optical frame (N x 3, m)."""
        points = np.asarray(points_m, dtype=float).reshape(-1, 3)
        rotation, origin = self.base_from_camera[:3, :3], self.base_from_camera[:3, 3]
        return (points - origin) @ rotation

    def project(self, points_m: Any) -> tuple[np.ndarray, np.ndarray]:
        """Pixels (N x 2: u, v) of base-frame points (N x 3, m), and which lie in front (N,).

        Points behind the camera get NaN pixels and False; a point in front may still fall
        outside the image.
        """
        camera = self.to_camera(points_m)
        depth = camera[:, 2]
        front = depth > _MIN_DEPTH_M
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(front, camera[:, 0] / depth, np.nan)
            y = np.where(front, camera[:, 1] / depth, np.nan)
        x, y = self._distort(x, y)
        u = self.k[0, 0] * x + self.k[0, 1] * y + self.k[0, 2]
        v = self.k[1, 1] * y + self.k[1, 2]
        return np.column_stack([u, v]), front

    def _distort(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """OpenCV's radial-tangential model on normalised image coordinates."""
        d = np.zeros(_MAX_DISTORTION)
        d[: len(self.distortion)] = self.distortion
        k1, k2, p1, p2, k3, k4, k5, k6 = d
        if not d.any():
            return x, y
        r2 = x * x + y * y
        radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return xd, yd
