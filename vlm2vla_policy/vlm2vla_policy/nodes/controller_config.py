"""controller_node's parameters and their translation into the executor's configuration.

ROS-free, so the parameter table can be read (docs, launch checks) and the translation tested
without starting a node. Every parameter is derived from a dataclass field: the executor's
settings from :class:`~vlm2vla_policy.robot.ExecutorConfig` (its defaults are what the robot
does), the effort guard's from :class:`~vlm2vla_policy.robot.EffortGuardConfig`, the
start/home/sleep moves' from :class:`~vlm2vla_policy.robot.PoseMoveConfig`, the node's own
(driver, lease, poses) from :class:`ControllerConfig`.
"""

from dataclasses import dataclass

from vlm2vla_policy.nodes.params import Param, derived_config, params_from
from vlm2vla_policy.robot import (
    BRIDGE_START_POSITION_M,
    EffortGuardConfig,
    ExecutorConfig,
    PoseMoveConfig,
)
from vlm2vla_policy.settings import default_of, setting, validate


@dataclass(frozen=True)
class ControllerConfig:
    """controller_node's own settings; the chunk execution ones are :class:`ExecutorConfig`'s."""

    robot_name: str = setting("wx250s", "namespace of the Interbotix driver (its robot_name)")
    base_frame: str = setting("wx250s/base_link", "frame of every published pose and marker")
    control_rate_hz: float = setting(
        1.0 / default_of(ExecutorConfig, "period_s"),
        "control periods per second (Bridge: 5 Hz)",
        unit="Hz",
        low=1.0,
        high=100.0,
    )
    lease_timeout_s: float = setting(
        0.5,
        "stop a chunk (and hold) when its producer sent nothing on ~/chunk_steps (steps or an "
        "empty heartbeat) for this long; no arm command comes later than this plus one control "
        "period after its last message. 0 disables the lease (for hand tools that cannot send "
        "heartbeats)",
        unit="s",
        low=0.0,
    )
    gripper_position_open: float = setting(
        1.268,
        "position mode: gripper servo angle for open (xs_sdk's unit; fingers at 0.037 m "
        "through the wx250s linkage)",
        unit="rad",
    )
    gripper_position_closed: float = setting(
        -0.378, "position mode: gripper servo angle for closed (fingers at 0.015 m)", unit="rad"
    )
    profile_velocity_ms: int = setting(
        250, "arm time-based profile velocity set at start", unit="ms", low=1, high=5000
    )
    profile_acceleration_ms: int = setting(
        100, "arm time-based profile acceleration set at start", unit="ms", low=0, high=5000
    )
    wait_for_driver_s: float = setting(
        10.0,
        "how long to wait for get_robot_info, and for the first joint states of the start move, "
        "at start",
        unit="s",
        low=0.0,
    )
    configure_driver: bool = setting(
        True, "set the arm's profile through set_operating_modes at start"
    )
    move_to_start: bool = setting(
        True,
        "move to start_position_m (gripper down) after start, as a Bridge evaluation episode "
        "starts; false leaves the arm where it is",
    )
    start_position_m: tuple[float, float, float] = setting(
        BRIDGE_START_POSITION_M,
        "start EE position, base frame (Bridge's evaluation start; solved from its neutral pose)",
        unit="m",
    )
    dry_run: bool = setting(
        False,
        "compute and publish targets and markers, send no driver command; without a driver, a "
        "virtual arm follows the commands",
    )

    def __post_init__(self) -> None:
        validate(self)


def derive_params() -> tuple[Param, ...]:
    """The node's parameter table, derived from the dataclasses' current defaults."""
    return (
        *params_from(ControllerConfig, ("robot_name", "base_frame", "control_rate_hz")),
        *params_from(
            ExecutorConfig,
            ("max_step_m", "max_action_m", "workspace.x_m", "workspace.y_m", "workspace.z_m",
             "max_joint_state_age_s"),
            rename={"workspace.x_m": "workspace_x_m", "workspace.y_m": "workspace_y_m",
                    "workspace.z_m": "workspace_z_m",
                    "max_joint_state_age_s": "joint_state_timeout_s"},
        ),
        *params_from(ControllerConfig, ("lease_timeout_s",)),
        *params_from(EffortGuardConfig, ("effort_limits_ma", "effort_hold_s")),
        *params_from(
            ExecutorConfig,
            ("max_chunk_steps", "max_chunk_duration_s", "gripper.mode", "gripper.pwm_limit"),
            rename={"gripper.mode": "gripper_mode", "gripper.pwm_limit": "gripper_pwm_limit"},
        ),
        *params_from(
            ControllerConfig,
            ("gripper_position_open", "gripper_position_closed", "profile_velocity_ms",
             "profile_acceleration_ms", "wait_for_driver_s", "configure_driver", "move_to_start",
             "start_position_m"),
        ),
        *params_from(
            PoseMoveConfig, ("speed_rad_s", "tolerance_rad", "settle_s"), prefix="pose_move_"
        ),
        *params_from(ControllerConfig, ("dry_run",)),
    )  # fmt: skip


PARAMS = derive_params()


def controller_config(p: dict) -> ControllerConfig:
    """The node's own settings from its parameter values."""
    return derived_config(ControllerConfig, PARAMS, p)


def effort_guard_config(p: dict) -> EffortGuardConfig:
    """The effort guard's configuration from the node's parameter values."""
    return derived_config(EffortGuardConfig, PARAMS, p)


def pose_move_config(p: dict) -> PoseMoveConfig:
    """The start/home/sleep moves' configuration from the node's parameter values."""
    return derived_config(PoseMoveConfig, PARAMS, p)


def executor_config(p: dict) -> ExecutorConfig:
    """The executor's configuration from the node's parameter values."""
    node = controller_config(p)
    return derived_config(
        ExecutorConfig,
        PARAMS,
        p,
        {
            "period_s": 1.0 / node.control_rate_hz,
            "gripper.position_open": node.gripper_position_open,
            "gripper.position_closed": node.gripper_position_closed,
        },
    )
