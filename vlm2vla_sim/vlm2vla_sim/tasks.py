"""The simulator's tasks: "pick up the <object>", "put the <object> on/in the <target>".

A :class:`Task` says what must be true at the end of an episode; :func:`parse_task` reads one from
its instruction (the text a policy is given) and refuses any the scene cannot check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vlm2vla_sim.scene import BOWL, GRASPABLE, PLATE

PICK = "pick"
PLACE = "place"
# The relation each target supports: things go on the plate and in the bowl.
RELATIONS: dict[str, str] = {PLATE: "on", BOWL: "in"}

_PICK = re.compile(r"pick up the (\w+)")
_PLACE = re.compile(r"put the (\w+) (on|in) the (\w+)")


@dataclass(frozen=True)
class Task:
    """One task of the tabletop."""

    kind: str  # PICK or PLACE
    object: str  # the object to move (one of scene.GRASPABLE)
    target: str = ""  # PLACE: where it goes (one of scene.TARGETS); "" for PICK

    def __post_init__(self) -> None:
        if self.object not in GRASPABLE:
            raise ValueError(f"cannot grasp the {self.object!r}; graspable: {list(GRASPABLE)}")
        if self.kind == PICK and self.target:
            raise ValueError("a pick task has no target")
        if self.kind == PLACE and self.target not in RELATIONS:
            raise ValueError(f"no target {self.target!r}; targets: {sorted(RELATIONS)}")
        if self.kind not in (PICK, PLACE):
            raise ValueError(f"task kind {self.kind!r} is not {PICK!r} or {PLACE!r}")

    @property
    def instruction(self) -> str:
        """The instruction that asks for this task."""
        if self.kind == PICK:
            return f"pick up the {self.object}"
        return f"put the {self.object} {RELATIONS[self.target]} the {self.target}"

    @property
    def slug(self) -> str:
        """A file-system-safe name, e.g. ``put_the_carrot_on_the_plate``."""
        return self.instruction.replace(" ", "_")


TASKS: tuple[Task, ...] = tuple(
    [Task(PICK, name) for name in GRASPABLE]
    + [Task(PLACE, name, target) for name in GRASPABLE for target in RELATIONS]
)
"""Every task the scene supports."""


def parse_task(instruction: str) -> Task:
    """The task an instruction asks for; raises ValueError listing the supported ones."""
    text = " ".join(instruction.lower().strip().rstrip(".").split())
    pick, place = _PICK.fullmatch(text), _PLACE.fullmatch(text)
    try:
        if pick:
            return Task(PICK, pick.group(1))
        if place:
            task = Task(PLACE, place.group(1), place.group(3))
            if RELATIONS[task.target] != place.group(2):
                raise ValueError(f"things go {RELATIONS[task.target]} the {task.target}")
            return task
    except ValueError as err:
        raise ValueError(f"unsupported task {instruction!r}: {err}") from None
    known = ", ".join(repr(t.instruction) for t in TASKS)
    raise ValueError(f"unsupported task {instruction!r}; the simulator knows: {known}")
