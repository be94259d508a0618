"""The gripper's swing-arm linkage: servo angle (rad) <-> finger position (m), as xs_sdk converts.

The gripper servo turns a horn of radius ``horn_radius_m``; an arm of length ``arm_length_m``
pushes each finger. ``left_finger`` in joint_states is the finger's distance from the horn
centre, ``a1 + a2`` with ``a1 = r sin(angle)``, ``c = sqrt(r^2 - a1^2)``,
``a2 = sqrt(L^2 - c^2)``; the driver's ``gripper`` joint is the servo angle. The wx250s values
(r = 0.014 m, L = 0.024 m) put the finger range 0.015-0.037 m at about -0.38 to 1.27 rad.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class GripperLinkage:
    """Geometry of the swing-arm gripper (Interbotix ``horn_radius`` and ``arm_length``)."""

    horn_radius_m: float = 0.014  # radius of the servo horn, m
    arm_length_m: float = 0.024  # length of the arm from horn to finger, m

    def __post_init__(self) -> None:
        if not 0.0 < self.horn_radius_m < self.arm_length_m:
            raise ValueError("GripperLinkage needs 0 < horn_radius_m < arm_length_m")

    def finger_m(self, angle_rad: float) -> float:
        """Finger position (m) at servo angle ``angle_rad``."""
        r, length = self.horn_radius_m, self.arm_length_m
        a1 = r * math.sin(angle_rad)
        c_squared = r * r - a1 * a1
        return a1 + math.sqrt(length * length - c_squared)

    def angle_rad(self, finger_m: float) -> float:
        """Servo angle (rad) that puts the finger at ``finger_m`` (m); clamps unreachable ones."""
        r, length = self.horn_radius_m, self.arm_length_m
        cosine = (r * r + finger_m * finger_m - length * length) / (2.0 * r * finger_m)
        return math.pi / 2.0 - math.acos(max(-1.0, min(1.0, cosine)))
