"""The wx250s as MuJoCo MJCF, generated from its kinematic description (no mesh files).

The arm is a chain of bodies, one per joint of :data:`vlm2vla_policy.robot.WX250S`: each joint
sits at an anchor point on its screw axis (the wx250s URDF joint origins, checked against the
axes when the config is built) with the screw axis as its axis, so at any joints the
``ee_gripper_link`` site lies exactly where the library's product-of-exponentials FK puts it.
Links are capsules between anchors (visual only: they do not collide); the gripper (palm and two
finger pads) collides with the table and the objects.

Frames: the MJCF world frame is ``wx250s/base_link`` (x forward, y left, z up, metres); at zero
joints the tool points along +x and the fingers close along y. Finger joints are slide joints
measured like the driver's ``left_finger`` (0.015 m closed, 0.037 m open); the right finger
mirrors the left through an equality constraint, as the real gripper's linkage couples them.

Actuators: one position servo per arm joint (gravity compensated, like a Dynamixel holding its
goal), and one force motor on the left finger driven in PWM units: force = ``force_per_pwm``
times PWM against a viscous finger damping (the motor's back-EMF), so the free speed and the
grip force of a blocked finger are both proportional to PWM, as on the real servo.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import numpy as np

from vlm2vla_policy.robot import WX250S, RobotDescription
from vlm2vla_sim.mjcf import sub

EE_SITE = "ee_gripper_link"  # site at the library's EE frame
LEFT_FINGER = "left_finger"  # joint and driver joint_states name, m
RIGHT_FINGER = "right_finger"  # joint mirrored from the left finger, m
GRIPPER_MOTOR = "gripper"  # actuator of the left finger, PWM units
FINGER_PADS = ("left_finger_pad", "right_finger_pad")  # colliding finger geoms
PALM = "palm"  # colliding palm geom
VISUAL_CLASS = "visual"  # geoms that only render
ROBOT_COLLISION_CLASS = "robot_collision"  # gripper geoms that touch the world
# Contact bits: robot geoms collide with the world (objects, table) but not with each other.
ROBOT_CONTYPE, WORLD_CONTYPE = 2, 1
# Tolerance when checking that an anchor lies on its screw axis, m.
_ON_AXIS_TOL_M = 1e-9


@dataclass(frozen=True)
class JointDrive:
    """Servo model of one arm joint."""

    kp: float  # position gain, N m / rad
    kv: float  # velocity gain (servo damping), N m s / rad
    max_torque_nm: float  # torque limit of the servo, N m
    armature: float  # reflected rotor inertia of the gearbox, kg m^2
    damping: float  # passive viscous damping of the joint, N m s / rad


@dataclass(frozen=True)
class ArmModelConfig:
    """Geometry, masses and servos of the arm; defaults approximate the wx250s."""

    # Per joint, the point on its axis where the joint's body starts at zero joints (base frame,
    # m): the wx250s URDF joint origins. Each must lie on the screw axis of the description.
    anchors_m: tuple[tuple[float, float, float], ...] = (
        (0.0, 0.0, 0.072),
        (0.0, 0.0, 0.11065),
        (0.04975, 0.0, 0.36065),
        (0.10975, 0.0, 0.36065),
        (0.29975, 0.0, 0.36065),
        (0.36475, 0.0, 0.36065),
    )
    # Mass of each joint's body (the link it moves), kg; the real arm weighs about 2.5 kg.
    link_masses_kg: tuple[float, ...] = (0.48, 0.43, 0.19, 0.22, 0.08, 0.16)
    link_inertia_kg_m2: float = 2e-4  # principal inertia of each link about its centre, kg m^2
    link_radius_m: float = 0.018  # capsule radius of the links (visual), m
    base_radius_m: float = 0.055  # radius of the base turret (visual), m
    drives: tuple[JointDrive, ...] = (
        JointDrive(kp=80.0, kv=6.0, max_torque_nm=10.0, armature=0.05, damping=0.5),
        JointDrive(kp=150.0, kv=10.0, max_torque_nm=20.0, armature=0.08, damping=0.5),
        JointDrive(kp=120.0, kv=8.0, max_torque_nm=15.0, armature=0.06, damping=0.5),
        JointDrive(kp=25.0, kv=1.5, max_torque_nm=5.0, armature=0.02, damping=0.1),
        JointDrive(kp=30.0, kv=1.5, max_torque_nm=5.0, armature=0.02, damping=0.1),
        JointDrive(kp=15.0, kv=0.8, max_torque_nm=3.0, armature=0.01, damping=0.05),
    )  # per joint, chain order
    colour_rgba: tuple[float, float, float, float] = (0.12, 0.12, 0.13, 1.0)  # link colour


@dataclass(frozen=True)
class GripperModelConfig:
    """Palm and finger geometry, finger drive and contact; lengths along the tool axis in m."""

    palm_from_ee_m: float = 0.050  # distance from the EE point back to the palm face, m
    palm_half_size_m: tuple[float, float, float] = (0.012, 0.045, 0.018)  # palm box, m
    finger_length_m: float = 0.050  # pad length along the tool axis, m
    tip_beyond_ee_m: float = 0.004  # how far the pad tips reach past the EE point, m
    pad_half_thickness_m: float = 0.004  # pad half-thickness along the closing axis, m
    pad_half_width_m: float = 0.011  # pad half-width across the closing axis, m
    # Finger joint position minus the distance of the pad's inner face from the centre line, m:
    # the gap between the pads is 2 * (finger - inset): 12 mm closed, 56 mm open.
    pad_inset_m: float = 0.009
    finger_range_m: tuple[float, float] = (WX250S.finger_closed_m, WX250S.finger_open_m)
    finger_mass_kg: float = 0.03  # mass of each finger, kg
    finger_armature: float = 0.05  # reflected motor inertia on a finger, kg
    # Time constant and damping ratio of the finger end stops (stiff: the range is a hard stop).
    finger_limit_solref: tuple[float, float] = (0.004, 1.0)
    # Back-EMF of the motor as viscous damping on each finger, N s / m. With force_per_pwm it
    # sets the free speed (both fingers damp the one motor): 350 PWM -> about 0.05 m/s.
    finger_damping_n_s_m: float = 105.0
    force_per_pwm: float = 0.03  # motor force on the fingers per PWM unit, N (350 PWM: 10.5 N)
    max_pwm: float = 885.0  # PWM limit of the gripper servo (Dynamixel units)
    # Sliding, torsional and rolling friction of the pads (MuJoCo takes the max of a pair).
    friction: tuple[float, float, float] = (1.5, 0.02, 0.0005)
    # Contact time constant and damping ratio of the pads: stiffer than MuJoCo's default
    # (0.02 s), so a grip squeezes an object by about a millimetre, not several.
    contact_solref: tuple[float, float] = (0.005, 1.0)
    colour_rgba: tuple[float, float, float, float] = (0.2, 0.2, 0.22, 1.0)  # gripper colour


@dataclass(frozen=True)
class RobotModelConfig:
    """Everything the robot's MJCF is generated from."""

    robot: RobotDescription = WX250S  # kinematics, limits and names
    arm: ArmModelConfig = field(default_factory=ArmModelConfig)  # links and servos
    gripper: GripperModelConfig = field(default_factory=GripperModelConfig)  # gripper

    def __post_init__(self) -> None:
        n = self.robot.num_joints
        counts = {
            "anchors_m": len(self.arm.anchors_m),
            "drives": len(self.arm.drives),
            "link_masses_kg": len(self.arm.link_masses_kg),
        }
        wrong = {name: count for name, count in counts.items() if count != n}
        if wrong:
            raise ValueError(f"ArmModelConfig needs one entry per joint ({n}); got {wrong}")
        for name, axis, anchor in zip(
            self.robot.joint_names, self.robot.screw_axes, self.arm.anchors_m, strict=True
        ):
            w, v = np.array(axis[:3]), np.array(axis[3:])
            off_axis = float(np.linalg.norm(v + np.cross(w, np.array(anchor))))
            if off_axis > _ON_AXIS_TOL_M:
                raise ValueError(
                    f"anchor {anchor} of joint {name} is {off_axis:.3g} m off its screw axis "
                    f"{axis}; an anchor must be a point on the joint axis (v = -w x q)"
                )


def add_robot_defaults(default: ET.Element) -> None:
    """Default classes: visual links (no contact, no mass), colliding gripper geoms."""
    visual = sub(default, "default", class_=VISUAL_CLASS)
    sub(visual, "geom", contype=0, conaffinity=0, group=1, mass=0)
    collision = sub(default, "default", class_=ROBOT_COLLISION_CLASS)
    sub(collision, "geom", contype=ROBOT_CONTYPE, conaffinity=WORLD_CONTYPE, condim=4, group=1)


def _link_geom(body: ET.Element, end: np.ndarray, radius: float, rgba: tuple) -> None:
    if np.linalg.norm(end) < 1e-6:
        sub(body, "geom", class_=VISUAL_CLASS, type="sphere", size=[radius], rgba=rgba)
    else:
        sub(body, "geom", class_=VISUAL_CLASS, type="capsule", size=[radius],
            fromto=[0.0, 0.0, 0.0, *end], rgba=rgba)  # fmt: skip


def _add_gripper(body: ET.Element, config: GripperModelConfig, ee_local: np.ndarray) -> None:
    """Palm, the two finger bodies and the EE site, in the frame of the last joint's body."""
    palm_x = ee_local[0] - config.palm_from_ee_m - config.palm_half_size_m[0]
    sub(body, "geom", name=PALM, class_=ROBOT_COLLISION_CLASS, type="box",
        size=config.palm_half_size_m, pos=[palm_x, 0.0, 0.0], rgba=config.colour_rgba)  # fmt: skip
    pad_x = ee_local[0] + config.tip_beyond_ee_m - config.finger_length_m / 2
    sides = ((LEFT_FINGER, FINGER_PADS[0], 1.0), (RIGHT_FINGER, FINGER_PADS[1], -1.0))
    for joint, pad, sign in sides:
        finger = sub(body, "body", name=f"{joint}_link", gravcomp=1)
        sub(finger, "joint", name=joint, type="slide", axis=[0.0, sign, 0.0],
            range=config.finger_range_m, armature=config.finger_armature,
            damping=config.finger_damping_n_s_m,
            solreflimit=config.finger_limit_solref)  # fmt: skip
        # The body origin is on the centre line; at joint position q the pad's inner face is at
        # sign * (q - inset), so the pad centre sits at sign * (thickness - inset) in the body.
        pad_y = sign * (config.pad_half_thickness_m - config.pad_inset_m)
        sub(finger, "geom", name=pad, class_=ROBOT_COLLISION_CLASS, type="box",
            size=[config.finger_length_m / 2, config.pad_half_thickness_m,
                  config.pad_half_width_m],
            pos=[pad_x, pad_y, 0.0], mass=config.finger_mass_kg, rgba=config.colour_rgba,
            friction=config.friction, solref=config.contact_solref)  # fmt: skip
    sub(body, "site", name=EE_SITE, pos=ee_local, size=[0.004], rgba=[1, 0, 0, 0.5], group=3)


def add_robot(worldbody: ET.Element, config: RobotModelConfig) -> None:
    """Append the ``base_link`` body with the chain, the gripper and the EE site."""
    robot, arm = config.robot, config.arm
    anchors = [np.array(a, dtype=float) for a in arm.anchors_m]
    ends = [*anchors[1:], np.array(robot.home_position_m)]
    base = sub(worldbody, "body", name="base_link")
    sub(base, "geom", class_=VISUAL_CLASS, type="cylinder",
        size=[arm.base_radius_m, anchors[0][2] / 2], pos=[0.0, 0.0, anchors[0][2] / 2],
        rgba=arm.colour_rgba)  # fmt: skip
    parent, parent_anchor = base, np.zeros(3)
    for i, name in enumerate(robot.joint_names):
        drive, local_end = arm.drives[i], ends[i] - anchors[i]
        body = sub(parent, "body", name=f"{name}_link", pos=anchors[i] - parent_anchor,
                   gravcomp=1)  # fmt: skip
        sub(body, "joint", name=name, axis=robot.screw_axes[i][:3],
            range=[robot.lower_limits_rad[i], robot.upper_limits_rad[i]],
            armature=drive.armature, damping=drive.damping)  # fmt: skip
        sub(body, "inertial", pos=local_end / 2, mass=arm.link_masses_kg[i],
            diaginertia=[arm.link_inertia_kg_m2] * 3)  # fmt: skip
        if i == robot.num_joints - 1:
            _link_geom(body, np.zeros(3), arm.link_radius_m, arm.colour_rgba)
            _add_gripper(body, config.gripper, local_end)
        else:
            _link_geom(body, local_end, arm.link_radius_m, arm.colour_rgba)
        parent, parent_anchor = body, anchors[i]


def add_robot_actuators(actuator: ET.Element, config: RobotModelConfig) -> None:
    """Position servos of the arm joints and the PWM motor of the gripper."""
    robot = config.robot
    for i, name in enumerate(robot.joint_names):
        d = config.arm.drives[i]
        sub(actuator, "position", name=name, joint=name, kp=d.kp, kv=d.kv,
            ctrlrange=[robot.lower_limits_rad[i], robot.upper_limits_rad[i]],
            forcerange=[-d.max_torque_nm, d.max_torque_nm])  # fmt: skip
    g = config.gripper
    sub(actuator, "motor", name=GRIPPER_MOTOR, joint=LEFT_FINGER, gear=[g.force_per_pwm],
        ctrlrange=[-g.max_pwm, g.max_pwm])  # fmt: skip


def add_robot_equality(equality: ET.Element) -> None:
    """The right finger mirrors the left one."""
    sub(equality, "joint", joint1=RIGHT_FINGER, joint2=LEFT_FINGER, polycoef=[0, 1, 0, 0, 0])
