"""The whole tabletop as one MJCF document: physics options, table, lights, camera, robot, objects.

Everything is generated in code from the configs; the compiled model does not change between
episodes (a reset only moves objects and recolours geoms), so it is built once per simulator.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from vlm2vla_sim.camera import CameraConfig, add_camera
from vlm2vla_sim.mjcf import sub
from vlm2vla_sim.model import (
    ROBOT_CONTYPE,
    WORLD_CONTYPE,
    RobotModelConfig,
    add_robot,
    add_robot_actuators,
    add_robot_defaults,
    add_robot_equality,
)
from vlm2vla_sim.scene import SceneConfig, add_object, add_object_defaults

TABLE = "table"  # geom name of the table top


@dataclass(frozen=True)
class PhysicsConfig:
    """Solver settings and the table's size."""

    timestep_s: float = 0.002  # physics step, s
    # Elliptic friction cones with a high impedance ratio keep grasps from slipping.
    impratio: float = 10.0  # frictional-to-normal constraint impedance ratio
    table_x_m: tuple[float, float] = (-0.15, 0.70)  # table top extent, forward, base frame, m
    table_half_width_m: float = 0.50  # table top half-extent along y, m
    table_thickness_m: float = 0.03  # table top thickness (its top is z = 0), m
    table_friction: tuple[float, float, float] = (0.8, 0.01, 0.0005)  # slide, spin, roll

    def __post_init__(self) -> None:
        if not self.timestep_s > 0.0:
            raise ValueError(f"PhysicsConfig.timestep_s must be > 0, got {self.timestep_s}")


def build_mjcf(
    robot: RobotModelConfig, scene: SceneConfig, camera: CameraConfig, physics: PhysicsConfig
) -> str:
    """The MJCF text of the tabletop."""
    root = ET.Element("mujoco", {"model": "wx250s_tabletop"})
    sub(root, "compiler", angle="radian", autolimits="true")
    sub(root, "option", timestep=physics.timestep_s, integrator="implicitfast", cone="elliptic",
        impratio=physics.impratio)  # fmt: skip
    visual = sub(root, "visual")
    sub(visual, "global", offwidth=max(640, camera.width), offheight=max(480, camera.height))
    sub(visual, "quality", shadowsize=2048)
    sub(visual, "headlight", ambient=[0.35, 0.35, 0.35], diffuse=[0.4, 0.4, 0.4],
        specular=[0.1, 0.1, 0.1])  # fmt: skip
    asset = sub(root, "asset")
    sub(asset, "texture", name="sky", type="skybox", builtin="gradient", rgb1=[0.75, 0.78, 0.8],
        rgb2=[0.35, 0.37, 0.4], width=64, height=64)  # fmt: skip
    sub(asset, "texture", name="floor", type="2d", builtin="checker", rgb1=[0.3, 0.3, 0.32],
        rgb2=[0.25, 0.25, 0.27], width=256, height=256)  # fmt: skip
    sub(asset, "material", name="floor", texture="floor", texrepeat=[6, 6])
    default = sub(root, "default")
    add_robot_defaults(default)
    add_object_defaults(default)

    world = sub(root, "worldbody")
    sub(world, "light", name="key", pos=[0.3, -0.3, 1.5], dir=[0.0, 0.2, -1.0],
        diffuse=[0.6, 0.6, 0.6], castshadow="true")  # fmt: skip
    sub(world, "light", name="fill", pos=[-0.5, 0.5, 1.0], dir=[0.5, -0.3, -1.0],
        diffuse=[0.25, 0.25, 0.25], castshadow="false")  # fmt: skip
    sub(world, "geom", name="floor", type="plane", size=[2, 2, 0.1], pos=[0, 0, -0.75],
        material="floor", contype=0, conaffinity=0)  # fmt: skip
    x0, x1 = physics.table_x_m
    half_thickness = physics.table_thickness_m / 2
    sub(world, "geom", name=TABLE, type="box",
        size=[(x1 - x0) / 2, physics.table_half_width_m, half_thickness],
        pos=[(x0 + x1) / 2, 0.0, -half_thickness], friction=physics.table_friction,
        contype=WORLD_CONTYPE, conaffinity=WORLD_CONTYPE | ROBOT_CONTYPE, condim=3)  # fmt: skip
    add_camera(world, camera)
    add_robot(world, robot)
    for spec in scene.objects:
        add_object(world, spec)
    add_robot_actuators(sub(root, "actuator"), robot)
    add_robot_equality(sub(root, "equality"))
    return ET.tostring(root, encoding="unicode")
