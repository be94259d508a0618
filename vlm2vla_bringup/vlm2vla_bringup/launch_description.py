"""Turn a graph of ``vlm2vla_bringup.graph`` into a ``launch`` description (real ROS installs).

Only the ``launch/*.launch.py`` files import this module; it needs ``launch`` and ``launch_ros``.
"""

from pathlib import Path

import yaml
from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from launch import LaunchContext, LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    ExecuteProcess,
    IncludeLaunchDescription,
    LogInfo,
    OpaqueFunction,
)
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from vlm2vla_bringup.graph import GRAPHS, Action, IncludeSpec, NodeSpec


def _to_launch(action: Action):
    if isinstance(action, NodeSpec):
        overrides = action.parameters.items()
        return Node(
            package=action.package,
            executable=action.executable,
            name=action.name,
            namespace=action.namespace,
            # `-p name:=value` semantics: values are YAML (true -> bool, 5.0 -> float).
            parameters=[*action.params_files, {k: yaml.safe_load(v) for k, v in overrides}],
            remappings=list(action.remappings.items()),
            arguments=["--ros-args", "--log-level", action.log_level],
            output="screen",
        )
    if isinstance(action, IncludeSpec):
        try:
            share = Path(get_package_share_directory(action.package))
        except PackageNotFoundError:
            return LogInfo(msg=f"{action.package} is not installed: start the driver yourself")
        return IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(share / "launch" / action.launch_file)),
            launch_arguments=action.arguments.items(),
        )
    return ExecuteProcess(cmd=list(action.cmd), name=action.name, output="screen")


def generate(graph: str) -> LaunchDescription:
    """The launch description of ``graph`` (``robot``, ``sim`` or ``replay``)."""
    arguments, make = GRAPHS[graph]
    config = str(Path(get_package_share_directory("vlm2vla_bringup")) / "config")

    def expand(context: LaunchContext) -> list:
        values = {a.name: LaunchConfiguration(a.name).perform(context) for a in arguments}
        return [_to_launch(action) for action in make(values, config)]

    declared = [
        DeclareLaunchArgument(
            a.name,
            default_value=a.default,
            description=a.description,
            choices=list(a.choices) or None,
        )
        for a in arguments
    ]
    return LaunchDescription([*declared, OpaqueFunction(function=expand)])
