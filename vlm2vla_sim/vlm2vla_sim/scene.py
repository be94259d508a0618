"""The tabletop's objects and their seeded randomisation (colours, positions, headings).

Four objects: a ``block`` (cube) and a ``carrot`` (a cylinder lying on its side, its axis
roughly along +x so the fingers, which close along y, grip across it) can be grasped; a
``plate`` (flat disc) and a ``bowl`` (disc with a ring wall) are targets. Every reset draws the
layout from ``numpy.random.default_rng(seed)``: colours in each object's hue range, positions
inside the reachable region with a minimum clearance between objects, headings. The same seed
always gives the same layout. Positions are in ``wx250s/base_link`` (m); the table top is z = 0.
"""

from __future__ import annotations

import colorsys
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import numpy as np

from vlm2vla_sim.mjcf import sub
from vlm2vla_sim.model import ROBOT_CONTYPE, WORLD_CONTYPE

BLOCK = "block"
CARROT = "carrot"
PLATE = "plate"
BOWL = "bowl"
GRASPABLE = (BLOCK, CARROT)  # objects a task may pick up
TARGETS = (PLATE, BOWL)  # objects a task may put something on or in
OBJECT_CLASS = "object"  # default class of object geoms
_BOWL_WALL_SEGMENTS = 16  # boxes forming the bowl's wall
# Friction of object geoms: sliding, torsional (m), rolling (m). A lying cylinder also gets
# rolling friction (condim 6), or the slightest push rolls it away like a pencil.
_FRICTION = (1.0, 0.01, 0.0005)
_LYING_CYLINDER_FRICTION = (1.0, 0.01, 0.002)


@dataclass(frozen=True)
class ObjectSpec:
    """Shape, mass and colour range of one object."""

    name: str  # object name, used in instructions ("the carrot")
    shape: str  # "box", "cylinder" (lying, axis along x), "disc" or "bowl"
    size_m: tuple[float, ...]  # box: half sizes; cylinder: radius, half length;
    # disc: radius, half height; bowl: outer radius, wall height, wall thickness, floor thickness
    mass_kg: float  # total mass, kg
    hue_range: tuple[float, float]  # HSV hue range of its colour, [0, 1] (wraps above 1)
    saturation_range: tuple[float, float]  # HSV saturation range
    value_range: tuple[float, float]  # HSV value (brightness) range
    max_heading_rad: float  # largest rotation about z from its nominal heading, rad

    @property
    def footprint_radius_m(self) -> float:
        """Radius of a circle around the object seen from above, m."""
        if self.shape in ("box", "cylinder"):  # half sizes in x and y (radius, half length)
            return math.hypot(self.size_m[0], self.size_m[1])
        return self.size_m[0]

    @property
    def rest_height_m(self) -> float:
        """Height of the body origin above the table when resting, m."""
        if self.shape == "box":
            return self.size_m[2]
        if self.shape == "cylinder":
            return self.size_m[0]
        if self.shape == "disc":
            return self.size_m[1]
        return 0.0

    @property
    def top_height_m(self) -> float:
        """Height of the object's top above the table when resting, m."""
        if self.shape == "box":
            return 2 * self.size_m[2]
        if self.shape == "cylinder":
            return 2 * self.size_m[0]
        if self.shape == "disc":
            return 2 * self.size_m[1]
        return self.size_m[1]

    @property
    def support_height_m(self) -> float:
        """Height above the body origin of the surface things rest on (plate top, bowl floor), m."""
        if self.shape == "bowl":
            return self.size_m[3]
        return self.top_height_m - self.rest_height_m

    @property
    def inner_radius_m(self) -> float:
        """Radius of the usable top (plate) or the inside (bowl), m."""
        if self.shape == "bowl":
            return self.size_m[0] - self.size_m[2]
        return self.footprint_radius_m


DEFAULT_OBJECTS = (
    ObjectSpec(BLOCK, "box", (0.015, 0.015, 0.015), 0.04,
               (0.0, 1.0), (0.6, 0.9), (0.5, 0.9), 0.6),
    ObjectSpec(CARROT, "cylinder", (0.012, 0.04), 0.04,
               (0.04, 0.1), (0.8, 1.0), (0.8, 1.0), 0.3),
    ObjectSpec(PLATE, "disc", (0.062, 0.004), 0.25,
               (0.0, 1.0), (0.0, 0.15), (0.85, 1.0), 0.0),
    ObjectSpec(BOWL, "bowl", (0.062, 0.04, 0.006, 0.006), 0.3,
               (0.0, 1.0), (0.3, 0.7), (0.4, 0.8), 0.0),
)  # fmt: skip


@dataclass(frozen=True)
class SceneConfig:
    """Objects and where they may be placed."""

    objects: tuple[ObjectSpec, ...] = DEFAULT_OBJECTS  # every object of the scene
    x_range_m: tuple[float, float] = (0.17, 0.40)  # object centres, forward, base frame, m
    y_range_m: tuple[float, float] = (-0.14, 0.22)  # object centres, left, base frame, m
    clearance_m: float = 0.02  # free space between two objects' footprints, m
    max_draws: int = 10_000  # placement attempts before the layout is declared impossible
    # Colour of the table top, RGBA, and how much each channel may vary per seed (+-).
    table_rgba: tuple[float, float, float, float] = (0.62, 0.5, 0.38, 1.0)
    table_rgba_jitter: float = 0.06

    def spec(self, name: str) -> ObjectSpec:
        """The object called ``name``; raises KeyError naming the known ones."""
        for spec in self.objects:
            if spec.name == name:
                return spec
        raise KeyError(f"no object {name!r} in the scene; known: {[s.name for s in self.objects]}")


@dataclass(frozen=True)
class ObjectPlacement:
    """Where one object starts and how it looks."""

    name: str  # object name
    position_m: tuple[float, float, float]  # body origin, base frame, m
    heading_rad: float  # rotation about z, rad
    rgba: tuple[float, float, float, float]  # colour


@dataclass(frozen=True)
class SceneLayout:
    """One randomised scene: object placements and the table colour."""

    seed: int  # the seed it was drawn from
    placements: tuple[ObjectPlacement, ...] = field(default_factory=tuple)  # one per object
    table_rgba: tuple[float, float, float, float] = (0.62, 0.5, 0.38, 1.0)  # table colour

    def placement(self, name: str) -> ObjectPlacement:
        """The placement of ``name``."""
        for placement in self.placements:
            if placement.name == name:
                return placement
        raise KeyError(f"no object {name!r} in the layout")


def _colour(spec: ObjectSpec, rng: np.random.Generator) -> tuple[float, float, float, float]:
    hue = rng.uniform(*spec.hue_range) % 1.0
    saturation = rng.uniform(*spec.saturation_range)
    value = rng.uniform(*spec.value_range)
    r, g, b = colorsys.hsv_to_rgb(hue, saturation, value)
    return (round(r, 4), round(g, 4), round(b, 4), 1.0)


def sample_layout(seed: int, config: SceneConfig | None = None) -> SceneLayout:
    """Draw a layout from ``seed``: same seed, same layout. Raises ValueError if none fits."""
    config = config or SceneConfig()
    rng = np.random.default_rng(seed)
    placed: list[tuple[np.ndarray, float]] = []
    placements = []
    # Largest objects first: they are the hardest to fit.
    order = sorted(config.objects, key=lambda s: -s.footprint_radius_m)
    for spec in order:
        for _ in range(config.max_draws):
            xy = np.array([rng.uniform(*config.x_range_m), rng.uniform(*config.y_range_m)])
            radius = spec.footprint_radius_m
            if all(
                np.linalg.norm(xy - other) >= radius + other_radius + config.clearance_m
                for other, other_radius in placed
            ):
                break
        else:
            raise ValueError(
                f"seed {seed}: no room for the {spec.name} after {config.max_draws} draws; "
                "widen SceneConfig.x_range_m / y_range_m or lower clearance_m"
            )
        placed.append((xy, spec.footprint_radius_m))
        heading = rng.uniform(-spec.max_heading_rad, spec.max_heading_rad)
        placements.append(
            ObjectPlacement(
                spec.name,
                (float(xy[0]), float(xy[1]), spec.rest_height_m),
                float(heading),
                _colour(spec, rng),
            )
        )
    jitter = rng.uniform(-config.table_rgba_jitter, config.table_rgba_jitter, 3)
    table = np.clip(np.array(config.table_rgba[:3]) + jitter, 0.0, 1.0)
    by_name = {p.name: p for p in placements}
    return SceneLayout(
        seed=seed,
        placements=tuple(by_name[s.name] for s in config.objects),
        table_rgba=(*map(float, table), 1.0),
    )


def _add_bowl_geoms(body: ET.Element, spec: ObjectSpec) -> None:
    outer, wall_height, wall_thickness, floor_thickness = spec.size_m
    mass_each = spec.mass_kg / (_BOWL_WALL_SEGMENTS + 1)
    sub(body, "geom", name=f"{spec.name}_floor", class_=OBJECT_CLASS, type="cylinder",
        size=[outer, floor_thickness / 2], pos=[0.0, 0.0, floor_thickness / 2],
        mass=mass_each)  # fmt: skip
    ring_radius = outer - wall_thickness / 2
    half_chord = ring_radius * math.tan(math.pi / _BOWL_WALL_SEGMENTS) + wall_thickness / 2
    for k in range(_BOWL_WALL_SEGMENTS):
        angle = 2 * math.pi * k / _BOWL_WALL_SEGMENTS
        sub(body, "geom", name=f"{spec.name}_wall{k}", class_=OBJECT_CLASS, type="box",
            size=[wall_thickness / 2, half_chord, wall_height / 2],
            pos=[ring_radius * math.cos(angle), ring_radius * math.sin(angle), wall_height / 2],
            euler=[0.0, 0.0, angle], mass=mass_each)  # fmt: skip


def add_object_defaults(default: ET.Element) -> None:
    """Default class of object geoms: they collide with everything."""
    objects = sub(default, "default", class_=OBJECT_CLASS)
    sub(objects, "geom", contype=WORLD_CONTYPE, conaffinity=WORLD_CONTYPE | ROBOT_CONTYPE,
        condim=4, friction=_FRICTION, group=0)  # fmt: skip


def add_object(worldbody: ET.Element, spec: ObjectSpec) -> None:
    """A free body for ``spec`` at the origin (reset moves it to its layout pose)."""
    body = sub(worldbody, "body", name=spec.name)
    sub(body, "freejoint", name=spec.name)
    if spec.shape == "box":
        sub(body, "geom", name=spec.name, class_=OBJECT_CLASS, type="box", size=spec.size_m,
            mass=spec.mass_kg)  # fmt: skip
    elif spec.shape == "cylinder":
        sub(body, "geom", name=spec.name, class_=OBJECT_CLASS, type="cylinder",
            size=spec.size_m, euler=[0.0, math.pi / 2, 0.0], mass=spec.mass_kg, condim=6,
            friction=_LYING_CYLINDER_FRICTION)  # fmt: skip
    elif spec.shape == "disc":
        sub(body, "geom", name=spec.name, class_=OBJECT_CLASS, type="cylinder",
            size=spec.size_m, mass=spec.mass_kg)  # fmt: skip
    elif spec.shape == "bowl":
        _add_bowl_geoms(body, spec)
    else:
        raise ValueError(
            f"object {spec.name}: unknown shape {spec.shape!r}; use box, cylinder, disc or bowl"
        )
