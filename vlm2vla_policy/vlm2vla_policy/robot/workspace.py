"""Axis-aligned workspace bounds that clip the commanded EE target (base frame, metres)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vlm2vla_policy.settings import ordered, setting, validate

_AXES = ("x", "y", "z")


@dataclass(frozen=True)
class WorkspaceBounds:
    """Box the EE target position must stay in; defaults are Bridge's evaluation bounds."""

    x_m: tuple[float, float] = setting(
        (0.10, 0.45), "EE target x range (min, max), base frame", unit="m", check=ordered
    )
    y_m: tuple[float, float] = setting(
        (-0.15, 0.25), "EE target y range (min, max), +y left", unit="m", check=ordered
    )
    z_m: tuple[float, float] = setting(
        (-0.01, 0.25), "EE target z range (min, max)", unit="m", check=ordered
    )

    def __post_init__(self) -> None:
        validate(self)

    @property
    def lower_m(self) -> np.ndarray:
        """Lower corner (x, y, z), m."""
        return np.array([self.x_m[0], self.y_m[0], self.z_m[0]])

    @property
    def upper_m(self) -> np.ndarray:
        """Upper corner (x, y, z), m."""
        return np.array([self.x_m[1], self.y_m[1], self.z_m[1]])

    def contains(self, position_m: np.ndarray) -> bool:
        """Tell whether the position (base frame, m) lies inside the box, faces included."""
        p = np.asarray(position_m, dtype=float)
        return bool(np.all(p >= self.lower_m) and np.all(p <= self.upper_m))

    def clip(self, position_m: np.ndarray) -> tuple[np.ndarray, str]:
        """Return the nearest position inside the box and a note of what was clipped, "" if none."""
        p = np.asarray(position_m, dtype=float)
        clipped = np.clip(p, self.lower_m, self.upper_m)
        notes = [
            f"{axis} {value:+.3f} m -> {bound:+.3f} m"
            for axis, value, bound in zip(_AXES, p, clipped, strict=True)
            if value != bound
        ]
        return clipped, ", ".join(notes)
