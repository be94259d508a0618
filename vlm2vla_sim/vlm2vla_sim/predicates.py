"""Success predicates read from the simulator's ground truth: lifted, placed on or in a target.

- *lifted*: the object's origin is at least ``lift_height_m`` above where it rests on the table,
  and it touches neither the table nor any other object (it is held up, not stacked).
- *on* (plate) / *in* (bowl): the object rests on the target: it touches the target, not the
  table, not the gripper, and its centre lies within the target's usable radius (for the bowl,
  also below the rim).

Positions in ``wx250s/base_link`` (m).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from vlm2vla_sim.model import FINGER_PADS, PALM
from vlm2vla_sim.scene import SceneConfig
from vlm2vla_sim.tasks import PICK, Task
from vlm2vla_sim.world import TABLE


@dataclass(frozen=True)
class PredicateConfig:
    """Thresholds of the success predicates."""

    lift_height_m: float = 0.04  # height above its resting height that counts as lifted, m
    # The object's centre must lie this far inside the target's usable radius, m.
    place_margin_m: float = 0.005


class ScenePredicates:
    """Evaluates the predicates on one model's data."""

    def __init__(
        self, model: mujoco.MjModel, scene: SceneConfig, config: PredicateConfig | None = None
    ) -> None:
        self.model = model
        self.scene = scene
        self.config = config or PredicateConfig()
        self._geoms = {
            spec.name: frozenset(np.flatnonzero(model.geom_bodyid == model.body(spec.name).id))
            for spec in scene.objects
        }
        self._table = frozenset({model.geom(TABLE).id})
        self._gripper = frozenset(model.geom(name).id for name in (*FINGER_PADS, PALM))

    def position_m(self, data: mujoco.MjData, name: str) -> np.ndarray:
        """Origin of object ``name`` (base frame, m)."""
        return data.xpos[self.model.body(name).id].copy()

    def touching(self, data: mujoco.MjData, name: str) -> set[str]:
        """What object ``name`` touches: other object names, "table" and/or "gripper"."""
        own = self._geoms[name]
        groups = {"table": self._table, "gripper": self._gripper}
        groups |= {other: geoms for other, geoms in self._geoms.items() if other != name}
        found = set()
        for g1, g2 in data.contact.geom[: data.ncon]:
            if g1 in own or g2 in own:
                other = g2 if g1 in own else g1
                found.update(label for label, geoms in groups.items() if other in geoms)
        return found

    def lifted(self, data: mujoco.MjData, name: str) -> bool:
        """True when ``name`` is held above the table (see the module docstring)."""
        height = self.position_m(data, name)[2] - self.scene.spec(name).rest_height_m
        others = self.touching(data, name) - {"gripper"}
        return bool(height >= self.config.lift_height_m and not others)

    def placed(self, data: mujoco.MjData, name: str, target: str) -> bool:
        """True when ``name`` rests on/in ``target`` (see the module docstring)."""
        touching = self.touching(data, name)
        if target not in touching or "table" in touching or "gripper" in touching:
            return False
        spec = self.scene.spec(target)
        offset = self.position_m(data, name) - self.position_m(data, target)
        radius = spec.inner_radius_m - self.config.place_margin_m
        inside = bool(np.hypot(offset[0], offset[1]) <= radius)
        if spec.shape == "bowl":
            return inside and bool(offset[2] <= spec.top_height_m)
        return inside

    def succeeded(self, data: mujoco.MjData, task: Task) -> bool:
        """True when ``task`` is achieved now."""
        if task.kind == PICK:
            return self.lifted(data, task.object)
        return self.placed(data, task.object, task.target)
