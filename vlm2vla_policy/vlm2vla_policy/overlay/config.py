"""Settings of the annotated camera image (policy_node's ``~/debug_image``, the sim's videos)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vlm2vla_policy.overlay.camera import look_at_pose
from vlm2vla_policy.robot.description import WX250S
from vlm2vla_policy.settings import setting, validate

# Bridge's over-the-shoulder view (images0) as the simulator places its camera: behind the robot
# and to its right, above the table. vlm2vla_sim's CameraConfig takes these defaults.
BRIDGE_CAMERA_POSITION_M = (-0.20, -0.30, 0.70)
BRIDGE_CAMERA_LOOK_AT_M = (0.30, 0.05, 0.02)


def _three_finite(value: tuple[float, float, float]) -> str | None:
    return None if len(value) == 3 and np.isfinite(value).all() else "must be 3 finite numbers"


@dataclass(frozen=True)
class OverlayConfig:
    """What the annotated image looks like and where its camera stands."""

    camera_position_m: tuple[float, float, float] = setting(
        BRIDGE_CAMERA_POSITION_M,
        "camera centre (its optical frame's origin) in the base frame, for drawing the chunk's "
        "path; default: the simulator's over-the-shoulder camera (measure yours on the robot)",
        unit="m",
        check=_three_finite,
    )
    camera_look_at_m: tuple[float, float, float] = setting(
        BRIDGE_CAMERA_LOOK_AT_M,
        "base-frame point at the image centre; the image rows are taken as level (no roll "
        "about the optical axis)",
        unit="m",
        check=_three_finite,
    )
    min_width_px: int = setting(
        640,
        "narrower camera frames are enlarged to this width (cv2.resize) before the text is "
        "drawn, so it stays legible",
        unit="pixels",
        low=1,
        high=8192,
    )

    def __post_init__(self) -> None:
        validate(self)
        self.camera_pose()  # refuses a pose without level image rows

    def camera_pose(self) -> np.ndarray:
        """Pose (4x4, base frame) of the camera's optical frame."""
        return look_at_pose(self.camera_position_m, self.camera_look_at_m)


@dataclass(frozen=True)
class DebugImageConfig:
    """policy_node's ``~/debug_image`` publisher."""

    enabled: bool = setting(
        False,
        "publish ~/debug_image (sensor_msgs/Image rgb8): the camera frame with the subtask, the "
        "plan, the chunk's path from the gripper (needs camera_info beside the image topic) and "
        "the verdict",
    )
    rate_hz: float = setting(
        5.0, "most annotated frames per second (never more than the camera's)", unit="Hz",
        above=0.0, high=60.0,
    )  # fmt: skip
    joint_states_topic: str = setting(
        f"{WX250S.name}/joint_states",
        "sensor_msgs/JointState of the arm, for the gripper's position (relative: in the "
        "node's namespace)",
    )

    def __post_init__(self) -> None:
        validate(self)
