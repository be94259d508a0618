"""widowx_sim's parameters and their translation into the simulator's configuration.

ROS-free (the table is read by the docs and launch checks without a node). The camera image size
comes from :class:`~vlm2vla_sim.env.SimConfig`, the gripper mode from
:class:`~vlm2vla_sim.driver.DriverConfig`, the node's own settings from :class:`SimNodeConfig`.
"""

from dataclasses import dataclass

from vlm2vla_policy.nodes.params import Param, derived_config, params_from
from vlm2vla_policy.settings import setting, validate
from vlm2vla_sim.driver import DriverConfig
from vlm2vla_sim.env import SimConfig
from vlm2vla_sim.tasks import parse_task


def _task(value: str) -> str | None:
    try:
        parse_task(value)
    except ValueError as err:
        return str(err)
    return None


@dataclass(frozen=True)
class SimNodeConfig:
    """widowx_sim's own settings: its interface, timing and scene."""

    robot_name: str = setting(
        "wx250s", "namespace of the driver interface (the Interbotix robot_name)"
    )
    seed: int = setting(0, "seed of the scene: object colours and poses; same seed, same scene")
    task: str = setting(
        "put the carrot on the plate", "instruction ~/task_state judges", check=_task
    )
    camera_topic: str = setting(
        "camera/image_raw",
        "topic of the camera's sensor_msgs/Image (rgb8), in the node's namespace",
    )
    camera_frame_id: str = setting("camera", "frame_id of the camera images")
    render_hz: float = setting(5.0, "camera frames per second; 0 renders none", unit="Hz", low=0.0)
    joint_state_hz: float = setting(50.0, "joint_states rate (hardware: 100)", unit="Hz", above=0.0)
    physics_hz: float = setting(
        100.0, "how often physics catches up with the wall clock", unit="Hz", above=0.0
    )
    real_time_factor: float = setting(1.0, "simulated seconds per wall-clock second", above=0.0)
    task_state_hz: float = setting(2.0, "~/task_state rate", unit="Hz", above=0.0)

    def __post_init__(self) -> None:
        validate(self)


PARAMS: tuple[Param, ...] = (
    *params_from(SimNodeConfig, ("robot_name", "seed", "task", "camera_topic", "camera_frame_id",
                                 "render_hz")),
    *params_from(SimConfig, ("camera.width", "camera.height"),
                 rename={"camera.width": "image_width", "camera.height": "image_height"}),
    *params_from(SimNodeConfig, ("joint_state_hz", "physics_hz", "real_time_factor",
                                 "task_state_hz")),
    *params_from(DriverConfig, ("gripper_mode",)),
)  # fmt: skip


def sim_config(p: dict) -> SimConfig:
    """The simulator's configuration from the node's parameter values."""
    return derived_config(SimConfig, PARAMS, p)


def driver_config(p: dict) -> DriverConfig:
    """The driver interface's configuration from the node's parameter values."""
    return derived_config(DriverConfig, PARAMS, p)
