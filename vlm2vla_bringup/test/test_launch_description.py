"""The launch files against the graph description: executables, parameter files, arguments."""

import importlib
import importlib.util
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import yaml

from vlm2vla_bringup.graph import GRAPHS, IncludeSpec, NodeSpec, ProcessSpec, resolve_args
from vlm2vla_bringup.runner import build, main, share_dir
from vlm2vla_policy.processes import ros_executable

LAUNCH_DIR = Path(__file__).parents[1] / "launch"
EXAMPLE_ARGS = {"replay": {"bag": "/tmp/some_bag"}}


def graph_actions(graph: str) -> list:
    arguments, make = GRAPHS[graph]
    config = str(share_dir("vlm2vla_bringup") / "config")
    return make(resolve_args(arguments, EXAMPLE_ARGS.get(graph, {})), config)


def node_params(executable: str) -> set[str]:
    """Names the node declares: the PARAMS table of its entry-point module."""
    (point,) = entry_points(group="console_scripts", name=executable)
    module = importlib.import_module(point.value.split(":")[0])
    return {p.name for p in module.PARAMS}


def nodes_of(graph: str) -> list[NodeSpec]:
    return [a for a in graph_actions(graph) if isinstance(a, NodeSpec)]


@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_every_launch_file_is_a_thin_view_of_its_graph(graph):
    source = (LAUNCH_DIR / f"{graph}.launch.py").read_text()
    assert f'generate("{graph}")' in source
    assert "Node(" not in source, "launch files must not describe nodes themselves"


@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_every_executable_exists(graph):
    for action in graph_actions(graph):
        if isinstance(action, NodeSpec):
            ros_executable(action.package, action.executable)
        elif isinstance(action, ProcessSpec):
            assert (Path(ros_executable("vlm2vla_bringup", action.cmd[0]))).exists()
        else:
            assert isinstance(action, IncludeSpec)


@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_every_parameter_file_key_and_override_is_declared_by_its_node(graph):
    for node in nodes_of(graph):
        declared = node_params(node.executable)
        for path in node.params_files:
            data = yaml.safe_load(Path(path).read_text())
            section = data.get(node.name, {}).get("ros__parameters", {})
            unknown = set(section) - declared
            assert not unknown, f"{path}: {node.name} does not declare {sorted(unknown)}"
        unknown = set(node.parameters) - declared
        assert not unknown, f"graph {graph} sets undeclared {node.name} parameters {unknown}"


def test_parameter_file_sections_name_real_nodes():
    config = share_dir("vlm2vla_bringup") / "config" / "vlm2vla.yaml"
    names = {n.name for graph in GRAPHS for n in nodes_of(graph)}
    assert set(yaml.safe_load(config.read_text())) <= names


def test_runner_builds_the_ros_args_command_lines(capsys):
    commands = dict(build("replay", {"bag": "/tmp/b", "model": "/m"}))
    policy = commands["policy_node"]
    assert policy[1:2] == ["--ros-args"]
    assert "__node:=policy_node" in policy
    assert "model:=/m" in policy
    assert "image:=/camera/image_raw" in policy
    assert "dry_run:=true" in commands["controller_node"]
    assert commands["bag_play"][:3] == ["vlm2vla-bag", "play", "/tmp/b"]
    assert main(["robot", "dry_run:=maybe"]) == 2
    assert "not one of" in capsys.readouterr().err
    assert main(["robot", "no_such_arg:=1"]) == 2


def test_the_robot_watches_a_realsense_and_the_sim_its_own_camera():
    robot = dict(build("robot", {}))["policy_node"]
    assert "image:=/camera/camera/color/image_raw" in robot, "realsense2_camera's colour stream"
    usb = dict(build("robot", {"camera_topic": "/camera/image_raw"}))["policy_node"]
    assert "image:=/camera/image_raw" in usb
    sim = dict(build("sim", {}))
    assert "image:=/camera/image_raw" in sim["policy_node"]
    assert "camera_topic:=/camera/image_raw" in sim["widowx_sim"]


@pytest.mark.skipif(
    importlib.util.find_spec("launch_ros") is None, reason="launch_ros is not installed here"
)
@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_launch_files_load_where_launch_is_installed(graph):
    spec = importlib.util.spec_from_file_location(graph, LAUNCH_DIR / f"{graph}.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    declared = {a.name for a in description.get_launch_arguments()}
    assert declared == {a.name for a in GRAPHS[graph][0]}
