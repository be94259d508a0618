"""One declarative description of each graph the stack launches (robot, sim, replay).

The launch files (``launch/*.launch.py``) are thin over this: they declare ``ARGUMENTS`` as
launch arguments and turn the ``NodeSpec``/``ProcessSpec`` list into ``launch_ros`` actions.
``vlm2vla_bringup.runner`` (``vlm2vla-launch``) starts the same list as processes, with the
``--ros-args`` command lines launch_ros would build, where ``ros2 launch`` is not installed.
"""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from vlm2vla_policy.nodes.controller_config import PARAMS as CONTROLLER_PARAMS
from vlm2vla_policy.nodes.params import Param
from vlm2vla_sim.nodes.sim_config import PARAMS as SIM_PARAMS


@dataclass(frozen=True)
class LaunchArg:
    """A launch argument: ``name:=value`` on the command line."""

    name: str
    default: str
    description: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeSpec:
    """A ROS node process, as ``launch_ros.actions.Node`` describes it."""

    package: str
    executable: str
    name: str
    namespace: str = ""
    params_files: tuple[str, ...] = ()  # parameter YAML files, applied in order
    parameters: dict[str, str] = field(default_factory=dict)  # then these (name -> YAML value)
    remappings: dict[str, str] = field(default_factory=dict)  # topic remaps, from -> to
    log_level: str = "info"


@dataclass(frozen=True)
class ProcessSpec:
    """A plain process (e.g. the bag player), started as ``ExecuteProcess`` would."""

    name: str
    cmd: tuple[str, ...]


@dataclass(frozen=True)
class IncludeSpec:
    """Another package's launch file, included only where that package is installed."""

    package: str
    launch_file: str
    arguments: dict[str, str] = field(default_factory=dict)


Action = NodeSpec | ProcessSpec | IncludeSpec


def _param(params: Sequence[Param], name: str) -> Param:
    """The row of node parameter ``name`` in a node's table."""
    return next(p for p in params if p.name == name)


DEFAULT_PARAMS = "vlm2vla.yaml"  # in share/vlm2vla_bringup/config
# The colour stream of the realsense2_camera ROS 2 driver (rs_launch.py: namespace camera, node
# camera): the real robot's default camera. Relative, like every default topic: under the launch's
# namespace (/camera/camera/color/image_raw without one).
REALSENSE_COLOR_TOPIC = "camera/camera/color/image_raw"
# Where the simulator publishes (widowx_sim's camera_topic, relative) and, in the root namespace,
# where the sample bags record the camera (/camera/image_raw).
SIM_CAMERA_TOPIC = str(_param(SIM_PARAMS, "camera_topic").default)


def _param_arg(params: Sequence[Param], name: str, description: str = "") -> LaunchArg:
    """The launch argument that sets node parameter ``name``: its default from the node's table."""
    row = _param(params, name)
    if isinstance(row.default, bool):
        return LaunchArg(name, str(row.default).lower(), description or row.description,
                         ("true", "false"))  # fmt: skip
    return LaunchArg(name, str(row.default), description or row.description)


NAMESPACE_ARG = LaunchArg(
    "namespace",
    "",
    "ROS namespace of every node, e.g. arm1: /arm1/vlm2vla/status, "
    "/arm1/<robot_name>/joint_states; empty = the root (/vlm2vla/status)",
)
_NAME_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def ros_namespace(value: str) -> str:
    """The absolute node namespace of launch argument ``namespace``: ``""`` (root) or ``/a/b``.

    ``arm1``, ``/arm1`` and ``/arm1/`` are the same; a token that is no ROS name is an error.
    """
    tokens = [t for t in value.split("/") if t]
    bad = [t for t in tokens if not _NAME_TOKEN.fullmatch(t)]
    if bad:
        raise ValueError(f"namespace:={value} has tokens that are no ROS names: {bad}")
    return "".join(f"/{t}" for t in tokens)


def _camera_arg(default: str, source: str) -> LaunchArg:
    description = f"sensor_msgs/Image topic the policy watches: {source}"
    return LaunchArg("camera_topic", default, description)


COMMON_ARGS = (
    _param_arg(CONTROLLER_PARAMS, "robot_name"),
    LaunchArg("params_file", "", "parameter YAML; empty = the packaged config/vlm2vla.yaml"),
    LaunchArg("model", "", "Gemma-3 checkpoint (local dir or HF id); empty = the YAML's"),
    LaunchArg("adapter", "", "LoRA adapter directory; empty = the YAML's"),
    LaunchArg("verifier", "", "who verifies subtasks (onboard, adapter, remote, none); empty = the "
              "YAML's"),
    _param_arg(CONTROLLER_PARAMS, "dry_run", "compute and publish targets, send no driver command"),
    LaunchArg("debug_image", "", "true: policy_node publishes ~/debug_image, the camera frame "
              "annotated with subtask, plan, chunk path and verdict; empty = the YAML's"),
    LaunchArg("log_level", "info", "log level of the stack's nodes",
              ("debug", "info", "warn", "error")),
)  # fmt: skip

ROBOT_ARGS = (
    *COMMON_ARGS,
    NAMESPACE_ARG,
    _camera_arg(REALSENSE_COLOR_TOPIC, "by default a RealSense's colour stream "
                "(realsense2_camera); camera/image_raw for a USB camera under usb_cam; relative "
                "names are in the namespace"),
    LaunchArg("robot_model", "wx250s", "Interbotix robot model"),
    LaunchArg("use_sim", "false", "run the Interbotix simulator (xs_sdk_sim) instead of hardware",
              ("true", "false")),
    LaunchArg("start_driver", "true", "include interbotix_xsarm_control when it is installed",
              ("true", "false")),
    LaunchArg("use_rviz", "false", "let the Interbotix launch start RViz (needs a display)",
              ("true", "false")),
)  # fmt: skip

SIM_ARGS = (
    *COMMON_ARGS,
    NAMESPACE_ARG,
    _camera_arg(SIM_CAMERA_TOPIC, "the simulator publishes its camera there"),
    _param_arg(SIM_PARAMS, "seed"),
    _param_arg(SIM_PARAMS, "render_hz"),
)

REPLAY_ARGS = (
    *COMMON_ARGS,
    _camera_arg(SIM_CAMERA_TOPIC, "the bag's camera topic"),
    LaunchArg("bag", "", "bag directory or .mcap file to replay (camera + instruction)"),
    LaunchArg("rate", "1.0", "playback speed factor"),
    LaunchArg("loop", "true", "replay the bag in a loop", ("true", "false")),
)


def _params_files(args: dict[str, str], share_config: str) -> tuple[str, ...]:
    return (args["params_file"] or f"{share_config}/{DEFAULT_PARAMS}",)


def _overrides(args: dict[str, str], names: tuple[str, ...]) -> dict[str, str]:
    return {name: args[name] for name in names if args.get(name)}


def stack_nodes(
    args: dict[str, str], share_config: str, controller_dry_run: bool = False
) -> list[NodeSpec]:
    """The policy and controller nodes, configured from ``args``.

    ``controller_dry_run`` forces the controller to send no driver command (it then integrates
    its own commands when no driver publishes joint states), whatever ``dry_run`` says. Both
    run in the ``namespace`` argument's namespace (the root for graphs without one).
    """
    files = _params_files(args, share_config)
    namespace = ros_namespace(args.get("namespace", ""))
    policy = NodeSpec(
        package="vlm2vla_policy",
        executable="policy_node",
        name="policy_node",
        namespace=namespace,
        params_files=files,
        parameters=_overrides(args, ("model", "adapter", "verifier", "dry_run", "debug_image")),
        remappings={
            "image": args["camera_topic"],
            "image/compressed": args["camera_topic"] + "/compressed",
        },
        log_level=args["log_level"],
    )
    controller = NodeSpec(
        package="vlm2vla_policy",
        executable="controller_node",
        name="controller_node",
        namespace=namespace,
        params_files=files,
        parameters={
            "robot_name": args["robot_name"],
            **({"dry_run": "true"} if controller_dry_run else _overrides(args, ("dry_run",))),
        },
        log_level=args["log_level"],
    )
    return [policy, controller]


def robot_graph(args: dict[str, str], share_config: str) -> list[Action]:
    """The real robot: the Interbotix driver (when installed), policy and controller.

    The driver's robot_name is put under the namespace (``arm1/wx250s``): xsarm_control uses it
    as the namespace of xs_sdk, so the driver serves /arm1/wx250s/..., where the controller looks.
    """
    namespace = ros_namespace(args["namespace"])
    driver = IncludeSpec(
        package="interbotix_xsarm_control",
        launch_file="xsarm_control.launch.py",
        arguments={
            "robot_model": args["robot_model"],
            "robot_name": f"{namespace}/{args['robot_name']}".lstrip("/"),
            "use_sim": args["use_sim"],
            "use_rviz": args["use_rviz"],
        },
    )
    actions: list[Action] = [driver] if args["start_driver"] == "true" else []
    return actions + stack_nodes(args, share_config)


def sim_graph(args: dict[str, str], share_config: str) -> list[Action]:
    """The MuJoCo tabletop in place of the driver and camera, with policy and controller."""
    sim = NodeSpec(
        package="vlm2vla_sim",
        executable="widowx_sim",
        name="widowx_sim",
        namespace=ros_namespace(args["namespace"]),
        params_files=_params_files(args, share_config),
        parameters={"robot_name": args["robot_name"], "seed": args["seed"],
                    "render_hz": args["render_hz"], "camera_topic": args["camera_topic"]},
        log_level=args["log_level"],
    )  # fmt: skip
    policy, controller = stack_nodes(args, share_config)
    # On a small CPU the model's inference must leave a core to the physics, and the simulator's
    # joint states may then lag the wall clock by more than a real driver's would.
    policy.parameters.setdefault("cpu_threads", "1")
    controller.parameters.setdefault("joint_state_timeout_s", "2.0")
    return [sim, policy, controller]


def replay_graph(args: dict[str, str], share_config: str) -> list[Action]:
    """A bag as camera and instruction source; the controller in dry-run (no driver commands).

    The policy sends its chunks to the controller as usual; the controller computes targets and
    markers on a virtual arm and commands nothing.
    """
    if not args["bag"]:
        raise ValueError("replay needs bag:=PATH (a bag directory or .mcap file)")
    play = ["vlm2vla-bag", "play", args["bag"], "--rate", args["rate"], "--delay", "2"]
    play += ["--loop"] if args["loop"] == "true" else []
    policy, controller = stack_nodes(args, share_config, controller_dry_run=True)
    # The bag's instruction is the input by design, even if played before the policy started.
    policy.parameters.setdefault("act_on_earlier_instruction", "true")
    return [policy, controller, ProcessSpec("bag_play", tuple(play))]


GRAPHS: dict[str, tuple[tuple[LaunchArg, ...], Callable[[dict[str, str], str], list[Action]]]] = {
    "robot": (ROBOT_ARGS, robot_graph),
    "sim": (SIM_ARGS, sim_graph),
    "replay": (REPLAY_ARGS, replay_graph),
}


def resolve_args(arguments: tuple[LaunchArg, ...], given: dict[str, str]) -> dict[str, str]:
    """Defaults overlaid with ``given``; unknown names and values outside ``choices`` are errors."""
    known = {a.name: a for a in arguments}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValueError(f"unknown launch arguments {unknown}; known: {sorted(known)}")
    resolved = {a.name: a.default for a in arguments} | given
    for name, value in resolved.items():
        choices = known[name].choices
        if choices and value not in choices:
            raise ValueError(f"{name}:={value} is not one of {list(choices)}")
    return resolved
