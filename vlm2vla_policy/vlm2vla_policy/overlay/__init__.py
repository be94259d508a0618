"""The annotated camera image: subtask, plan, the chunk's path from the gripper, the verdict.

ROS-free. :class:`PinholeCamera` projects base-frame points into the image (intrinsics from a
``sensor_msgs/CameraInfo`` or a field of view, extrinsics from a look-at pose);
:class:`OverlayTracker` gathers what to show from the episode loop; :func:`draw_overlay` draws it
with OpenCV. policy_node publishes the result on ``~/debug_image``; the simulator's videos
(``vlm2vla-demo``, ``vlm2vla-sim-eval``) are made of the same frames.
"""

from vlm2vla_policy.overlay.camera import (
    CameraModelError,
    PinholeCamera,
    intrinsics_from_fovy,
    look_at_pose,
)
from vlm2vla_policy.overlay.config import DebugImageConfig, OverlayConfig
from vlm2vla_policy.overlay.drawing import draw_overlay, image_point
from vlm2vla_policy.overlay.view import OverlayTracker, OverlayView

__all__ = [
    "CameraModelError",
    "DebugImageConfig",
    "OverlayConfig",
    "OverlayTracker",
    "OverlayView",
    "PinholeCamera",
    "draw_overlay",
    "image_point",
    "intrinsics_from_fovy",
    "look_at_pose",
]
